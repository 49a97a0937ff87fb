"""The value shapes a dataset hands out (work items, comments, attachments,
classification nodes) and ADO's timestamp form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.people import Person

EPOCH = datetime(2023, 1, 2, 9, 0, tzinfo=UTC)
DATASET_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # generated dates stay before this


def iso(moment: datetime) -> str:
    """ADO's timestamp form: UTC, milliseconds only when non-zero, trailing Z."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}".rstrip("0")
    return text + "Z"


@dataclass(frozen=True)
class Node:
    id: int
    identifier: str
    name: str
    path: str  # "Project\\Web\\Checkout" (no structure segment), as in System.AreaPath
    structure: str  # area | iteration
    parent: int | None
    start: str | None = None
    finish: str | None = None


@dataclass(frozen=True)
class AttachmentInfo:
    guid: str
    name: str
    size: int
    item_id: int
    created: str
    comment: str = ""
    inline: bool = False  # an image pasted into rich text, not in the attachments tab
    kind: int = 0
    index: int = 0


@dataclass(frozen=True)
class CommentRecord:
    id: int
    work_item_id: int
    text: str
    author: Person
    created: str
    modified: str
    version: int = 1
    is_deleted: bool = False
    format: str = "html"
    mentions: tuple[Person, ...] = ()


@dataclass
class ItemRecord:
    """One work item as the dataset defines it (the server adds rev history on top)."""

    id: int
    type: str
    fields: dict[str, Any]
    links: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # rel, target, attrs
    hyperlinks: list[tuple[str, str]] = field(default_factory=list)  # url, comment
    attachments: list[AttachmentInfo] = field(default_factory=list)
    # relations rendered as they are: artifact links, links to another organisation
    other_relations: list[dict[str, Any]] = field(default_factory=list)
