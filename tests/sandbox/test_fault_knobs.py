"""The ambiguous-outcome knobs: type checks (constructor and PATCH), CLI options, fixtures."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
import requests

from sandbox.httpbase import KnobError, Knobs, LateWrite
from sandbox.runner import Options, add_arguments, main, options_from
from tests.fixtures.sandbox import SandboxHandle

JIRA_BULK = "POST /rest/api/3/issue/bulk"
JIRA_COMMENT = "POST /rest/api/3/issue/{issueIdOrKey}/comment"
ADO_WIQL = "POST /{org}/{project}/_apis/wit/wiql"
NEW_DEFAULTS = {
    "lost_answer_p": 0.0,
    "lost_answer_mode": "mixed",
    "fault_routes": ["writes"],
    "late_writes": {},
    "slow_bulk_ms_per_issue": 0.0,
}
BAD_CHANGES = [
    ({"lost_answer_p": "0.5"}, "lost_answer_p"),
    ({"lost_answer_p": 1.5}, "lost_answer_p"),
    ({"lost_answer_mode": "503"}, "lost_answer_mode"),
    ({"fault_routes": "writes"}, "fault_routes"),
    ({"fault_routes": ["POST"]}, "fault_routes[0]"),
    ({"fault_routes": ["GET /_sandbox/knobs"]}, "fault_routes"),  # control routes take no faults
    ({"late_writes": ["writes"]}, "late_writes"),
    ({"late_writes": {"writes": 2}}, "late_writes['writes']"),
    ({"late_writes": {"writes": {"count": "2", "seconds": 1}}}, "late_writes['writes'].count"),
    ({"late_writes": {"writes": {"count": 1}}}, "late_writes['writes']"),
    ({"late_writes": {"writes": {"count": 1, "seconds": -1}}}, "late_writes['writes'].seconds"),
    ({"late_writes": {"sometimes": {"count": 1, "seconds": 1}}}, "late_writes['sometimes']"),
    ({"slow_bulk_ms_per_issue": -1}, "slow_bulk_ms_per_issue"),
    ({"latency_ms": True}, "latency_ms"),
    ({"seed": 1.5}, "seed"),
    ({"latency_ms": 5, "p429": "often"}, "p429"),  # the good value is not applied either
]


def _urls(h: SandboxHandle) -> dict[str, str]:
    urls = {"ado": h.ado_url}
    if h.jira_url is not None:
        urls["jira"] = h.jira_url
    return urls


# ---------------------------------------------------------------------- PATCH /_sandbox/knobs
@pytest.mark.parametrize(("change", "knob"), BAD_CHANGES)
def test_knob_patch_refuses_a_bad_value_naming_the_knob(
    sandboxes: SandboxHandle, change: dict[str, Any], knob: str
) -> None:
    for name, base in _urls(sandboxes).items():
        before = requests.get(base + "/_sandbox/knobs", timeout=5).json()
        r = requests.patch(base + "/_sandbox/knobs", json=change, timeout=5)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["knob"] == knob and r.json()["message"].startswith(knob + ": ")
        assert requests.get(base + "/_sandbox/knobs", timeout=5).json() == before, name


def test_knob_patch_accepts_the_new_knobs_and_shows_them(sandboxes: SandboxHandle) -> None:
    for base in _urls(sandboxes).values():
        shown = requests.get(base + "/_sandbox/knobs", timeout=5).json()
        assert {k: shown[k] for k in NEW_DEFAULTS} == NEW_DEFAULTS
        change = {
            "lost_answer_p": 1,
            "lost_answer_mode": "close",
            "fault_routes": ["all"],
            "late_writes": {
                "writes": {"count": 3, "seconds": 2},
                "all": {"count": 0, "seconds": 1},
            },
            "slow_bulk_ms_per_issue": 7,
        }
        r = requests.patch(base + "/_sandbox/knobs", json=change, timeout=5)
        assert r.status_code == 200, r.text
        assert {k: r.json()[k] for k in change} == {
            **change,
            "late_writes": {"writes": {"count": 3, "seconds": 2.0}},
        }  # 0 is dropped


def test_route_selectors_are_checked_against_each_sandboxs_own_routes(
    sandboxes: SandboxHandle,
) -> None:
    if sandboxes.jira_url is None:
        pytest.skip("sandbox.jira is not available")
    change = {"fault_routes": [JIRA_COMMENT]}
    assert (
        requests.patch(sandboxes.jira_url + "/_sandbox/knobs", json=change, timeout=5).status_code
        == 200
    )
    refused = requests.patch(sandboxes.ado_url + "/_sandbox/knobs", json=change, timeout=5)
    assert refused.status_code == 400 and JIRA_COMMENT in refused.json()["message"]
    late = {"late_writes": {ADO_WIQL: {"count": 1, "seconds": 1}}}
    assert (
        requests.patch(sandboxes.ado_url + "/_sandbox/knobs", json=late, timeout=5).status_code
        == 200
    )


# ---------------------------------------------------------------------- Knobs in Python
def test_knobs_constructor_checks_its_values() -> None:
    with pytest.raises(KnobError) as caught:
        Knobs(lost_answer_mode="sometimes")
    assert caught.value.knob == "lost_answer_mode"
    with pytest.raises(KnobError) as caught:
        Knobs(fault_routes=["POST /x", "nope"])
    assert caught.value.knob == "fault_routes[1]"
    assert Knobs(latency_ms=5).latency_ms == 5.0 and isinstance(Knobs(p429=1).p429, float)


def test_knobs_built_from_one_mapping_do_not_share_late_counts() -> None:
    late: dict[str, LateWrite] = {"writes": {"count": 2, "seconds": 0.0}}
    one, two = Knobs(late_writes=late), Knobs(late_writes=late)
    assert one.take_late("POST", "/a") == 0.0
    assert one.late_writes == {"writes": {"count": 1, "seconds": 0.0}}
    assert two.late_writes == late and late == {"writes": {"count": 2, "seconds": 0.0}}
    assert one.take_late("GET", "/a") is None  # "writes" does not pick a GET
    assert one.take_late("DELETE", "/a") == 0.0 and one.late_writes == {}


# ---------------------------------------------------------------------- runner CLI
def _parse(*argv: str) -> Options:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from(vars(parser.parse_args(argv)))


def test_cli_options_set_the_fault_knobs() -> None:
    options = _parse(
        "--lost-answer-p",
        "0.25",
        "--lost-answer-mode",
        "close",
        "--fault-routes",
        f"writes, {JIRA_COMMENT}",
        "--late-write",
        f"{JIRA_BULK}=2x10",
        "--late-write",
        "writes=1x0.5",
        "--slow-bulk-ms",
        "20",
    )
    ado, jira = options.knobs(), options.knobs(jira=True)
    for knobs in (ado, jira):
        assert (knobs.lost_answer_p, knobs.lost_answer_mode) == (0.25, "close")
        assert knobs.fault_routes == ["writes", JIRA_COMMENT]
        assert knobs.late_writes == {
            JIRA_BULK: {"count": 2, "seconds": 10.0},
            "writes": {"count": 1, "seconds": 0.5},
        }
    assert (jira.slow_bulk_ms_per_issue, ado.slow_bulk_ms_per_issue) == (20.0, 0.0)
    assert jira.take_late("POST", "/rest/api/3/issue/bulk") == 10.0
    assert ado.late_writes[JIRA_BULK]["count"] == 2  # each service counts its own


def test_cli_defaults_leave_the_new_faults_off() -> None:
    knobs = _parse().knobs(jira=True)
    assert {k: v for k, v in asdict(knobs).items() if k in NEW_DEFAULTS} == NEW_DEFAULTS


@pytest.mark.parametrize(
    "argv",
    [
        ("--lost-answer-p", "2"),
        ("--lost-answer-p", "often"),
        ("--lost-answer-mode", "503"),
        ("--fault-routes", "POST"),
        ("--late-write", "writes"),
        ("--late-write", "writes=0x1"),
        ("--late-write", "writes=2x-1"),
        ("--late-write", "writes=twox1"),
        ("--late-write", "sometimes=1x1"),
        ("--slow-bulk-ms", "-5"),
    ],
)
def test_cli_refuses_bad_fault_options(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)
    assert f"argument {argv[0]}" in capsys.readouterr().err


def test_cli_refuses_a_selector_that_names_no_route(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--items", "20", "--late-write", "POST /rest/api/3/nowhere=1x1"])
    assert "'POST /rest/api/3/nowhere' names no route" in capsys.readouterr().err


# ---------------------------------------------------------------------- fixtures
def test_make_sandboxes_sets_knobs_on_both_then_on_one(
    make_sandboxes: Callable[..., SandboxHandle],
) -> None:
    h = make_sandboxes(
        items=20,
        lost_answer_p=1.0,
        lost_answer_mode="504",
        slow_bulk_ms=10,
        ado_knobs={"lost_answer_p": 0.0},
        jira_knobs={"fault_routes": [JIRA_COMMENT]},
    )
    assert (h.ado.knobs.lost_answer_p, h.ado.knobs.slow_bulk_ms_per_issue) == (0.0, 0.0)
    assert h.ado.knobs.fault_routes == ["writes"]
    r = h.ado_session().post(
        f"{h.ado_api}/wit/wiql?api-version=7.1", json={"query": "SELECT [System.Id] FROM WorkItems"}
    )
    assert r.status_code == 200
    if h.jira is not None:
        assert (h.jira.knobs.lost_answer_p, h.jira.knobs.slow_bulk_ms_per_issue) == (1.0, 10.0)
        assert h.jira.knobs.fault_routes == [JIRA_COMMENT]
    with pytest.raises(KnobError):
        make_sandboxes(items=20, ado_knobs={"fault_routes": [JIRA_COMMENT]})
    with pytest.raises(ValueError, match="unknown ado knobs: nope"):
        make_sandboxes(items=20, ado_knobs={"nope": 1})


def test_reset_between_tests_restores_the_fault_knobs(sandboxes: SandboxHandle) -> None:
    apps = [app for app in (sandboxes.ado, sandboxes.jira) if app is not None]
    for app in apps:
        app.knobs.update(
            {
                "lost_answer_p": 0.5,
                "lost_answer_mode": "close",
                "fault_routes": ["all"],
                "slow_bulk_ms_per_issue": 3,
                "late_writes": {"writes": {"count": 4, "seconds": 1}},
            }
        )
        app.count("lost:close POST /x")
    sandboxes.reset()
    for app in apps:
        assert app.knobs == Knobs() and not app.counters
