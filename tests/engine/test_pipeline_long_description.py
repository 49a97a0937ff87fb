"""A description over Jira's 32,767-character limit is cut, noted, and attached whole."""

from __future__ import annotations

import json
from typing import Any

from engine.adf_nodes import JIRA_ADF_LIMIT, adf_char_length
from engine.content import overflow_file_name
from tests.engine.test_pipeline_support import (
    Harness,
    assert_exactly_once,
    issues_by_ado,
    make_spec,
)


def _long_html(paragraphs: int) -> str:
    return "".join(
        f"<p>Paragraph {n}: the steps, the logs and the analysis of this long-running "
        f"investigation, kept in full by the migration.</p>"
        for n in range(paragraphs)
    )


def test_a_description_too_long_for_jira_is_cut_and_attached_in_full(sandboxes: Any) -> None:
    ado_id = next(
        i
        for i in sandboxes.ado.dataset.ids()
        if sandboxes.ado.item_fields(i).get("System.WorkItemType") == "User Story"
        and sandboxes.ado.item_fields(i).get("System.State") != "Removed"
    )
    sandboxes.ado.edit_item(ado_id, {"System.Description": _long_html(600)})
    h = Harness(sandboxes)

    outcome = h.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED", outcome
    assert_exactly_once(sandboxes)
    issue = sandboxes.jira.dump_issue(issues_by_ado(sandboxes)[ado_id][0]["key"])
    description = issue["fields"]["description"]
    assert adf_char_length(description) <= JIRA_ADF_LIMIT
    text = json.dumps(description)
    assert "Paragraph 0:" in text and "Paragraph 599:" not in text
    assert overflow_file_name(ado_id) in text  # the note names the file
    files = [a for a in issue["attachments"] if a["filename"] == overflow_file_name(ado_id)]
    assert len(files) == 1
    assert files[0]["size"] > JIRA_ADF_LIMIT
