"""The report digest: bounded, versioned, and read back as it was written."""

from __future__ import annotations

from migrations_app.run_digest import LIST_ROWS, ReportDigest, digest_of


def _rollback_report(rows: int) -> dict:
    return {
        "counts": {"planned": {"issues": 3, "comments": 2}, "removed": {"issues": 1}},
        "issueRemoval": {"method": "bulk", "reason": "more than 10 issues"},
        "left": [{"adoId": n, "reason": "edited since"} for n in range(rows)],
        "notReverted": [{"issue": f"PROJ-{n}", "what": "summary"} for n in range(rows)],
    }


def test_a_rollback_digest_keeps_its_counts_and_the_first_rows_of_each_list():
    digest = digest_of(_rollback_report(LIST_ROWS + 5), rollback=True)
    summary = digest.rollback
    assert summary is not None
    assert [(r.label, r.planned, r.removed) for r in summary.rows[:2]] == [
        ("Issues", 3, 1),
        ("Comments", 2, 0),
    ]
    assert summary.planned == 5
    assert (summary.method, summary.method_reason) == ("bulk", "more than 10 issues")
    assert (len(summary.left), summary.left_more) == (LIST_ROWS, 5)
    assert (len(summary.not_reverted), summary.not_reverted_more) == (LIST_ROWS, 5)
    assert (summary.failed, summary.failed_more) == ([], 0)


def test_a_digest_reads_back_as_it_was_written():
    digest = digest_of({**_rollback_report(3), "typeMappings": [{"adoType": "Bug"}]}, rollback=True)
    assert ReportDigest.from_json(digest.to_json()) == digest


def test_a_migration_digest_has_no_rollback_summary():
    digest = digest_of({"counts": {"Bug": 3}, "stateMappings": [{"from": "New"}]}, rollback=False)
    assert digest.rollback is None and digest.state_mappings == [{"from": "New"}]


def test_no_report_or_another_version_reads_as_an_empty_digest():
    assert digest_of(None, rollback=False) == ReportDigest()
    assert ReportDigest.from_json({}) == ReportDigest()
    assert ReportDigest.from_json({"version": 99, "type_mappings": [{"x": 1}]}) == ReportDigest()
