"""A generated project's attachments and pasted images: which items have which
files, GUIDs that encode their owner (so a GUID needs no lookup table), and their
bytes, produced chunk by chunk so the oversized file is never held in memory.
"""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sandbox.dataset_records import AttachmentInfo
from sandbox.dataset_words import FILE_NAMES, WORDS

if TYPE_CHECKING:
    from sandbox.dataset import Dataset

CHUNK = 64 * 1024
BIG_FILE_SIZE = 11 * 1024 * 1024  # above Jira's default 10 MiB upload limit
# Attachment kinds encoded in the GUID.
_KIND_FILE, _KIND_INLINE = 1, 2


class AttachmentFiles:
    """The attachments of one dataset (checksums are cached once computed)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        prefix = f"att:{dataset.seed}:{dataset.org}".encode()
        self._guid_prefix = int(hashlib.sha256(prefix).hexdigest()[:12], 16)
        self._checksums: dict[str, str] = {}

    def attachments_of(self, ident: int) -> list[AttachmentInfo]:
        rng = self.dataset.item_rng(ident, 3)
        r = self.dataset.roles
        specs: list[tuple[str, int]] = []
        if rng.random() < 0.2:
            for _ in range(rng.choice((1, 1, 2))):
                specs.append((rng.choice(FILE_NAMES), rng.randint(100, 40_000)))
        if ident == r.get("task"):
            specs.append(("empty.txt", 0))
        if ident == r.get("story"):
            specs += [("screenshot.png", 2_345), ("screenshot.png", 5_432)]  # same name twice
        if ident == r.get("feature"):
            specs.append(("database-dump.bak", BIG_FILE_SIZE))
        created = self.dataset.created_date(ident)
        return [
            AttachmentInfo(
                self._guid(_KIND_FILE, ident, i),
                name,
                size,
                ident,
                created,
                "Attached by the reporter" if i == 0 else "",
                False,
                _KIND_FILE,
                i,
            )
            for i, (name, size) in enumerate(specs)
        ]

    def inline_images(self, ident: int) -> list[AttachmentInfo]:
        rng = self.dataset.item_rng(ident, 4)
        showcase = ident in (self.dataset.roles.get("story"), self.dataset.roles.get("bug"))
        if not (showcase or rng.random() < 0.25):
            return []
        name = "image.png" if rng.random() < 0.5 else f"pasted-{ident}.png"
        guid = self._guid(_KIND_INLINE, ident, 0)
        return [
            AttachmentInfo(
                guid,
                name,
                len(_png(guid)),
                ident,
                self.dataset.created_date(ident),
                inline=True,
                kind=_KIND_INLINE,
            )
        ]

    def _guid(self, kind: int, ident: int, index: int) -> str:
        """A version-4-looking UUID whose low bits say which item and slot it belongs to."""
        high = (self._guid_prefix << 16) | (0x4 << 12) | ((ident * 2654435761) & 0xFFF)
        low = (0b10 << 62) | (kind << 56) | (ident << 16) | index
        return str(uuid.UUID(int=(high << 64) | low))

    def attachment_info(self, guid: str) -> AttachmentInfo | None:
        try:
            value = uuid.UUID(guid).int
        except ValueError:
            return None
        high, low = value >> 64, value & ((1 << 64) - 1)
        kind, ident = (low >> 56) & 0x3F, (low >> 16) & 0xFFFFFFFF
        if high >> 16 != self._guid_prefix or not 1 <= ident <= self.dataset.count:
            return None
        pool = self.inline_images(ident) if kind == _KIND_INLINE else self.attachments_of(ident)
        return next((a for a in pool if a.guid == str(uuid.UUID(int=value))), None)

    def attachment(self, guid: str) -> tuple[str, int, Iterator[bytes]]:
        """``(name, size, chunks)``; the chunks are generated as they are read."""
        info = self.attachment_info(guid)
        if info is None:
            raise KeyError(guid)
        return info.name, info.size, self._chunks(info)

    def _chunks(self, info: AttachmentInfo) -> Iterator[bytes]:
        if info.kind == _KIND_INLINE:
            yield _png(info.guid)
            return
        for offset in range(0, info.size, CHUNK):
            size = min(CHUNK, info.size - offset)
            gen = random.Random(f"{info.guid}:{offset}")
            if info.name.endswith((".txt", ".log", ".csv")):
                line = f"{info.name} line {offset} {gen.choice(WORDS)}\n".encode()
                yield (line * (size // len(line) + 1))[:size]
            else:
                yield gen.randbytes(size)

    def checksum(self, guid: str) -> str:
        """sha256 hex of an attachment's bytes (computed by streaming, then cached)."""
        if guid not in self._checksums:
            digest = hashlib.sha256()
            for chunk in self.attachment(guid)[2]:
                digest.update(chunk)
            self._checksums[guid] = digest.hexdigest()
        return self._checksums[guid]


def _png(guid: str) -> bytes:
    """A real 8x8 single-colour PNG, its colour taken from the GUID."""
    r, g, b = bytes.fromhex(guid.replace("-", "")[-6:])
    raw = b"".join(b"\x00" + bytes((r, g, b)) * 8 for _ in range(8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
