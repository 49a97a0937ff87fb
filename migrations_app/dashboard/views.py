"""Dashboard pages: each view checks the session user's tenant, calls one selector
or service, and renders. Runs are found through the same tenant-scoped selectors
as the API, so another tenant's id answers 404 here too."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from migrations_app import connections, schedules, selectors, services
from migrations_app.dashboard.forms import (
    ConnectionForm,
    ProjectForm,
    ScheduleForm,
    StartRunForm,
    format_json_map,
)
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.exports import crosswalk_response
from migrations_app.live import history
from migrations_app.live.views import stream_token_body
from migrations_app.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    ItemStatus,
    MigrationRun,
    Project,
    RunType,
    Tenant,
)
from migrations_app.phases import PHASES, phases_of
from migrations_app.run_digest import RollbackSummary, rollback_summary

LOG_TAIL = 200
CHART_POINTS = 600
FAILED_ROWS = 200

View = Callable[..., HttpResponseBase]


def tenant_member(view: View) -> View:
    """Session login, and a tenant (operators without one use the admin)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request.user, "tenant", None) is None:
            raise PermissionDenied("This user belongs to no tenant; operators use the admin.")
        return view(request, *args, **kwargs)

    return wrapped


def _tenant(request: HttpRequest) -> Tenant:
    tenant = request.user.tenant  # type: ignore[union-attr]
    assert tenant is not None
    return tenant


def _user_id(request: HttpRequest) -> int:
    return int(request.user.pk)  # type: ignore[arg-type]  # tenant_member: logged in


