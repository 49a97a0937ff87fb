"""Test case steps and parameters (``Microsoft.VSTS.TCM.*``) to ADF tables.

``Microsoft.VSTS.TCM.Steps`` is XML whose step texts are HTML escaped inside
``parameterizedString`` elements (the first is the action, the second the
expected result). ``compref`` elements stand for shared steps (``ref`` is the
Shared Steps work item id): they become a "Shared steps #id" row, followed by
that item's own steps when the caller supplies them (numbered 3.1, 3.2…).
``Microsoft.VSTS.TCM.Parameters`` names the parameters and
``Microsoft.VSTS.TCM.LocalDataSource`` (a .NET DataSet: a schema element, then
one element per row) holds their values; a JSON data source refers to a shared
parameter set and is reported, not expanded.

The input is hostile until proven otherwise: text over ``XML_LIMIT`` is refused,
any DOCTYPE or entity declaration is refused before parsing (no entity
expansion at all), nesting and row counts are bounded, and every failure is a
:class:`StepsProblem` with a code, never an exception.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

from engine.adf import clean_text, html_to_blocks
from engine.adf_nodes import Node, adf_to_text, fit_blocks, heading, paragraph, strong, text

XML_LIMIT = 1_000_000  # characters; a real test case's steps are far below this
MAX_STEPS = 2_000
MAX_ROWS = 1_000
MAX_DEPTH = 8  # shared steps inside shared steps
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_CELL = frozenset(
    {
        "paragraph",
        "bulletList",
        "orderedList",
        "codeBlock",
        "heading",
        "rule",
        "panel",
        "blockquote",
    }
)

StepKind = Literal["action", "validate", "shared"]


@dataclass(frozen=True)
class StepsProblem:
    code: str  # too-large | declaration | malformed | not-steps | too-many | shared-param-set
    message: str


@dataclass(frozen=True)
class Step:
    number: str  # "3" or "3.1" for a step of shared steps
    kind: StepKind
    action_html: str
    expected_html: str
    shared_id: int | None = None  # for a shared-steps row


@dataclass
class ParsedSteps:
    steps: list[Step] = field(default_factory=list)
    shared_ids: list[int] = field(default_factory=list)  # shared steps referenced, in order
    problems: list[StepsProblem] = field(default_factory=list)


@dataclass
class Parameters:
    names: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    problems: list[StepsProblem] = field(default_factory=list)


def _safe_root(raw: object) -> tuple[ET.Element | None, StepsProblem | None]:
    """The parsed root of untrusted XML, or the reason it was refused."""
    if not isinstance(raw, str) or not raw.strip():
        return None, None
    if len(raw) > XML_LIMIT:
        return None, StepsProblem("too-large", f"XML of {len(raw):,} characters refused")
    if _DECLARATION.search(raw):
        return None, StepsProblem("declaration", "XML with a DOCTYPE or entity declaration refused")
    try:
        return ET.fromstring(raw), None
    except ET.ParseError as exc:
        return None, StepsProblem("malformed", f"XML could not be parsed: {exc}")
    except (ValueError, RecursionError) as exc:
        return None, StepsProblem("malformed", f"XML could not be parsed: {type(exc).__name__}")


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def _step_html(el: ET.Element) -> str:
    """A parameterizedString as HTML: plain-text ones (isformatted="false") keep their lines."""
    raw = "".join(el.itertext())
    if (el.get("isformatted") or "true").strip().lower() == "false":
        return escape(raw).replace("\n", "<br>")
    return raw


def _strings(step: ET.Element) -> tuple[str, str]:
    texts = [_step_html(p) for p in step if _local(p.tag) == "parameterizedstring"]
    texts += ["", ""]
    return texts[0], texts[1]


def _ref_id(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


class _SharedSource:
    """Shared steps' XML by item id, each parsed once however often it is referenced."""

    def __init__(self, xml: Mapping[int, str]) -> None:
        self.xml = xml
        self._roots: dict[int, tuple[ET.Element | None, StepsProblem | None]] = {}

    def root(self, ref: int) -> tuple[ET.Element | None, StepsProblem | None]:
        if ref not in self._roots:
            self._roots[ref] = _safe_root(self.xml[ref])
        return self._roots[ref]


