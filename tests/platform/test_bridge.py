"""The Django side of the engine's ports, over the real database."""

from __future__ import annotations

import json

import pytest

from engine.ports import ItemRecord, LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_run(make_run):
    from migrations_app.models import MigrationRun

    run = make_run("RUNNING")
    MigrationRun.objects.filter(pk=run.pk).update(lease_owner="me")
    run.refresh_from_db()
    return run


@pytest.fixture
def store(held_run):
    from migrations_app.engine_bridge import DjangoCheckpointStore, Scrubber

    return DjangoCheckpointStore(held_run, "me", Scrubber([]))


def _events(run, kind=None):
    from django_eventstream.models import Event

    rows = Event.objects.filter(channel=f"run-{run.id}").exclude(type="").order_by("eid")
    if kind:
        rows = rows.filter(type=kind)
    return [json.loads(json.loads(e.data)) for e in rows]


def test_save_items_upserts_rows_and_updates_counters(store, held_run):
    store.set_total(4)
    store.save_items(
        [
            ItemRecord(1, "Epic", "u1", "CREATED", "PROJ-1", "101"),
            ItemRecord(2, "Bug", "u2", "FAILED", error="boom", attempts=3),
        ]
    )
    store.save_items(
        [
            ItemRecord(2, "Bug", "u2", "UPDATED", "PROJ-2", "102", attempts=4),
            ItemRecord(3, "Task", "u3", "SKIPPED"),
        ]
    )
    held_run.refresh_from_db()
    assert (held_run.success_count, held_run.updated_count) == (2, 1)
    assert (held_run.skipped_count, held_run.failure_count) == (1, 0)
    assert held_run.progress_percent == 75
    items = store.load_items()
    assert items[2].status == "UPDATED" and items[2].attempts == 4 and items[2].jira_key == "PROJ-2"
    assert held_run.items.get(ado_id=1).jira_url == "https://acme.atlassian.net/browse/PROJ-1"


def test_the_ledger_is_per_project_and_survives_runs(store, held_run, make_run):
    from migrations_app.engine_bridge import DjangoCheckpointStore, Scrubber

    store.save_ledger([LedgerEntry(7, "PROJ-7", "107", ado_rev=2, comments={"1": "c1"})])
    store.save_ledger(
        [
            LedgerEntry(
                7,
                "PROJ-7",
                "107",
                ado_rev=3,
                comments={"1": "c1", "2": "c2"},
                links=["7->8:Relates"],
                state="Done",
            )
        ]
    )
    later = make_run("FAILED")
    ledger = DjangoCheckpointStore(later, "x", Scrubber([])).load_ledger()
    assert ledger[7].ado_rev == 3
    assert ledger[7].comments == {"1": "c1", "2": "c2"}
    assert ledger[7].links == ["7->8:Relates"] and ledger[7].state == "Done"


def test_the_engines_extra_bookkeeping_is_saved_verbatim(store, held_run):
    extra = {"steps": {"2": 3, "4": 3}, "intents": [{"op": "comment", "id": "c9"}]}
    store.save_ledger([LedgerEntry(9, "PROJ-9", "109", extra=extra)])
    assert store.load_ledger()[9].extra == extra


def test_plan_phase_total_and_report_round_trip(store, held_run):
    assert store.load_plan() is None
    store.save_plan({"ids": [3, 1, 2]})
    store.set_phase(3)
    store.set_total(3)
    store.save_report({"counts": {"Bug": 3}})
    held_run.refresh_from_db()
    assert store.load_plan() == {"ids": [3, 1, 2]}
    assert (held_run.current_phase, held_run.total_count) == (3, 3)
    assert held_run.document.report == {"counts": {"Bug": 3}}
    assert held_run.document.plan == {"ids": [3, 1, 2]}


def test_a_report_keeps_its_digest_on_the_run(store, held_run):
    mappings = [{"adoType": "Bug", "jiraType": "Bug", "source": "same name"}]
    store.save_report({"typeMappings": mappings, "problems": {"x": list(range(500))}})
    held_run.refresh_from_db()
    assert held_run.digest.type_mappings == mappings
    assert held_run.digest.state_mappings == [] and held_run.digest.rollback is None


def test_a_worker_that_lost_its_lease_writes_no_plan_and_no_report(store, held_run):
    from migrations_app.models import MigrationRun, RunDocument

    MigrationRun.objects.filter(pk=held_run.pk).update(lease_owner="someone-else")
    store.save_plan({"ids": [1]})
    store.save_report({"typeMappings": [{"adoType": "Bug"}]})
    assert not RunDocument.objects.filter(run_id=held_run.pk).exists()
    held_run.refresh_from_db()
    assert held_run.report_digest == {}
    assert held_run.digest.type_mappings == []


