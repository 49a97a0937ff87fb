"""An item's small files go up together, one request for several; a request Jira
refuses for its size or number of files goes again one file a request, to the same end."""

from __future__ import annotations

from typing import Any

from tests.engine.test_pipeline_support import Harness, assert_complete, make_spec

ATTACH = "POST /rest/api/3/issue/{issueIdOrKey}/attachments"


def _uploads(sb: Any) -> tuple[int, int, int]:
    """(upload requests, files in Jira, issues with files)."""
    snap = sb.jira.snapshot()
    files = [len(i["attachments"]) for i in snap["issues"]]
    return int(snap["counters"].get(ATTACH, 0)), sum(files), sum(1 for n in files if n)


def test_several_files_of_an_item_go_in_one_request(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, migrate_attachments=True))
    assert outcome.status == "COMPLETED", outcome
    assert_complete(sandboxes, h.store)  # each file once
    requests, files, issues = _uploads(sandboxes)
    assert files > issues, "the dataset has no item with several files"
    assert issues <= requests < files


def test_a_refused_group_goes_again_one_file_a_request(sandboxes: Any) -> None:
    sandboxes.jira.settings.update({"max_files_per_upload": 1})  # 413 for two or more
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, migrate_attachments=True))
    assert outcome.status == "COMPLETED", outcome
    assert outcome.stats["failed"] == 0
    assert_complete(sandboxes, h.store)
    requests, files, _ = _uploads(sandboxes)
    refused = requests - files
    assert refused > 0, "no group was refused: the case was not exercised"
    for ado_id, entry in h.store.ledger.items():
        assert all(entry.attachments.values()), (ado_id, entry.attachments)