class _StepWalker:
    def __init__(self, shared: _SharedSource, out: ParsedSteps, count: int = 0) -> None:
        self.shared = shared
        self.out = out
        self.count = count  # steps so far across every level: expansion is bounded in total

    def walk(self, parent: ET.Element, prefix: str, depth: int, seen: frozenset[int]) -> None:
        number = 0
        for child in parent:
            if self.count >= MAX_STEPS:
                if self.count == MAX_STEPS:
                    self.out.problems.append(StepsProblem("too-many", f"over {MAX_STEPS} steps"))
                self.count += 1  # the outer levels stop too, without saying it again
                return
            tag = _local(child.tag)
            if tag not in ("step", "compref"):
                continue
            number += 1
            self.count += 1
            label = f"{prefix}{number}"
            if tag == "step":
                action, expected = _strings(child)
                kind: StepKind = (
                    "validate" if "validate" in child.get("type", "").lower() else "action"
                )
                self.out.steps.append(Step(label, kind, action, expected))
            else:
                self._shared(child, label, depth, seen)

    def _shared(self, el: ET.Element, label: str, depth: int, seen: frozenset[int]) -> None:
        ref = _ref_id(el.get("ref"))
        self.out.steps.append(Step(label, "shared", "", "", ref))
        if ref is not None and ref not in self.out.shared_ids:
            self.out.shared_ids.append(ref)
        if depth >= MAX_DEPTH or (ref is not None and ref in seen):
            return  # a cycle or a runaway chain: the row itself says what was referenced
        inner = ParsedSteps()
        walker = _StepWalker(self.shared, inner, self.count)
        if ref is not None and ref in self.shared.xml:
            root, problem = self.shared.root(ref)
            if problem is not None:
                message = f"shared steps #{ref}: {problem.message}"
                self.out.problems.append(StepsProblem(problem.code, message))
            if root is not None:
                walker.walk(root, f"{label}.", depth + 1, seen | {ref or 0})
        if not inner.steps:  # steps written inside the compref itself (some exports inline them)
            walker.walk(el, f"{label}.", depth + 1, seen)
        self.count = walker.count
        self.out.steps.extend(inner.steps)
        self.out.shared_ids.extend(i for i in inner.shared_ids if i not in self.out.shared_ids)
        self.out.problems.extend(inner.problems)


def parse_steps(raw: object, shared: Mapping[int, str] | None = None) -> ParsedSteps:
    """Steps in order; ``shared`` maps a Shared Steps item id to its own Steps XML."""
    out = ParsedSteps()
    root, problem = _safe_root(raw)
    if problem is not None:
        out.problems.append(problem)
    if root is None:
        return out
    if _local(root.tag) != "steps":
        out.problems.append(StepsProblem("not-steps", f"root element is <{_local(root.tag)}>"))
        return out
    _StepWalker(_SharedSource(shared or {}), out).walk(root, "", 0, frozenset())
    return out


# --------------------------------------------------------------------------- parameters
def parse_parameters(names_xml: object, data_source: object) -> Parameters:
    """Parameter names (from Parameters) and their data rows (from LocalDataSource)."""
    out = Parameters()
    root, problem = _safe_root(names_xml)
    if problem is not None:
        out.problems.append(problem)
    if root is not None:
        for param in root.iter():
            name = (param.get("name") or "").strip() if _local(param.tag) == "param" else ""
            if name and name not in out.names:
                out.names.append(name)
    if isinstance(data_source, str) and data_source.lstrip().startswith("{"):
        out.problems.append(
            StepsProblem(
                "shared-param-set", "values come from a shared parameter set; not expanded"
            )
        )
        return out
    _read_rows(data_source, out)
    return out


