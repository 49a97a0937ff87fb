"""What the Celery task does: claim the run, build the engine's inputs from the
database, call the engine, record the outcome.

A migration run goes to :func:`engine.pipeline.run_migration` with an ADO source
and a Jira target; a ROLLBACK run goes to :func:`engine.rollback.run_rollback`,
which needs no ADO client (a rollback only talks to Jira).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone
from redis import Redis

from engine.ado import AdoClient
from engine.jira import JiraClient
from engine.netpolicy import AddressPolicy
from engine.pipeline import run_migration
from engine.ports import RollbackSpec, RunOutcome, RunSpec, SourceItem
from engine.ratelimit import RateLimiter, limiter_for
from engine.rollback import run_rollback
from engine.schedule import SchedulerSettings
from engine.schedule_redis import scheduler_for
from migrations_app import crypto, events, services
from migrations_app.engine_bridge import (
    DjangoCheckpointStore,
    DjangoControlSignal,
    DjangoEventSink,
    Scrubber,
)
from migrations_app.models import MigrationRun, RunItem, RunStatus, RunType

logger = logging.getLogger(__name__)

# How long a run waits for a stopping run of its project to release its lease.
PROJECT_BUSY_RETRY_SECONDS = 2.0
DEFAULT_ADO_BASE_URL = "https://dev.azure.com"


def build_spec(run: MigrationRun) -> RunSpec:
    source, target, options = run.source, run.target, run.options
    base = str(source.get("base_url") or DEFAULT_ADO_BASE_URL).rstrip("/")
    org, project = str(source.get("org", "")), str(source.get("project", ""))
    return RunSpec(
        run_type=run.type,  # type: ignore[arg-type]
        project_key=str(target.get("project_key", "")),
        dry_run=run.dry_run,
        area_filter=source.get("area_filter") or None,
        type_filter=list(source.get("type_filter") or []),
        type_overrides=dict(options.get("type_overrides") or {}),
        state_overrides=dict(options.get("state_overrides") or {}),
        migrate_comments=bool(options.get("migrate_comments", True)),
        migrate_attachments=bool(options.get("migrate_attachments", True)),
        migrate_links=bool(options.get("migrate_links", True)),
        sample_size=int(options.get("sample_size") or 10),
        changed_since=run.changed_since.isoformat() if run.changed_since else None,
        ado_web_url=f"{base}/{quote(org)}/{quote(project)}",
        settle_seconds=settings.MIGRATOR_SETTLE_SECONDS,
        run_id=str(run.pk),
        field_map=dict(options.get("field_map") or {}),
        user_map=dict(options.get("user_map") or {}),
        link_type_map=dict(options.get("link_type_map") or {}),
        migrate_history=bool(options.get("migrate_history", True)),
    )


def build_rollback_spec(run: MigrationRun) -> RollbackSpec:
    """The rolled-back run's items (for the rollback's own item rows and to find its
    issues whose create answer was lost)."""
    of_run = run.rollback_of_id
    rows = RunItem.objects.filter(run_id=of_run).order_by("ado_id")
    items = [
        SourceItem(ado_id, ado_type, ado_url)
        for ado_id, ado_type, ado_url in rows.values_list("ado_id", "ado_type", "ado_url")
    ]
    return RollbackSpec(
        of_run=str(of_run or ""),
        project_key=str(run.target.get("project_key", "")),
        dry_run=run.dry_run,
        items=items,
        settle_seconds=settings.MIGRATOR_SETTLE_SECONDS,
    )


def jira_limiter(site: str) -> RateLimiter:
    """The Jira site's scheduler (or, in the "single" mode, its one adaptive limiter).

    Shared by every worker through Redis when REDIS_URL is set, in the process otherwise.
    """
    redis_client = Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    if settings.MIGRATOR_JIRA_SCHEDULER == "endpoint":
        return scheduler_for(site, redis_client, jira_schedule_settings())
    return limiter_for(
        site,
        redis_client,
        initial_rate=settings.MIGRATOR_JIRA_INITIAL_RATE,
        max_rate=settings.MIGRATOR_JIRA_MAX_RATE,
        increase=settings.MIGRATOR_JIRA_RATE_INCREASE,
        max_in_flight=settings.MIGRATOR_JIRA_MAX_IN_FLIGHT,
    )


def jira_schedule_settings() -> SchedulerSettings:
    """The endpoint scheduler's settings from the environment (see .env.example)."""
    return SchedulerSettings(
        rates={k.upper(): float(v) for k, v in settings.MIGRATOR_JIRA_METHOD_RATES.items()},
        route_rates={str(k): float(v) for k, v in settings.MIGRATOR_JIRA_ROUTE_RATES.items()},
        issue_windows=settings.MIGRATOR_JIRA_ISSUE_WINDOWS_PARSED,
        max_in_flight=settings.MIGRATOR_JIRA_MAX_IN_FLIGHT,
    )


