"""Test case content as Azure DevOps stores it: ``Microsoft.VSTS.TCM.*`` field values.

- ``Microsoft.VSTS.TCM.Steps``: ``<steps id="0" last="N">`` holding ``<step>``
  elements (``type`` "ActionStep" without an expected result, "ValidateStep"
  with one) whose two ``parameterizedString`` children are the action and the
  expected result as HTML, *escaped* inside the XML (``&lt;DIV&gt;&lt;P&gt;…``),
  and ``<compref id="…" ref="{Shared Steps id}"/>`` where shared steps are used.
  Step ids share one counter with comprefs and start at 2, as ADO numbers them.
- ``Microsoft.VSTS.TCM.Parameters``: ``<parameters><param name="…" bind="default"/>…``;
  step texts use them as ``@name``.
- ``Microsoft.VSTS.TCM.LocalDataSource``: the parameter values as a .NET DataSet
  (an ``xs:schema``, then one ``Table1`` element per row).

Each item renders from its own generator (``Dataset.item_rng(ident, SALT)``), so the
same seed always gives the same XML. The role test case carries every construct:
a shared-steps reference, parameters and a data source, and a step whose text needs
escaping (``<``, ``&`` and quotes).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from sandbox.dataset_process import SHARED_STEPS, TEST_CASE
from sandbox.dataset_words import WORDS

if TYPE_CHECKING:
    from sandbox.dataset import Dataset

SALT = 12  # the item generator salt of test content (other kinds use 0-4)
F_STEPS = "Microsoft.VSTS.TCM.Steps"
F_PARAMETERS = "Microsoft.VSTS.TCM.Parameters"
F_DATA_SOURCE = "Microsoft.VSTS.TCM.LocalDataSource"

_ACTIONS = (
    "Open the {w} page",
    "Sign in as @user",
    "Enter @user and @password in the {w} form",
    "Select the {w} option",
    "Save the {w} settings",
    "Refresh the {w} list",
    "Open @browser and go to the {w} dashboard",
)
_RESULTS = (
    "The {w} page shows",
    "A confirmation appears",
    "The {w} list is updated",
    "",
    "No error is shown",
)
_PARAMETER_VALUES = {
    "user": ("alice", "bob", "carol@fabrikam.example"),
    "password": ("s3cret", "p&ss <word>", ""),
    "browser": ("Edge", "Chrome", "Firefox"),
}


def _html(text: str) -> str:
    """Step text as the ADO editor stores it (a DIV with a paragraph), or nothing."""
    return f"<DIV><P>{escape(text, quote=False)}</P></DIV>" if text else ""


def _step(step_id: int, action: str, expected: str) -> str:
    kind = "ValidateStep" if expected else "ActionStep"
    return (
        f'<step id="{step_id}" type="{kind}">'
        f'<parameterizedString isformatted="true">{escape(_html(action))}</parameterizedString>'
        f'<parameterizedString isformatted="true">{escape(_html(expected))}</parameterizedString>'
        "<description/></step>"
    )


def steps_xml(rows: Sequence[tuple[str, str] | int]) -> str:
    """``<steps>`` of (action, expected) pairs and Shared Steps ids (comprefs), in order."""
    parts: list[str] = []
    next_id = 2
    for row in rows:
        if isinstance(row, int):
            parts.append(f'<compref id="{next_id}" ref="{row}" />')
        else:
            parts.append(_step(next_id, *row))
        next_id += 1
    return f'<steps id="0" last="{next_id - 1}">{"".join(parts)}</steps>'


def parameters_xml(names: Sequence[str]) -> str:
    inner = "".join(f'<param name="{escape(n)}" bind="default" />' for n in names)
    return f"<parameters>{inner}</parameters>"


def data_source_xml(names: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A .NET DataSet as ADO stores a test case's parameter values."""
    columns = "".join(
        f"<xs:element name='{escape(n)}' type='xs:string' minOccurs='0' />" for n in names
    )
    schema = (
        "<xs:schema id='NewDataSet' xmlns:xs='http://www.w3.org/2001/XMLSchema' "
        "xmlns:msdata='urn:schemas-microsoft-com:xml-msdata'>"
        "<xs:element name='NewDataSet' msdata:IsDataSet='true' msdata:Locale=''>"
        "<xs:complexType><xs:choice minOccurs='0' maxOccurs='unbounded'>"
        f"<xs:element name='Table1'><xs:complexType><xs:sequence>{columns}"
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:choice></xs:complexType></xs:element></xs:schema>"
    )
    cells = (
        "".join(f"<{n}>{escape(v)}</{n}>" for n, v in zip(names, r, strict=True)) for r in rows
    )
    body = "".join(f"<Table1>{c}</Table1>" for c in cells)
    return f"<NewDataSet>{schema}{body}</NewDataSet>"


def _pair(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(WORDS)
    return rng.choice(_ACTIONS).format(w=word), rng.choice(_RESULTS).format(w=word)


def _parameters_used(rows: Sequence[tuple[str, str] | int]) -> list[str]:
    text = " ".join(r[0] for r in rows if not isinstance(r, int))
    return [n for n in _PARAMETER_VALUES if f"@{n}" in text]


def _test_case(d: Dataset, ident: int, rng: random.Random) -> dict[str, Any]:
    role = ident == d.roles.get("test_case")
    shared = [s for s in d.shared_steps_ids if s < ident]
    rows: list[tuple[str, str] | int] = [_pair(rng) for _ in range(rng.randint(2, 5))]
    if shared and (role or rng.random() < 0.5):
        rows.insert(rng.randrange(1, len(rows) + 1), shared[rng.randrange(len(shared))])
    if role:
        rows.insert(0, ("Sign in as @user with @password", 'The <home> page & "menu" show'))
    out: dict[str, Any] = {F_STEPS: steps_xml(rows)}
    names = _parameters_used(rows)
    if names:
        out[F_PARAMETERS] = parameters_xml(names)
        if role or rng.random() < 0.7:  # the others keep their values elsewhere, or none
            values = [
                [_PARAMETER_VALUES[n][(r + i) % 3] for i, n in enumerate(names)]
                for r in range(rng.randint(2, 3))
            ]
            out[F_DATA_SOURCE] = data_source_xml(names, values)
    return out


def _shared_steps(rng: random.Random) -> dict[str, Any]:
    word = rng.choice(WORDS)
    rows: list[tuple[str, str] | int] = [
        (f"Accept the {word} cookie banner", "The banner is gone"),
        *(_pair(rng) for _ in range(rng.randint(1, 3))),
    ]
    out: dict[str, Any] = {F_STEPS: steps_xml(rows)}
    names = _parameters_used(rows)
    if names:
        out[F_PARAMETERS] = parameters_xml(names)
    return out


def tcm_fields(d: Dataset, ident: int) -> dict[str, Any]:
    """The ``Microsoft.VSTS.TCM.*`` fields of a Test Case or Shared Steps item, else none."""
    kind = d.type_of[ident]
    if kind not in (TEST_CASE, SHARED_STEPS):
        return {}
    rng = d.item_rng(ident, SALT)
    return _test_case(d, ident, rng) if kind == TEST_CASE else _shared_steps(rng)
