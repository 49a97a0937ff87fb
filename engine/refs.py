"""Work item references and ADO URLs found in rich text.

This module works on plain text and on single URLs, never on HTML: the HTML
converter (``engine.adf``) hands it the decoded text of each text run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from engine.netpolicy import Origin

# "#1234" not glued to a word, an entity remnant or a URL fragment; bare http(s) URLs.
_REF_RE = re.compile(
    r"(?P<url>\bhttps?://[^\s<>\"']+)|(?<![\w&#/])#(?P<num>\d{1,9})\b",
    re.IGNORECASE,
)
# Punctuation that ends a sentence rather than a URL ("see https://x/1.").
_URL_TAIL = ".,;:!?)]}'\""
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp"})
_ATTACHMENTS = ("_apis", "wit", "attachments")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Segment:
    """A run of text; ``key`` is set when it stands for a migrated work item."""

    text: str
    key: str | None = None
    href: str | None = None


def safe_href(href: str) -> str | None:
    """The href when its scheme is one we let through to Jira, else None.

    Browsers ignore ASCII whitespace and control characters inside a scheme
    ("java\\nscript:"), so they are removed before the scheme is read.
    """
    cleaned = _CONTROL_OR_SPACE.sub("", href.strip())
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return None
    return href.strip() if scheme in SAFE_SCHEMES else None


def _segments(url: str) -> list[str]:
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return []
    return [unquote(part).lower() for part in path.split("/") if part]


def work_item_id_from_url(url: str) -> int | None:
    """The id in …/_workitems/edit/1234 or …/_apis/wit/workItems/1234, else None."""
    parts = _segments(url)
    for i, part in enumerate(parts):
        tail = parts[i + 1 : i + 3]
        if part == "_workitems" and len(tail) == 2 and tail[0] == "edit" and tail[1].isdigit():
            return int(tail[1])
        api = part == "wit" and i > 0 and parts[i - 1] == "_apis"
        if api and len(tail) == 2 and tail[0] == "workitems" and tail[1].isdigit():
            return int(tail[1])
    return None


def attachment_guid(url: str) -> str | None:
    """The lower-case GUID of an ADO attachment URL (…/_apis/wit/attachments/{guid}), else None."""
    parts = _segments(url)
    for i in range(len(parts) - 3):
        if tuple(parts[i : i + 3]) == _ATTACHMENTS:
            try:
                return str(uuid.UUID(parts[i + 3].strip("{}")))
            except ValueError:
                return None
    return None


def attachment_file_name(url: str) -> str | None:
    """The fileName query parameter ADO puts on attachment URLs, when present."""
    try:
        query = parse_qs(urlsplit(url.strip()).query)
    except ValueError:
        return None
    for key, values in query.items():
        if key.lower() == "filename" and values and values[0].strip():
            return values[0].strip()
    return None


def _url_segment(url: str, resolve: Callable[[int], str | None], linkify: bool) -> list[Segment]:
    body = url.rstrip(_URL_TAIL)
    rest = [Segment(url[len(body) :])] if len(body) < len(url) else []
    item_id = work_item_id_from_url(body)
    key = resolve(item_id) if item_id is not None else None
    if key:
        return [Segment(key, key=key), *rest]
    if linkify and safe_href(body):
        return [Segment(body, href=body), *rest]
    return [Segment(url)]


def split_refs(
    text: str, resolve: Callable[[int], str | None], *, linkify: bool = False
) -> list[Segment]:
    """Split text into plain runs and references to migrated items.

    "#1234" and ADO work item URLs whose id ``resolve`` maps become the Jira key;
    unknown ids stay as written. With ``linkify`` other bare URLs become links.
    """
    out: list[Segment] = []
    pos = 0
    for match in _REF_RE.finditer(text):
        if match.start() > pos:
            out.append(Segment(text[pos : match.start()]))
        if match.group("url"):
            out.extend(_url_segment(match.group("url"), resolve, linkify))
        else:
            key = resolve(int(match.group("num")))
            out.append(Segment(key, key=key) if key else Segment(match.group(0)))
        pos = match.end()
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return [seg for seg in out if seg.text]


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` is on the origin of ``base`` (scheme, host and port)."""
    try:
        return Origin.of(base).contains(url)
    except ValueError:
        return False