def test_save_items_streams_many_rows_in_batches_and_the_last_record_of_an_id_wins(store, held_run):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from migrations_app.engine_bridge import ITEM_BATCH

    total = 2 * ITEM_BATCH + 7
    store.set_total(total)

    written_before: dict[int, int] = {}

    def inserts() -> int:
        return sum(q["sql"].lstrip().upper().startswith("INSERT") for q in queries.captured_queries)

    def records():  # a generator: the rows are written as it is read, never all held
        for n in range(1, total + 1):
            written_before[n] = inserts()
            yield ItemRecord(n, "Bug", f"u{n}", "FAILED", error="first try")
        yield ItemRecord(3, "Bug", "u3", "CREATED", "PROJ-3", "103")  # a later batch

    with CaptureQueriesContext(connection) as queries:
        store.save_items(records())
    assert written_before[ITEM_BATCH] == 0
    assert 0 < written_before[ITEM_BATCH + 1] < written_before[2 * ITEM_BATCH + 1]

    held_run.refresh_from_db()
    assert held_run.items.count() == total
    assert (held_run.success_count, held_run.failure_count) == (1, total - 1)
    assert held_run.progress_percent == 100
    assert held_run.items.get(ado_id=3).jira_key == "PROJ-3"


def test_plan_item_rows_are_written_as_read_and_come_back_in_order_scrubbed(held_run):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from migrations_app.engine_bridge import ITEM_BATCH, DjangoCheckpointStore, Scrubber

    store = DjangoCheckpointStore(held_run, "me", Scrubber(["s3cret-token"]))
    total = ITEM_BATCH + 3
    inserted_before: dict[int, int] = {}

    def rows():  # a generator: rows go out in batches while it is read
        for n in range(total):
            inserted_before[n] = sum(
                q["sql"].lstrip().upper().startswith("INSERT") for q in queries.captured_queries
            )
            yield {"ado_id": total - n, "title": "leaks s3cret-token" if n == 7 else f"t{n}"}

    store.save_plan_items([{"ado_id": 1, "title": "an earlier plan"}])
    with CaptureQueriesContext(connection) as queries:
        store.save_plan_items(rows())
    assert inserted_before[ITEM_BATCH - 1] == 0 < inserted_before[ITEM_BATCH]
    loaded = list(store.load_plan_items())
    assert [r["ado_id"] for r in loaded] == [total - n for n in range(total)]  # saved order
    assert loaded[7]["title"] == "leaks [redacted]"


def test_a_worker_that_lost_its_lease_writes_no_plan_item_rows(store, held_run):
    from migrations_app.models import MigrationRun, RunPlanItem

    store.save_plan_items([{"ado_id": 1}])
    MigrationRun.objects.filter(pk=held_run.pk).update(lease_owner="someone-else")
    store.save_plan_items([{"ado_id": 2}, {"ado_id": 3}])
    assert list(RunPlanItem.objects.values_list("data", flat=True)) == [{"ado_id": 1}]


def test_a_taken_over_run_resumes_from_the_plan_its_first_worker_saved(store, held_run):
    from migrations_app.engine_bridge import DjangoCheckpointStore, Scrubber
    from migrations_app.models import MigrationRun

    store.save_plan({"ids": [5, 6]})
    MigrationRun.objects.filter(pk=held_run.pk).update(lease_owner="second")
    second = DjangoCheckpointStore(MigrationRun.objects.get(pk=held_run.pk), "second", Scrubber([]))
    assert second.load_plan() == {"ids": [5, 6]}
    second.save_plan({"ids": [5, 6, 7]})
    assert store.load_plan() == {"ids": [5, 6, 7]}


def test_checkpoints_heartbeats_and_control_polls_never_read_the_documents(held_run):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from migrations_app.engine_bridge import DjangoCheckpointStore, DjangoControlSignal, Scrubber

    store = DjangoCheckpointStore(held_run, "me", Scrubber([]), lease_seconds=0)
    store.save_plan({"ids": list(range(1000))})
    control = DjangoControlSignal(held_run.pk, min_interval=0)
    with CaptureQueriesContext(connection) as queries:
        assert store.heartbeat() is True
        store.set_phase(2)
        store.set_total(2)
        store.save_items([ItemRecord(1, "Bug", "u1", "CREATED", "PROJ-1", "101")])
        store.save_ledger([LedgerEntry(1, "PROJ-1", "101")])
        assert control.poll() == "run"
    touched = [q["sql"] for q in queries.captured_queries if "rundocument" in q["sql"].lower()]
    assert touched == []


