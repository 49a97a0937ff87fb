"""Phase 1's planning views: small, and planning reads the same from them as from the
whole work items (the sandbox's dataset read over HTTP, and hand-made edge cases)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from engine.content import user_emails
from engine.fieldplan import field_uses
from engine.fieldtypes import AdoField
from engine.model import PlanningItem, Relation, WorkItem
from engine.pipeline.discovery import PEOPLE, PlanningViews
from engine.pipeline.fields import _identities
from engine.planning import hierarchy_pairs
from tests.engine.test_pipeline_support import clients

PICK = AdoField("Custom.Impact", "Impact", "string", is_picklist=True)
TEXT = AdoField("System.Description", "Description", "html")
ITEMS = "https://dev.azure.com/o/p/_apis/wit/workItems/"


def item(fields: dict[str, Any], relations: list[Relation] | None = None) -> WorkItem:
    return WorkItem(7, 3, "Bug", "a bug", "Active", f"{ITEMS}7", fields, relations or [])


def test_planning_reads_the_same_from_the_views_as_from_the_work_items(sandboxes: Any) -> None:
    ado, _ = clients(sandboxes)
    defs = {d.reference_name: d for d in ado.field_definitions()}
    full = ado.get_work_items(ado.query_ids(area_path=None, types=None, changed_since=None))
    views = [PlanningViews(defs).view(wi) for wi in full]
    assert len(full) == len(views) > 50

    def typed(items: Sequence[PlanningItem]) -> list[tuple[str, Mapping[str, Any]]]:
        return [(wi.type, wi.fields) for wi in items]

    assert field_uses(typed(views), defs) == field_uses(typed(full), defs)
    assert hierarchy_pairs(views) == hierarchy_pairs(full)
    assert list(_identities(views, defs)) == list(_identities(full, defs))
    for wi, view in zip(full, views, strict=True):
        assert (view.id, view.rev, view.type, view.title, view.state, view.url) == (
            wi.id,
            wi.rev,
            wi.type,
            wi.title,
            wi.state,
            wi.url,
        )
        assert (view.parent_id, view.area_path, view.iteration_path) == (
            wi.parent_id,
            wi.area_path,
            wi.iteration_path,
        )
        assert user_emails(view) == user_emails(wi)
    # the descriptions, histories, relations and attachments planning does not read are gone
    assert sum(map(_size, views)) * 3 < sum(map(_size, full))


def _size(wi: PlanningItem) -> int:
    relations = getattr(wi, "relations", [])
    return sum(len(str(v)) for v in wi.fields.values()) + sum(len(r.url) for r in relations)


def test_a_view_s_fields_read_as_a_mapping_and_cost_less_than_a_dict() -> None:
    views = PlanningViews({PICK.reference_name: PICK, TEXT.reference_name: TEXT})
    raw = {"System.AreaPath": "P\\A", PICK.reference_name: "High", TEXT.reference_name: "x"}
    fields = views.view(item(raw)).fields
    assert dict(fields) == {
        "System.AreaPath": "P\\A",
        PICK.reference_name: "High",
        TEXT.reference_name: True,
    }
    assert list(fields) == list(raw) and len(fields) == 3 and fields == dict(fields)
    assert fields.get("Custom.Missing") is None and "Custom.Missing" not in fields
    with pytest.raises(KeyError):
        fields["Custom.Missing"]
    other = views.view(item({**raw, TEXT.reference_name: "y"})).fields
    assert other._index is fields._index  # the same names: one shared index
    assert sys.getsizeof(fields) + sys.getsizeof(fields._values) < sys.getsizeof(dict(fields))


def test_a_view_keeps_picklist_text_and_says_only_has_a_value_for_the_rest() -> None:
    views = PlanningViews({PICK.reference_name: PICK, TEXT.reference_name: TEXT})
    wi = item(
        {
            "Custom.Impact": "High",
            "System.Description": "<p>" + "long " * 100 + "</p>",
            "Custom.Undefined": "the organisation does not define it",
            "Custom.Empty": "",
            "System.AreaPath": "P\\" + "a" * 300,  # a long path is kept whole
        }
    )
    fields = views.view(wi).fields
    assert fields == {
        "Custom.Impact": "High",
        "System.Description": True,
        "System.AreaPath": "P\\" + "a" * 300,
    }
    long_pick = views.view(item({"Custom.Impact": "x" * 256})).fields
    assert long_pick == {"Custom.Impact": True}


def test_people_are_kept_by_name_and_shared_and_text_identities_stay_text() -> None:
    views = PlanningViews({})
    person = {
        "displayName": "Zoë",
        "uniqueName": "zoe@example.com",
        "id": "u1",
        "imageUrl": "https://x/avatar",
        "_links": {"avatar": {"href": "https://x"}},
    }
    one = views.view(item({"System.AssignedTo": dict(person)}))
    two = views.view(item({"System.CreatedBy": dict(person), PEOPLE[2]: "Al <al@example.com>"}))
    kept = {"displayName": "Zoë", "uniqueName": "zoe@example.com", "id": "u1"}
    assert one.fields["System.AssignedTo"] == kept
    assert one.fields["System.AssignedTo"] is two.fields["System.CreatedBy"]
    assert two.fields[PEOPLE[2]] == "Al <al@example.com>"
    assert user_emails(two) == {"zoe@example.com"}


def test_the_parent_comes_from_the_relation_or_from_system_parent() -> None:
    views = PlanningViews({})
    related = item(
        {},
        [
            Relation("System.LinkTypes.Related", f"{ITEMS}9"),
            Relation("System.LinkTypes.Hierarchy-Reverse", f"{ITEMS}5", {"name": "Parent"}),
            Relation("AttachedFile", "https://dev.azure.com/o/_apis/wit/attachments/g"),
        ],
    )
    assert views.view(related).parent_id == 5
    by_field = views.view(item({"System.Parent": 4}))
    assert by_field.parent_id == 4 and "System.Parent" not in by_field.fields  # not defined
    defined = PlanningViews({"System.Parent": AdoField("System.Parent", "Parent", "integer")})
    assert defined.view(item({"System.Parent": 4})).fields == {"System.Parent": True}
    assert defined.view(item({"System.Parent": 4})).parent_id == 4
    assert defined.view(item({"System.Parent": 0})).parent_id is None
    assert views.view(item({})).parent_id is None


def test_names_and_values_that_repeat_are_held_once() -> None:
    views = PlanningViews({PICK.reference_name: PICK})
    a = views.view(item({"Custom.Impact": "".join(["Hi", "gh"])}))
    b = views.view(item({"Custom.Impact": "".join(["H", "igh"])}))
    assert a.fields["Custom.Impact"] is b.fields["Custom.Impact"] is sys.intern("High")
