"""Acceptance criteria: into a Jira field of that name, or kept whole in the description.

When the issue type's create screen has a field named "Acceptance criteria"
(case and spacing ignored), the criteria go there: ADF for a paragraph field,
one line of text for a single-line one. Otherwise they are appended to the
description, *outside* the part that may be cut: :func:`description_with_criteria`
passes them to :func:`engine.content.fit_to_limit` as part of the tail, which is
never cut, so the 32,767-character cut takes the body first. The criteria
themselves are capped at ``CRITERIA_SHARE`` of the budget (a note says where the
full text is), so a huge criteria field cannot crowd out everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.adf import ConvertContext, html_to_blocks
from engine.adf_nodes import Node, adf_to_text, doc, heading, panel, paragraph
from engine.content import DESCRIPTION_BUDGET, fit_to_limit
from engine.fieldtypes import from_meta
from engine.model import FieldMeta

CRITERIA_TITLE = "Acceptance criteria"
CRITERIA_SHARE = 0.5  # of the description budget, at most
STRING_LIMIT = 255


@dataclass(frozen=True)
class CriteriaPlacement:
    field_id: str | None  # the Jira field the criteria fill, if the screen has one
    value: Any = None  # that field's value
    blocks: list[Node] = field(default_factory=list)  # else: blocks for the description's tail
    cut: bool = False  # the criteria were longer than their share
    full_text: str = ""  # plain text of the criteria, for an overflow file when cut


def _fold(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


def criteria_field(screen: Sequence[FieldMeta]) -> FieldMeta | None:
    """The create-screen field named "Acceptance criteria", if any."""
    return next((m for m in screen if _fold(m.name) == _fold(CRITERIA_TITLE)), None)


def _cut_note() -> Node:
    return panel([paragraph("The acceptance criteria were too long and were cut here.")], "warning")


def place_criteria(
    html: str,
    screen: Sequence[FieldMeta],
    conv: ConvertContext | None = None,
    budget: int = DESCRIPTION_BUDGET,
) -> CriteriaPlacement | None:
    """Where one item's acceptance criteria go; None when it has none."""
    blocks = html_to_blocks(html or "", ctx=conv)
    if not blocks:
        return None
    text = adf_to_text(doc(*blocks))
    meta = criteria_field(screen)
    if meta is not None:
        kind = from_meta(meta).kind
        if kind == "doc":
            document, cut = fit_to_limit(blocks, [], _cut_note(), budget)
            return CriteriaPlacement(
                meta.field_id, document, cut=cut, full_text=text if cut else ""
            )
        if kind == "string":
            line = " ".join(text.split())
            cut = len(line) > STRING_LIMIT
            shown = line[: STRING_LIMIT - 1] + "…" if cut else line
            return CriteriaPlacement(meta.field_id, shown, cut=cut, full_text=text if cut else "")
    section = [heading(CRITERIA_TITLE, 3), *blocks]
    share = int(budget * CRITERIA_SHARE)
    fitted, cut = fit_to_limit(section, [], _cut_note(), share)
    return CriteriaPlacement(None, None, list(fitted["content"]), cut, text if cut else "")


def description_with_criteria(
    body: list[Node],
    criteria: CriteriaPlacement | None,
    tail: list[Node],
    note: Node,
    budget: int = DESCRIPTION_BUDGET,
) -> tuple[Node, bool]:
    """The description: body (cut first when needed) + criteria + tail (the migration panel).

    The criteria sit in the part :func:`fit_to_limit` never cuts, so they survive.
    """
    kept = criteria.blocks if criteria is not None and criteria.field_id is None else []
    return fit_to_limit(body, [*kept, *tail], note, budget)