def address_policy() -> AddressPolicy:
    """The connect-time guard for both clients: the start-up check's rules, per connection."""
    allow = settings.MIGRATOR_ALLOW_PRIVATE_TARGETS
    return AddressPolicy(
        allow_private=allow, allow_http=allow, dns_timeout=settings.MIGRATOR_DNS_TIMEOUT
    )


def execute_run(run_id: str, owner: str) -> services.Claim:
    """Run (or continue) one migration run in this worker; see services for the states."""
    claimed_at = timezone.now()
    claim = services.run_claim(run_id, owner)
    if claim is services.Claim.PROJECT_BUSY:
        services.dispatch_later(run_id, countdown=PROJECT_BUSY_RETRY_SECONDS)
    if claim is not services.Claim.CLAIMED:
        logger.info("run %s not taken by %s: %s", run_id, owner, claim.value)
        return claim

    run = MigrationRun.objects.get(pk=run_id)
    pat, api_token = crypto.decrypt(run.pat_encrypted), crypto.decrypt(run.api_token_encrypted)
    scrubber = Scrubber([pat, api_token])
    sink = DjangoEventSink(run.pk, scrubber)
    try:
        outcome = _call_engine(run, owner, scrubber, sink, pat=pat, api_token=api_token)
    except Exception as exc:  # the engine's own failures end the run, never the worker
        reason = scrubber.text(f"{type(exc).__name__}: {exc}")
        logger.exception("run %s failed in the engine", run_id)
        if services.run_fail(run_id, reason=reason, owner=owner):
            sink.log(f"✗ Run failed: {reason}")
            sink.done(_stats_of(run.pk))
        return claim
    _finish(run_id, owner, outcome, scrubber, claimed_at)
    return claim


def _call_engine(
    run: MigrationRun,
    owner: str,
    scrubber: Scrubber,
    sink: DjangoEventSink,
    *,
    pat: str,
    api_token: str,
) -> RunOutcome:
    if run.type == RunType.ROLLBACK and run.rollback_of_id is None:
        raise RuntimeError("the run to roll back no longer exists")
    jira_url = str(run.target.get("base_url", ""))
    target = JiraClient(
        jira_url,
        str(run.target.get("email", "")),
        api_token,
        limiter=jira_limiter(jira_url),
        max_in_flight=settings.MIGRATOR_JIRA_MAX_IN_FLIGHT,
        timeout=settings.MIGRATOR_HTTP_TIMEOUT,
        policy=address_policy(),
    )
    store = DjangoCheckpointStore(run, owner, scrubber)
    control = DjangoControlSignal(run.pk)
    if run.type == RunType.ROLLBACK:
        return run_rollback(
            build_rollback_spec(run), target=target, store=store, events=sink, control=control
        )
    source = AdoClient(
        str(run.source.get("base_url") or DEFAULT_ADO_BASE_URL),
        str(run.source.get("org", "")),
        str(run.source.get("project", "")),
        pat,
        pool_size=settings.MIGRATOR_HTTP_POOL_SIZE,
        timeout=settings.MIGRATOR_HTTP_TIMEOUT,
        policy=address_policy(),
    )
    return run_migration(
        build_spec(run), source=source, target=target, store=store, events=sink, control=control
    )


def _finish(
    run_id: str, owner: str, outcome: RunOutcome, scrubber: Scrubber, claimed_at: datetime
) -> None:
    final = services.run_finish(
        run_id,
        owner,
        status=str(outcome.status),
        reason=scrubber.text(str(outcome.reason or "")),
        claimed_at=claimed_at,
    )
    if final is None:
        logger.warning("run %s: lease lost to another worker; outcome dropped", run_id)
    elif final != outcome.status and final in (RunStatus.CANCELLED, RunStatus.FAILED):
        events.publish_status(run_id, final)


def _stats_of(run_id: uuid.UUID) -> dict[str, int]:
    run = MigrationRun.objects.get(pk=run_id)
    if run.type == RunType.ROLLBACK:
        return {
            "created": 0,
            "removed": run.success_count,
            "skipped": run.skipped_count,
            "failed": run.failure_count,
        }
    return {
        "created": run.success_count - run.updated_count,
        "updated": run.updated_count,
        "skipped": run.skipped_count,
        "failed": run.failure_count,
    }
