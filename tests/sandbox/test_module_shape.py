"""The sandbox stays in small modules that say what they do, and its split modules
keep the names other code imports from the facades."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
MAX_LINES = 600


@pytest.mark.parametrize("path", sorted(SANDBOX.glob("*.py")), ids=lambda p: p.name)
def test_each_module_is_small_and_says_its_job(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES
    assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"


def test_the_facades_keep_the_names_other_code_imports() -> None:
    from sandbox import ado, dataset, httpbase, jira, jira_state

    for module, names in (
        (ado, ["AdoApp", "AdoStore", "AdoError", "DEFAULT_PAT", "BATCH_LIMIT", "day_of"]),
        (ado, ["lookup_field", "FIELDS", "WiqlParser", "RouteSpec", "error_response"]),
        (dataset, ["Dataset", "generate", "BIG_FILE_SIZE", "TYPES", "TYPE_INDEX", "iso"]),
        (dataset, ["AttachmentInfo", "CommentRecord", "ItemRecord", "Node", "identity_ref"]),
        (httpbase, ["SandboxApp", "SandboxServer", "Knobs", "KnobError", "LateWrite"]),
        (httpbase, ["Request", "Response", "json_response", "CONTROL_PREFIX", "check_knob"]),
        (jira, ["JiraApp", "API", "AGILE", "JIRA_CONTROL", "BULK_LIMIT"]),
        (jira_state, ["JiraState", "JiraError", "Issue", "Settings", "now_ms", "touch"]),
    ):
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, (module.__name__, missing)
