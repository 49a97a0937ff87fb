"""A test case's steps and parameters in its Jira description.

``Microsoft.VSTS.TCM.Steps`` becomes a "Steps" table (#, action, expected result)
and ``Parameters`` with ``LocalDataSource`` a "Parameters" table, by the rules of
:mod:`engine.teststeps`. Shared steps (``compref``) are expanded from the Shared
Steps items' own Steps: :class:`SharedSteps` remembers those the run fetched and
reads the others from Azure DevOps once each (a missing or unreadable one stays a
"Shared steps #id" row, with a note).

The section is appended to the description's body, so it lives inside the
description budget: the steps are split into tables of at most ``ROWS_PER_TABLE``
rows and ``TABLE_LIMIT`` characters, and the 32,767-character cut
(``engine.content.fit_to_limit``) drops whole tables at the end, the full text
going to the overflow file as for any description.

Every problem with the XML (``StepsProblem``) is a note on the item, never a failure.
Rules: ``test-steps``, ``shared-steps``, ``test-parameters``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from engine.adf_nodes import Node, adf_char_length, heading
from engine.errors import PermanentError, TransientError
from engine.model import WorkItem
from engine.teststeps import (
    Parameters,
    ParsedSteps,
    Step,
    parameters_table,
    parse_parameters,
    parse_steps,
    steps_table,
)

F_STEPS = "Microsoft.VSTS.TCM.Steps"
F_PARAMETERS = "Microsoft.VSTS.TCM.Parameters"
F_DATA_SOURCE = "Microsoft.VSTS.TCM.LocalDataSource"
TCM_FIELDS = (F_STEPS, F_PARAMETERS, F_DATA_SOURCE)
ROWS_PER_TABLE = 50
TABLE_LIMIT = 8_000  # characters of ADF JSON; a bigger table is split in two

# Work item ids → their Steps XML (ids that do not exist are left out).
StepsLoader = Callable[[Sequence[int]], Mapping[int, str]]


class SharedSteps(Mapping[int, str]):
    """Shared Steps XML by work item id: remembered, else loaded on first use.

    A failed read is not remembered (the next item tries again); an item that does
    not exist or has no steps is remembered as absent. Safe across worker threads.
    """

    def __init__(self, loader: StepsLoader | None = None) -> None:
        self._loader = loader
        self._xml: dict[int, str | None] = {}
        self._lock = threading.Lock()
        self.failures: dict[int, str] = {}  # id → why the last read failed

    def remember(self, wi: WorkItem) -> None:
        """Keep the Steps of an item the run fetched anyway (items without steps are not kept)."""
        steps = wi.fields.get(F_STEPS)
        if isinstance(steps, str) and steps.strip():
            with self._lock:
                self._xml[wi.id] = steps

    def preload(self, ids: Sequence[int]) -> None:
        """Read the unknown ones of ``ids`` in one request."""
        with self._lock:
            wanted = [i for i in dict.fromkeys(ids) if i not in self._xml]
        if not wanted or self._loader is None:
            return
        try:
            found = self._loader(wanted)
        except (TransientError, PermanentError) as exc:
            with self._lock:
                self.failures.update({i: str(exc)[:200] for i in wanted})
            return
        with self._lock:
            for ident in wanted:
                xml = found.get(ident)
                self._xml[ident] = xml if isinstance(xml, str) and xml.strip() else None
                self.failures.pop(ident, None)

    def __getitem__(self, ident: int) -> str:
        self.preload([ident])
        with self._lock:
            xml = self._xml.get(ident)
        if xml is None:
            raise KeyError(ident)
        return xml

    def __iter__(self) -> Iterator[int]:
        with self._lock:
            known = [i for i, xml in self._xml.items() if xml is not None]
        return iter(known)

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for xml in self._xml.values() if xml is not None)


@dataclass
class CaseSection:
    """The description blocks of a test case, and what the fidelity report says of it."""

    blocks: list[Node] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def has_test_content(item: WorkItem) -> bool:
    return any(_text(item.fields.get(name)).strip() for name in TCM_FIELDS)


def _cut_at(steps: Sequence[Step], end: int) -> int:
    """``end`` moved back so a run never ends on a shared-steps row whose own steps
    follow (the row says whether they were expanded by looking at the next one)."""
    while 1 < end < len(steps) and steps[end - 1].kind == "shared":
        end -= 1
    return end


def _chunks(steps: Sequence[Step]) -> list[list[Step]]:
    """Steps in runs of at most ROWS_PER_TABLE."""
    out: list[list[Step]] = []
    start = 0
    while start < len(steps):
        end = start + _cut_at(steps[start:], min(ROWS_PER_TABLE, len(steps) - start))
        out.append(list(steps[start:end]))
        start = end
    return out


def _tables(steps: Sequence[Step]) -> list[Node]:
    """One table, or several when it is over TABLE_LIMIT (so the cut can keep some)."""
    table = steps_table(ParsedSteps(steps=list(steps)))
    if table is None:
        return []
    if len(steps) < 2 or adf_char_length(table) <= TABLE_LIMIT:
        return [table]
    middle = _cut_at(steps, len(steps) // 2)
    return [*_tables(steps[:middle]), *_tables(steps[middle:])]


def _not_expanded(parsed: ParsedSteps) -> list[int]:
    missing: list[int] = []
    for index, step in enumerate(parsed.steps):
        if step.kind != "shared" or step.shared_id is None:
            continue
        nxt = parsed.steps[index + 1] if index + 1 < len(parsed.steps) else None
        if (nxt is None or not nxt.number.startswith(step.number + ".")) and (
            step.shared_id not in missing
        ):
            missing.append(step.shared_id)
    return missing


def _steps_blocks(parsed: ParsedSteps) -> list[Node]:
    found = [table for chunk in _chunks(parsed.steps) for table in _tables(chunk)]
    return [heading("Steps", 3), *found] if found else []


def _shared_notes(parsed: ParsedSteps, shared: Mapping[int, str]) -> list[str]:
    failures = shared.failures if isinstance(shared, SharedSteps) else {}
    notes = []
    for ref in _not_expanded(parsed):
        why = f"could not be read ({failures[ref]})" if ref in failures else "not found"
        notes.append(f"shared-steps: shared steps #{ref} {why}; its steps are not listed")
    return notes


def case_section(item: WorkItem, shared: Mapping[int, str]) -> CaseSection:
    """The "Steps" and "Parameters" sections of an item with test steps (else empty)."""
    out = CaseSection()
    if not has_test_content(item):
        return out
    raw = item.fields.get(F_STEPS)
    if isinstance(shared, SharedSteps):
        shared.preload(parse_steps(raw).shared_ids)  # the first level in one request
    parsed = parse_steps(raw, shared)
    params: Parameters = parse_parameters(
        item.fields.get(F_PARAMETERS), item.fields.get(F_DATA_SOURCE)
    )
    out.blocks = _steps_blocks(parsed)
    ptable = parameters_table(params)
    if ptable is not None:
        out.blocks += [heading("Parameters", 3), ptable]
        out.rules.add("test-parameters")
    if parsed.steps:
        out.rules.add("test-steps")
    if parsed.shared_ids:
        out.rules.add("shared-steps")
    out.notes += [f"test-steps: {p.code}: {p.message}" for p in parsed.problems]
    out.notes += [f"test-parameters: {p.code}: {p.message}" for p in params.problems]
    out.notes += _shared_notes(parsed, shared)
    return out
