"""What one ADO work item's values become in Jira, rule by rule, as plain values: one-line
text, people, dates, the summary, the priority, story points, labels and component names.

Pure functions of the values alone (``engine.content`` puts them on an issue).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.adf import clean_text
from engine.model import Identity

SUMMARY_LIMIT = 255
LABEL_LIMIT = 255
ELLIPSIS = "…"
POINTS_SOURCES = (
    "Microsoft.VSTS.Scheduling.StoryPoints",
    "Microsoft.VSTS.Scheduling.Effort",
    "Microsoft.VSTS.Scheduling.OriginalEstimate",
)


# --------------------------------------------------------------------------- small helpers
def one_line(s: str) -> str:
    return " ".join(clean_text(s).split())


def _utf16_len(s: str) -> int:
    # Jira measures strings in Java chars.
    return len(s.encode("utf-16-le")) // 2


def identity_of(value: Any) -> Identity | None:
    """An ADO identity from an IdentityRef dict, an Identity, or "Name <email>" text."""
    if isinstance(value, Identity):
        return value
    if isinstance(value, dict):
        name = str(value.get("displayName") or value.get("uniqueName") or "").strip()
        unique = value.get("uniqueName")
        return Identity(name, str(unique) if unique else None, value.get("id")) if name else None
    if isinstance(value, str) and value.strip():
        name, _, rest = value.partition("<")
        email = rest.rstrip().removesuffix(">").strip() if rest else None
        return Identity(name.strip() or (email or value.strip()), email or None)
    return None


def email_of(identity: Identity | None) -> str | None:
    unique = (identity.unique_name or "").strip().lower() if identity else ""
    return unique if "@" in unique else None


def person_label(identity: Identity) -> str:
    email = email_of(identity)
    name = one_line(identity.display_name) or email or "unknown"
    return f"{name} ({email})" if email and email != name else name


def format_date(value: Any) -> str:
    """ISO 8601 from ADO → "2019-01-21 20:12 UTC"; anything unparseable is kept as is."""
    if not isinstance(value, str) or not value.strip():
        return ""
    raw = value.strip()
    head, dot, tail = raw.partition(".")
    if dot:  # ADO sends up to 7 fraction digits; fromisoformat wants at most 6
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        raw = head + "." + digits[:6] + tail[len(digits) :]
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return one_line(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- rule: summary
def summary_text(title: str, item_id: int) -> tuple[str, bool]:
    """One line, at most 255 characters, cut on a word boundary with an ellipsis.

    Returns (summary, was_cut). An empty title gets a placeholder: Jira requires one.
    """
    line = one_line(title)
    if not line:
        return f"(untitled ADO work item {item_id})", False
    if _utf16_len(line) <= SUMMARY_LIMIT:
        return line, False
    cut = line[: SUMMARY_LIMIT - 1]
    while _utf16_len(cut) > SUMMARY_LIMIT - 1:
        cut = cut[:-1]
    space = cut.rfind(" ")
    if space >= SUMMARY_LIMIT // 2:  # a word boundary not too far back
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS, True


# --------------------------------------------------------------------------- rule: priority
def priority_name(value: Any, priorities: list[str]) -> str | None:
    """ADO priority 1–4 → the Jira priority at the same position (1 = highest)."""
    digits = ""
    for ch in str(value if value is not None else "").strip():
        if not ch.isdigit():
            break
        digits += ch
    if not digits or not priorities or not 1 <= int(digits) <= 4:
        return None
    return priorities[min(int(digits), len(priorities)) - 1]


# --------------------------------------------------------------------------- rule: points
def story_points(fields: Mapping[str, Any]) -> tuple[float | int, str] | None:
    """StoryPoints, else Effort, else OriginalEstimate: (value, source field)."""
    for name in POINTS_SOURCES:
        value = fields.get(name)
        if value is None or value == "" or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        return (int(number) if number.is_integer() else number), name
    return None


# --------------------------------------------------------------------------- rule: labels
def label_of(raw: str) -> str:
    """A Jira label: no whitespace (runs become "-"), case kept, at most 255 characters."""
    return "-".join(clean_text(raw).split())[:LABEL_LIMIT]


def tag_labels(tags: Any) -> list[str]:
    """System.Tags "a; b c" → ["a", "b-c"], deduplicated in order."""
    if not isinstance(tags, str):
        return []
    labels = [label_of(tag) for tag in tags.split(";")]
    return list(dict.fromkeys(label for label in labels if label))


def migration_label(item_id: int) -> str:
    """The exactly-once marker label the pipeline also searches for."""
    return f"ado-{item_id}"


def area_label(area_path: str) -> str | None:
    """ "Team A\\Backend" → "area-Team-A-Backend"."""
    parts = [label_of(part) for part in area_path.split("\\")]
    joined = "-".join(part for part in parts if part)
    return label_of("area-" + joined) if joined else None


def iteration_label(iteration_path: str) -> str | None:
    """ "Proj\\Release 1\\Sprint 2" → "iteration-Proj-Release-1-Sprint-2"."""
    parts = [label_of(part) for part in iteration_path.split("\\")]
    joined = "-".join(part for part in parts if part)
    return label_of("iteration-" + joined) if joined else None


def below_root(path: str) -> str:
    """The part of an area or iteration path under the project root ("" for the root)."""
    return path.split("\\", 1)[1].strip() if "\\" in path else ""


def component_name(area_path: str) -> str:
    """The component an area path becomes: its path below the project root, "/"-joined.

    "Fabrikam\\Web\\Checkout" → "Web/Checkout" (not the leaf alone: two teams may
    both have a "Backend"). Empty for the project root.
    """
    return "/".join(one_line(p) for p in below_root(area_path).split("\\") if one_line(p))[:255]
