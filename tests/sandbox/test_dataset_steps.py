"""Test cases and shared steps in the generated project: types, steps XML, links."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from engine.teststeps import parse_parameters, parse_steps
from sandbox.ado_fields import FIELDS, TYPE_FIELDS
from sandbox.dataset import TYPE_INDEX, TYPES, Dataset, generate
from sandbox.dataset_steps import F_DATA_SOURCE, F_PARAMETERS, F_STEPS

TESTED_BY = "Microsoft.VSTS.Common.TestedBy-Forward"


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(200, seed=1)


def _of(d: Dataset, name: str) -> list[int]:
    return [i for i in d.ids() if d.type_name(i) == name]


def test_the_default_project_holds_test_cases_and_shared_steps(data: Dataset) -> None:
    counts = Counter(data.type_name(i) for i in data.ids())
    assert counts["Test Case"] >= 8 and counts["Shared Steps"] >= 3
    assert len(data.ids()) == 200  # the project keeps its size
    case = TYPES[TYPE_INDEX["Test Case"]]
    assert case.reference_name == "Microsoft.VSTS.WorkItemTypes.TestCase"
    assert [s.name for s in case.states] == ["Design", "Ready", "Closed"]
    shared = TYPES[TYPE_INDEX["Shared Steps"]]
    assert shared.reference_name == "Microsoft.VSTS.WorkItemTypes.SharedStep"
    assert all(data.parent(i) == 0 for i in _of(data, "Test Case") + _of(data, "Shared Steps"))


def test_tcm_fields_are_defined_on_their_types() -> None:
    for ref in (F_STEPS, F_PARAMETERS, F_DATA_SOURCE):
        assert FIELDS[ref.lower()][2] == "html"
        assert ref in TYPE_FIELDS["Test Case"]
    assert F_STEPS in TYPE_FIELDS["Shared Steps"]


def test_steps_are_stored_as_ado_stores_them(data: Dataset) -> None:
    shared = {i: data.item(i).fields[F_STEPS] for i in _of(data, "Shared Steps")}
    with_compref = with_params = with_data = 0
    for ident in _of(data, "Test Case"):
        fields = data.item(ident).fields
        root = ET.fromstring(fields[F_STEPS])
        assert root.tag == "steps" and root.get("last")
        for step in root.iter("step"):
            texts = [p.text or "" for p in step.findall("parameterizedString")]
            assert len(texts) == 2 and texts[0].startswith("<DIV><P>")  # HTML, escaped in XML
            assert step.get("type") in ("ActionStep", "ValidateStep")
        refs = [int(c.get("ref", "0")) for c in root.iter("compref")]
        assert all(r in shared and r < ident for r in refs)
        with_compref += bool(refs)
        parsed = parse_steps(fields[F_STEPS], shared)
        assert not parsed.problems and parsed.steps
        if F_PARAMETERS in fields:
            with_params += 1
            params = parse_parameters(fields[F_PARAMETERS], fields.get(F_DATA_SOURCE))
            assert not params.problems and params.names
            assert all(f"@{n}" in fields[F_STEPS] for n in params.names)
            with_data += bool(params.rows)
    assert with_compref >= 1 and with_params >= 1 and with_data >= 1
    role = data.item(data.roles["test_case"]).fields
    assert "<compref" in role[F_STEPS] and F_DATA_SOURCE in role


def test_stories_and_bugs_are_tested_by_test_cases(data: Dataset) -> None:
    cases = set(_of(data, "Test Case"))
    tested = {
        case: ident
        for ident in data.ids()
        if data.type_name(ident) in ("User Story", "Bug")
        for rel, case in data.links(ident)
        if rel == TESTED_BY and case in cases
    }
    assert set(tested) == cases  # every test case tests a story or a bug
    for case, ident in tested.items():
        back = [t for rel, t in data.links(case) if rel.endswith("TestedBy-Reverse")]
        assert ident in back