def _project(request: HttpRequest, project_id: str) -> Project:
    try:
        return selectors.project_get(tenant=_tenant(request), project_id=project_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _run(request: HttpRequest, project_id: str, run_id: str) -> MigrationRun:
    try:
        run = selectors.run_get(tenant=_tenant(request), run_id=run_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    if str(run.project_id) != str(_project(request, project_id).pk):
        raise Http404("No such run in this project.")
    return run


def phase_name(number: int, run_type: str = "") -> str:
    names = phases_of(run_type) if run_type else PHASES
    return names.get(str(number), "not started" if number == 0 else f"phase {number}")


# --------------------------------------------------------------------------- projects
@tenant_member
@require_http_methods(["GET", "POST"])
def projects(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(tenant=_tenant(request), **form.cleaned_data)
        except ApplicationError as exc:
            for field, errors in exc.details.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("dashboard:project", project_id=project.pk)
    rows = [
        (project, selectors.project_last_run(project))
        for project in selectors.project_list(tenant=_tenant(request))
    ]
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/projects.html", {"rows": rows, "form": form}, status=status)


@tenant_member
@require_GET
def project(request: HttpRequest, project_id: str) -> HttpResponse:
    return _project_page(request, _project(request, project_id))


def _project_page(
    request: HttpRequest,
    proj: Project,
    *,
    form: StartRunForm | None = None,
    connection_form: ConnectionForm | None = None,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    runs = list(selectors.run_list(tenant=_tenant(request), project_id=proj.pk)[:50])
    connection = selectors.connection_find(proj)
    schedule = selectors.schedule_find(proj)
    mapped = next((r for r in runs if r.digest.type_mappings), None)
    suggested = next((r for r in runs if r.digest.field_suggestions), None)
    if form is None:
        last = next((r for r in runs if r.type != RunType.ROLLBACK), None)
        initial = StartRunForm.initial_from(last, connection)
        if suggested is not None and request.GET.get("field_map") == "suggested":
            # "Use the suggestions": the form shows them to be read, changed, and sent.
            initial["field_map"] = format_json_map(suggested.digest.suggested_field_map)
        form = StartRunForm(initial=initial, connection=connection)
    now = timezone.now()
    context = {
        "project": proj,
        "runs": runs,
        "form": form,
        "active": next((r for r in runs if r.status in ACTIVE_STATUSES), None),
        "mapped_run": mapped,
        "type_mappings": mapped.digest.type_mappings if mapped else [],
        "state_mappings": mapped.digest.state_mappings if mapped else [],
        "suggested_run": suggested,
        "field_suggestions": suggested.digest.field_suggestions if suggested else [],
        "connection": connection,
        "connection_form": connection_form or ConnectionForm(connection=connection),
        "schedule": schedule,
        "schedule_form": schedule_form or ScheduleForm(schedule=schedule),
        "schedule_status": selectors.schedule_status(schedule, now) if schedule else None,
        "schedule_next": selectors.schedule_next_tick(schedule, now) if schedule else None,
        "schedule_ticks": selectors.schedule_recent_ticks(schedule, 10) if schedule else [],
        "schedule_minutes": f"{schedule.interval_seconds / 60:g}" if schedule else "",
    }
    return render(request, "dashboard/project.html", context, status=status)


@tenant_member
@require_POST
def start_run(request: HttpRequest, project_id: str) -> HttpResponse:
    """The start form; "Preview mappings" starts a SAMPLE dry run with the same settings.
    Secrets left blank come from the project's saved connection."""
    proj = _project(request, project_id)
    form = StartRunForm(request.POST, connection=selectors.connection_find(proj))
    preview = "preview" in request.POST
    start = form.start_request(project=proj, preview=preview)
    if start is not None:
        try:
            run = services.run_start(project=proj, request=start)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            label = "Mapping preview (SAMPLE dry run)" if preview else f"{run.type} run"
            messages.success(request, f"{label} started.")
            return redirect("dashboard:run", project_id=proj.pk, run_id=run.pk)
    return _project_page(request, proj, form=form, status=400)


# --------------------------------------------------------------------------- saved settings
@tenant_member
@require_POST
def connection_save(request: HttpRequest, project_id: str) -> HttpResponse:
    """Save or rotate the connection: a blank secret keeps the saved one."""
    proj = _project(request, project_id)
    form = ConnectionForm(request.POST, connection=selectors.connection_find(proj))
    if form.save(proj) is None:
        return _project_page(request, proj, connection_form=form, status=400)
    messages.success(request, "Connection saved.")
    return redirect("dashboard:project", project_id=proj.pk)


@tenant_member
@require_POST
def connection_delete(request: HttpRequest, project_id: str) -> HttpResponse:
    proj = _project(request, project_id)
    try:
        connections.connection_delete(project=proj)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Saved connection removed.")
    return redirect("dashboard:project", project_id=proj.pk)


@tenant_member
@require_POST
def schedule_save(request: HttpRequest, project_id: str) -> HttpResponse:
    proj = _project(request, project_id)
    form = ScheduleForm(request.POST, schedule=selectors.schedule_find(proj))
    if form.save(proj, selectors.project_last_run(proj)) is None:
        return _project_page(request, proj, schedule_form=form, status=400)
    messages.success(request, "Schedule saved.")
    return redirect("dashboard:project", project_id=proj.pk)


SCHEDULE_CONTROLS: dict[str, Callable[..., Any]] = {
    "pause": schedules.schedule_pause,
    "resume": schedules.schedule_resume,
    "delete": schedules.schedule_delete,
}
SCHEDULE_DONE = {"pause": "Schedule paused.", "resume": "Schedule resumed.",
                 "delete": "Schedule deleted."}  # fmt: skip


@tenant_member
@require_POST
def schedule_control(request: HttpRequest, project_id: str, action: str) -> HttpResponse:
    proj = _project(request, project_id)
    try:
        SCHEDULE_CONTROLS[action](project=proj)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, SCHEDULE_DONE[action])
    return redirect("dashboard:project", project_id=proj.pk)


# --------------------------------------------------------------------------- runs
def _run_state(run: MigrationRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "statusReason": run.status_reason,
        "active": run.status in ACTIVE_STATUSES,
        "totalItems": run.total_count,
        "created": run.success_count - run.updated_count,
        "removed": run.success_count if run.type == RunType.ROLLBACK else 0,
        "updated": run.updated_count,
        "skipped": run.skipped_count,
        "failed": run.failure_count,
        "progressPercent": run.progress_percent,
        "speed": run.speed,
        "currentPhase": run.current_phase,
        "phaseName": phase_name(run.current_phase, run.type),
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
    }


@tenant_member
@require_GET
def run_page(request: HttpRequest, project_id: str, run_id: str) -> HttpResponse:
    run = _run(request, project_id, run_id)
    upto = history.current_eid(run)  # the page shows events up to here, the stream goes on
    logs = history.recent_events(run, "log", LOG_TAIL, upto)
    progress = history.recent_events(run, "progress", CHART_POINTS, upto)
    last_progress = progress[-1].payload if progress else None
    chart = [{"t": p.created.timestamp(), "speed": p.payload.get("speed", 0)} for p in progress]
    context = {
        "project": run.project,
        "run": run,
        "state": _run_state(run),
        "phases": phases_of(run.type),
        "last_progress": last_progress,
        "logs": [e.payload.get("message", "") for e in logs],
        "chart": chart,
        "last_event_id": history.last_event_id(run, upto),
        "stream_token": stream_token_body(_user_id(request), run.pk)["token"],
        "finished": run.status in FINISHED_STATUSES,
        "can_roll_back": _can_roll_back(run),
        "rollbacks": selectors.rollbacks_of(run=run),
        **_panels_context(run),
    }
    return render(request, "dashboard/run.html", context)


def _can_roll_back(run: MigrationRun) -> bool:
    return run.type != RunType.ROLLBACK and not run.dry_run and run.status in FINISHED_STATUSES


def _rollback_summary(run: MigrationRun | None) -> RollbackSummary | None:
    """A rollback run's counts per kind and what it leaves, from the run's report digest
    (None until it has a report)."""
    if run is None or run.type != RunType.ROLLBACK:
        return None
    return run.digest.rollback


# --------------------------------------------------------------------------- rollback
@tenant_member
@require_POST
def rollback_preview(request: HttpRequest, project_id: str, run_id: str) -> HttpResponse:
    """Start a dry rollback: its report is what the confirmation page shows."""
    run = _run(request, project_id, run_id)
    try:
        services.run_rollback(run=run, dry_run=True)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:run", project_id=project_id, run_id=run.pk)
    return redirect("dashboard:rollback", project_id=project_id, run_id=run.pk)


@tenant_member
@require_http_methods(["GET", "POST"])
def rollback(request: HttpRequest, project_id: str, run_id: str) -> HttpResponse:
    """GET: the confirmation, with the dry run's counts. POST: roll back for real."""
    run = _run(request, project_id, run_id)
    if request.method == "POST":
        try:
            started = services.run_rollback(run=run, dry_run=False)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Rollback started.")
            return redirect("dashboard:run", project_id=project_id, run_id=started.pk)
    preview = selectors.rollback_preview(run=run)
    context = {
        "project": run.project,
        "run": run,
        "preview": preview,
        "summary": _rollback_summary(preview),
        "preview_done": preview is not None and preview.status in FINISHED_STATUSES,
        "can_roll_back": _can_roll_back(run),
    }
    return render(
        request, "dashboard/rollback.html", context, status=400 if request.method == "POST" else 200
    )


def _panels_context(run: MigrationRun) -> dict[str, Any]:
    failed = list(selectors.run_items(run=run, status=ItemStatus.FAILED)[:FAILED_ROWS])
    digest = run.digest
    return {
        "run": run,
        "failed_items": failed,
        "failed_more": max(0, run.failure_count - len(failed)),
        "type_mappings": digest.type_mappings,
        "state_mappings": digest.state_mappings,
        "rollback": _rollback_summary(run),
    }


@tenant_member
@require_GET
def run_state(request: HttpRequest, project_id: str, run_id: str) -> JsonResponse:
    return JsonResponse(_run_state(_run(request, project_id, run_id)))


@tenant_member
@require_GET
def run_panels(request: HttpRequest, project_id: str, run_id: str) -> HttpResponse:
    """The failed items and mappings, re-fetched by the page when the run moves on."""
    run = _run(request, project_id, run_id)
    return render(request, "dashboard/_run_panels.html", _panels_context(run))


CONTROLS: dict[str, Callable[..., MigrationRun]] = {
    "pause": services.run_request_pause,
    "resume": services.run_resume,
    "cancel": services.run_cancel,
}


@tenant_member
@require_POST
def run_control(request: HttpRequest, project_id: str, run_id: str, action: str) -> HttpResponse:
    """Pause, resume or cancel through the services; JSON for the page's script."""
    run = _run(request, project_id, run_id)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        run = CONTROLS[action](run=run)
    except ApplicationError as exc:
        if wants_json:
            body = {"code": exc.code.value, "message": exc.message, "details": exc.details}
            return JsonResponse(body, status=exc.status)
        messages.error(request, exc.message)
    else:
        if wants_json:
            return JsonResponse({"id": str(run.pk), "status": run.status})
        messages.success(request, f"Run {run.status.lower()}.")
    return redirect("dashboard:run", project_id=project_id, run_id=run.pk)


@tenant_member
@require_POST
def stream_token(request: HttpRequest, project_id: str, run_id: str) -> JsonResponse:
    """A fresh ?token= for the page's EventSource (the rendered one lasts five minutes)."""
    run = _run(request, project_id, run_id)
    return JsonResponse(stream_token_body(_user_id(request), run.pk))


@tenant_member
@require_GET
def run_item(request: HttpRequest, project_id: str, run_id: str, ado_id: int) -> HttpResponse:
    run = _run(request, project_id, run_id)
    item = selectors.run_item_find(run=run, ado_id=ado_id)
    if item is None:
        raise Http404("No such item in this run.")
    return render(
        request, "dashboard/item.html", {"project": run.project, "run": run, "item": item}
    )


@tenant_member
@require_GET
def run_report(request: HttpRequest, project_id: str, run_id: str) -> HttpResponse:
    run = _run(request, project_id, run_id)
    report = selectors.run_report(run=run)
    pretty = json.dumps(report, indent=2, ensure_ascii=False) if report else ""
    summary = rollback_summary(report) if run.type == RunType.ROLLBACK else None
    context = {
        "project": run.project,
        "run": run,
        "report": report or {},
        "pretty": pretty,
        "rollback": summary,
    }
    return render(request, "dashboard/report.html", context)


@tenant_member
@require_GET
def run_crosswalk(request: HttpRequest, project_id: str, run_id: str) -> StreamingHttpResponse:
    """The API's crosswalk CSV, for the session-authenticated page."""
    run = _run(request, project_id, run_id)
    return crosswalk_response(run)


def run_shortcut(request: HttpRequest, run_id: str) -> HttpResponseRedirect:
    """/runs/{id} → the run's page under its project."""
    if not request.user.is_authenticated or getattr(request.user, "tenant", None) is None:
        return redirect(f"{reverse('login')}?next={request.path}")
    try:
        run = selectors.run_get(tenant=_tenant(request), run_id=run_id)
    except ApplicationError as exc:
        raise Http404(ErrorCode.MIGRATION_NOT_FOUND.value) from exc
    return redirect("dashboard:run", project_id=run.project_id, run_id=run.pk)