def _read_rows(data_source: object, out: Parameters) -> None:
    root, problem = _safe_root(data_source)
    if problem is not None:
        out.problems.append(problem)
    if root is None:
        return
    for row in root:
        if _local(row.tag) == "schema":
            continue
        if len(out.rows) >= MAX_ROWS:
            out.problems.append(StepsProblem("too-many", f"more than {MAX_ROWS} parameter rows"))
            return
        values = {_local(c.tag): "".join(c.itertext()) for c in row}
        by_name = {n: values.get(n.lower(), "") for n in out.names}
        for key, value in values.items():
            if key not in {n.lower() for n in out.names}:
                out.names.append(key)
                by_name[key] = value
        out.rows.append(by_name)


# --------------------------------------------------------------------------- ADF
def _cell(blocks: Sequence[Node], header: bool = False) -> Node:
    content = fit_blocks(blocks, _CELL) or [paragraph()]
    return {"type": "tableHeader" if header else "tableCell", "content": content}


def _text_cell(value: str, header: bool = False) -> Node:
    shown = clean_text(value).strip()
    return _cell([paragraph(shown)] if shown else [], header)


def _html_cell(html: str) -> Node:
    return _cell(html_to_blocks(html))


def _row(cells: Sequence[Node]) -> Node:
    return {"type": "tableRow", "content": list(cells)}


def _step_row(step: Step, expanded: bool) -> Node:
    if step.kind == "shared":
        ref = f"#{step.shared_id}" if step.shared_id is not None else "(no id)"
        note = "" if expanded else " (its steps were not available)"
        action = _cell(
            [paragraph([strong(f"Shared steps {ref}"), *([text(note)] if note else [])])]
        )
        return _row([_text_cell(step.number), action, _text_cell("")])
    return _row(
        [_text_cell(step.number), _html_cell(step.action_html), _html_cell(step.expected_html)]
    )


def steps_table(parsed: ParsedSteps) -> Node | None:
    """The steps as an ADF table (#, action, expected result); None when there are none."""
    if not parsed.steps:
        return None
    header = _row([_text_cell(h, True) for h in ("#", "Action", "Expected result")])
    rows = [header]
    for index, step in enumerate(parsed.steps):
        following = parsed.steps[index + 1] if index + 1 < len(parsed.steps) else None
        expanded = following is not None and following.number.startswith(step.number + ".")
        rows.append(_step_row(step, expanded))
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": rows,
    }


def parameters_table(params: Parameters) -> Node | None:
    """Parameter names as columns and one row per data row; None without parameters."""
    if not params.names:
        return None
    rows = [_row([_text_cell(n, True) for n in params.names])]
    rows += [_row([_text_cell(r.get(n, "")) for n in params.names]) for r in params.rows]
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": rows,
    }


def case_blocks(parsed: ParsedSteps, params: Parameters | None = None) -> list[Node]:
    """Headed blocks for the description: "Steps" and "Parameters" sections."""
    blocks: list[Node] = []
    table = steps_table(parsed)
    if table is not None:
        blocks += [heading("Steps", 3), table]
    ptable = parameters_table(params) if params is not None else None
    if ptable is not None:
        blocks += [heading("Parameters", 3), ptable]
    return blocks


def steps_text(parsed: ParsedSteps) -> str:
    """A plain-text rendering (for overflow files)."""
    lines = []
    for step in parsed.steps:
        if step.kind == "shared":
            lines.append(f"{step.number}. Shared steps #{step.shared_id}")
            continue
        action = adf_to_text({"content": html_to_blocks(step.action_html)}).replace("\n", " ")
        expected = adf_to_text({"content": html_to_blocks(step.expected_html)}).replace("\n", " ")
        lines.append(f"{step.number}. {action}" + (f" => {expected}" if expected else ""))
    return "\n".join(lines)
