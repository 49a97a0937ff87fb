"""The story points field of a run: found by name, the one on the create screens wins."""

from __future__ import annotations

from engine.pipeline.plan import Planner

FIELDS = [
    {"id": "summary", "name": "Summary"},
    {"id": "customfield_10016", "name": "Story Points"},
    {"id": "customfield_10040", "name": "Story point estimate"},
]


def test_company_managed_screens_get_story_points() -> None:
    screens = {"10001": ["summary", "customfield_10016"]}
    assert Planner._story_points_field(FIELDS, screens) == "customfield_10016"


def test_team_managed_screens_get_story_point_estimate() -> None:
    screens = {"10010": ["summary"], "10011": ["summary", "customfield_10040"]}
    assert Planner._story_points_field(FIELDS, screens) == "customfield_10040"


def test_without_screens_or_a_match_the_first_by_name_is_kept() -> None:
    assert Planner._story_points_field(FIELDS) == "customfield_10016"
    assert Planner._story_points_field(FIELDS, {"1": ["summary"]}) == "customfield_10016"
    assert Planner._story_points_field(FIELDS[2:]) == "customfield_10040"
    assert Planner._story_points_field(FIELDS[:1]) is None