def test_heartbeat_is_false_once_another_worker_took_the_lease(held_run):
    from migrations_app.engine_bridge import DjangoCheckpointStore, Scrubber
    from migrations_app.models import MigrationRun

    store = DjangoCheckpointStore(held_run, "me", Scrubber([]), lease_seconds=0)
    assert store.heartbeat() is True
    MigrationRun.objects.filter(pk=held_run.pk).update(lease_owner="someone-else")
    assert store.heartbeat() is False
    store.set_phase(5)  # a worker that lost the lease writes nothing to the run
    held_run.refresh_from_db()
    assert held_run.current_phase == 0


def test_the_control_signal_follows_the_api(held_run, owner_api):
    from migrations_app.engine_bridge import DjangoControlSignal

    control = DjangoControlSignal(held_run.pk, min_interval=0)
    assert control.poll() == "run"
    owner_api.post(f"/api/migrations/{held_run.id}/pause")
    assert control.poll() == "pause"
    owner_api.post(f"/api/migrations/{held_run.id}/resume")
    assert control.poll() == "run"
    owner_api.post(f"/api/migrations/{held_run.id}/cancel")
    assert control.poll() == "cancel"


def test_events_carry_the_seed_payloads(held_run, django_capture_on_commit_callbacks):
    from migrations_app.engine_bridge import DjangoEventSink, Scrubber

    sink = DjangoEventSink(held_run.pk, Scrubber([]), min_interval=0)
    with django_capture_on_commit_callbacks(execute=True):
        sink.progress(250, 5000, 45.23)
        sink.log("✓ ADO #10432 [User Story] → PROJ-142")
        sink.status("COMPLETED")
        sink.done({"created": 4997, "skipped": 0, "failed": 3})
    assert _events(held_run, "progress") == [
        {"type": "progress", "current": 250, "total": 5000, "percent": 5, "speed": 45.2}
    ]
    assert _events(held_run, "log") == [
        {"type": "log", "message": "✓ ADO #10432 [User Story] → PROJ-142"}
    ]
    assert _events(held_run, "status") == [{"type": "status", "status": "completed"}]
    assert _events(held_run, "done") == [
        {"type": "done", "stats": {"created": 4997, "skipped": 0, "failed": 3}}
    ]


def test_progress_events_are_throttled_but_the_last_one_goes_out(
    held_run, django_capture_on_commit_callbacks
):
    from migrations_app.engine_bridge import DjangoEventSink, Scrubber

    sink = DjangoEventSink(held_run.pk, Scrubber([]), min_interval=60)
    with django_capture_on_commit_callbacks(execute=True):
        for current in range(1, 101):
            sink.progress(current, 100, 10.0)
    assert [e["current"] for e in _events(held_run, "progress")] == [1, 100]


def test_events_go_out_only_after_commit(held_run, django_capture_on_commit_callbacks):
    from migrations_app.engine_bridge import DjangoEventSink, Scrubber

    sink = DjangoEventSink(held_run.pk, Scrubber([]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sink.log("hello")
    assert _events(held_run) == []
    assert len(callbacks) == 1


def test_api_transitions_publish_status_events(
    owner_api, held_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_api.post(f"/api/migrations/{held_run.id}/pause")
        owner_api.post(f"/api/migrations/{held_run.id}/cancel")
    assert [e["status"] for e in _events(held_run, "status")] == ["paused", "cancelled"]


def test_the_run_spec_is_built_from_the_stored_payload(owner_api, project, allow_private_targets):
    from migrations_app.models import MigrationRun
    from migrations_app.runner import build_spec
    from tests.fixtures.platform import start_body

    body = start_body(run_type="SAMPLE", dry_run=True, sample_size=5, migrate_links=False)
    body["enginePayload"]["source"]["type_filter"] = "Bug, Task"
    body["enginePayload"]["source"]["area_filter"] = "Fabrikam\\Web"
    body["enginePayload"]["source"]["project"] = "Fabrikam Fiber"
    run_id = owner_api.post(
        f"/api/migrations/project/{project.id}/start", body, format="json"
    ).json()["id"]
    spec = build_spec(MigrationRun.objects.get(pk=run_id))
    assert spec.run_type == "SAMPLE" and spec.dry_run is True and spec.sample_size == 5
    assert spec.type_filter == ["Bug", "Task"] and spec.area_filter == "Fabrikam\\Web"
    assert spec.migrate_links is False and spec.migrate_comments is True
    assert spec.type_overrides == {"Feature": "Epic"} and spec.state_overrides == {
        "Resolved": "Done"
    }
    assert spec.project_key == "PROJ" and spec.changed_since is None
    assert spec.ado_web_url == "http://127.0.0.1:9/contoso/Fabrikam%20Fiber"
