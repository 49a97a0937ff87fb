"""Dashboard forms. Each validates with the API's own serializer (``StartIn``,
``ConnectionIn``, ``ScheduleIn``) and the services' checks, so the page shows
exactly the API's validation messages, each next to its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import forms
from rest_framework.serializers import Serializer

from migrations_app import connections, schedules, services
from migrations_app.api import connection_api, schedule_api
from migrations_app.api import serializers as api_serializers
from migrations_app.api.errors import flatten_errors
from migrations_app.errors import ApplicationError, ErrorCode
from migrations_app.models import (
    MIGRATION_TYPES,
    MigrationRun,
    Project,
    ProjectConnection,
    RunType,
    SyncSchedule,
)


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


def parse_overrides(text: str) -> dict[str, str]:
    """``Feature = Epic`` per line → {"Feature": "Epic"}."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source, sep, target = line.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise forms.ValidationError(f"Line {number}: write 'ADO name = Jira name'.")
        out[source.strip()] = target.strip()
    return out


def format_overrides(mapping: dict[str, str] | None) -> str:
    return "\n".join(f"{k} = {v}" for k, v in (mapping or {}).items())


def parse_json_map(text: str) -> dict[str, Any]:
    """A JSON object (the field map), or an empty map for a blank field."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise forms.ValidationError('Write a JSON object: {"ADO field": {"field": "Jira field"}}.')
    return value


def format_json_map(mapping: dict[str, Any] | None) -> str:
    return json.dumps(mapping, indent=2, ensure_ascii=False) if mapping else ""


# Dotted API field paths → form fields, for showing the API's errors in place.
FIELD_OF_PATH = {
    "type": "type",
    "enginePayload.source.base_url": "ado_base_url",
    "enginePayload.source.org": "org",
    "enginePayload.source.project": "ado_project",
    "enginePayload.source.pat": "pat",
    "enginePayload.source.area_filter": "area_filter",
    "enginePayload.source.type_filter": "type_filter",
    "enginePayload.target.base_url": "jira_base_url",
    "enginePayload.target.email": "email",
    "enginePayload.target.api_token": "api_token",
    "enginePayload.target.project_key": "project_key",
    "enginePayload.options.dry_run": "dry_run",
    "enginePayload.options.sample_size": "sample_size",
    "enginePayload.options.type_overrides": "type_overrides",
    "enginePayload.options.state_overrides": "state_overrides",
    "enginePayload.options.migrate_comments": "migrate_comments",
    "enginePayload.options.migrate_attachments": "migrate_attachments",
    "enginePayload.options.migrate_links": "migrate_links",
    "enginePayload.options.migrate_history": "migrate_history",
    "enginePayload.options.field_map": "field_map",
    "enginePayload.options.user_map": "user_map",
    "enginePayload.options.link_type_map": "link_type_map",
}


def field_for_path(path: str) -> str | None:
    for prefix, field in FIELD_OF_PATH.items():
        if path == prefix or path.startswith(prefix + "."):
            return field
    return None


class StartRunForm(forms.Form):
    type = forms.ChoiceField(
        choices=[(t.value, t.label) for t in MIGRATION_TYPES], initial=RunType.FULL,
        label="Run type",
    )  # fmt: skip
    ado_base_url = forms.CharField(
        required=False, label="Azure DevOps URL", initial=api_serializers.DEFAULT_ADO_BASE_URL
    )
    org = forms.CharField(required=False, label="Organisation (or collection)")
    ado_project = forms.CharField(required=False, label="ADO project")
    pat = forms.CharField(
        required=False, label="Personal access token", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip
    area_filter = forms.CharField(required=False, label="Area path (and below)")
    type_filter = forms.CharField(required=False, label="Work item types (comma-separated)")
    jira_base_url = forms.CharField(required=False, label="Jira site URL")
    email = forms.CharField(required=False, label="Jira account email")
    api_token = forms.CharField(
        required=False, label="Jira API token", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip
    project_key = forms.CharField(required=False, label="Jira project key")
    dry_run = forms.BooleanField(required=False, label="Dry run (read only, no Jira writes)")
    sample_size = forms.IntegerField(required=False, min_value=1, label="Sample size (SAMPLE runs)")
    migrate_comments = forms.BooleanField(required=False, initial=True, label="Comments")
    migrate_attachments = forms.BooleanField(required=False, initial=True, label="Attachments")
    migrate_links = forms.BooleanField(required=False, initial=True, label="Links")
    migrate_history = forms.BooleanField(required=False, initial=True, label="History")
    type_overrides = forms.CharField(
        required=False, label="Type overrides",
        help_text="One per line: ADO type = Jira issue type",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Feature = Epic"}),
    )  # fmt: skip
    state_overrides = forms.CharField(
        required=False, label="State overrides", help_text="One per line: ADO state = Jira status",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Resolved = Done"}),
    )  # fmt: skip
    field_map = forms.CharField(
        required=False, label="Field map (JSON)",
        help_text='ADO field → {"field": Jira field, "values": {ADO value: Jira option}}. '
        "A dry run suggests one.",
        widget=forms.Textarea(attrs={
            "rows": 4, "placeholder": '{"Custom.Customer": {"field": "Customer"}}'}),
    )  # fmt: skip
    user_map = forms.CharField(
        required=False, label="User map",
        help_text="One per line: ADO e-mail, unique name or display name = "
        "Jira e-mail or accountId",
        widget=forms.Textarea(attrs={
            "rows": 3, "placeholder": "ann@fabrikam.example = ann@fabrikam-corp.example"}),
    )  # fmt: skip
    link_type_map = forms.CharField(
        required=False, label="Link type map",
        help_text="One per line: ADO link type = Jira link type",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Affects = Blocks"}),
    )  # fmt: skip

    def __init__(self, *args: Any, connection: ProjectConnection | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if connection is not None and connection.has_pat:
            self.fields["pat"].help_text = "Leave blank to use the project's saved PAT."
        if connection is not None and connection.has_api_token:
            self.fields["api_token"].help_text = "Leave blank to use the project's saved token."

    def clean_type_overrides(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("type_overrides") or "")

    def clean_state_overrides(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("state_overrides") or "")

    def clean_field_map(self) -> dict[str, Any]:
        return parse_json_map(self.cleaned_data.get("field_map") or "")

    def clean_user_map(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("user_map") or "")

    def clean_link_type_map(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("link_type_map") or "")

    @classmethod
    def initial_from(
        cls, run: MigrationRun | None, connection: ProjectConnection | None = None
    ) -> dict[str, Any]:
        """The last run's settings and the saved connection (never a secret), so a
        rerun is one click away when the project holds its secrets."""
        saved = connection_initial(connection)
        if run is None:
            return saved
        return cls._initial_of_run(run) | saved

    @classmethod
    def _initial_of_run(cls, run: MigrationRun) -> dict[str, Any]:
        source, target, options = run.source, run.target, run.options
        return {
            "type": run.type,
            "ado_base_url": source.get("base_url", api_serializers.DEFAULT_ADO_BASE_URL),
            "org": source.get("org", ""),
            "ado_project": source.get("project", ""),
            "area_filter": source.get("area_filter") or "",
            "type_filter": ", ".join(source.get("type_filter") or []),
            "jira_base_url": target.get("base_url", ""),
            "email": target.get("email", ""),
            "project_key": target.get("project_key", ""),
            "dry_run": bool(options.get("dry_run", False)),
            "sample_size": options.get("sample_size"),
            "migrate_comments": options.get("migrate_comments", True),
            "migrate_attachments": options.get("migrate_attachments", True),
            "migrate_links": options.get("migrate_links", True),
            "type_overrides": format_overrides(options.get("type_overrides")),
            "state_overrides": format_overrides(options.get("state_overrides")),
            "migrate_history": options.get("migrate_history", True),
            "field_map": format_json_map(options.get("field_map")),
            "user_map": format_overrides(options.get("user_map")),
            "link_type_map": format_overrides(options.get("link_type_map")),
        }

    def api_body(self, *, preview: bool = False) -> dict[str, Any]:
        """The POST .../start body the API would receive for this form."""
        # Fields the form itself refused are left at harmless defaults here, so that
        # the API's messages about the other fields show in the same round trip.
        data = (
            {name: None for name in self.fields}
            | {"type_overrides": {}, "state_overrides": {}}
            | {"field_map": {}, "user_map": {}, "link_type_map": {}}
            | self.cleaned_data
        )
        source: dict[str, Any] = {
            "org": data["org"] or "",
            "project": data["ado_project"] or "",
            "area_filter": data["area_filter"] or None,
            "type_filter": data["type_filter"] or None,
        }
        target: dict[str, Any] = {
            "base_url": data["jira_base_url"] or "",
            "email": data["email"] or "",
            "project_key": data["project_key"] or "",
        }
        # A blank secret is left out: the project's saved one is used (or its absence
        # is reported on the field).
        if data["pat"]:
            source["pat"] = data["pat"]
        if data["api_token"]:
            target["api_token"] = data["api_token"]
        if data["ado_base_url"]:
            source["base_url"] = data["ado_base_url"]
        options: dict[str, Any] = {
            "migrate_attachments": bool(data["migrate_attachments"]),
            "migrate_comments": bool(data["migrate_comments"]),
            "migrate_links": bool(data["migrate_links"]),
            "dry_run": True if preview else bool(data["dry_run"]),
            "type_overrides": data["type_overrides"],
            "state_overrides": data["state_overrides"],
            "migrate_history": bool(data["migrate_history"]),
            "field_map": data["field_map"],
            "user_map": data["user_map"],
            "link_type_map": data["link_type_map"],
        }
        if data["sample_size"] is not None:
            options["sample_size"] = data["sample_size"]
        return {
            "type": RunType.SAMPLE if preview else (data["type"] or ""),
            "enginePayload": {"source": source, "target": target, "options": options},
        }

    def start_request(
        self, *, project: Project, preview: bool = False
    ) -> services.StartRequest | None:
        """Validate like the API (the saved connection completing what is left out);
        None (with errors on the form) when invalid."""
        form_valid = self.is_valid()
        serializer = api_serializers.StartIn(data=self.api_body(preview=preview))
        if not serializer.is_valid():
            self.add_api_errors(flatten_errors(serializer.errors))
            return None
        if not form_valid:
            return None
        validated = serializer.validated_data
        try:
            return connections.resolve_start(
                project=project, run_type=validated["type"], payload=validated["enginePayload"]
            )
        except ApplicationError as exc:
            self.add_api_errors(exc.details)
            return None

    def add_api_errors(self, details: dict[str, Any]) -> None:
        for path, messages in details.items():
            field = field_for_path(path)
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field, str(message))


# --------------------------------------------------------------------------- saved connection
CONNECTION_FIELD_OF_PATH = {
    "source.base_url": "ado_base_url",
    "source.org": "org",
    "source.project": "ado_project",
    "source.pat": "pat",
    "target.base_url": "jira_base_url",
    "target.email": "email",
    "target.api_token": "api_token",
    "target.project_key": "project_key",
}


def connection_initial(connection: ProjectConnection | None) -> dict[str, Any]:
    if connection is None:
        return {}
    return {
        "ado_base_url": connection.ado_base_url,
        "org": connection.ado_org,
        "ado_project": connection.ado_project,
        "jira_base_url": connection.jira_base_url,
        "email": connection.jira_email,
        "project_key": connection.jira_project_key,
    }


def _secret_help(saved_at: datetime | None, what: str) -> str:
    if saved_at is None:
        return f"No {what} saved."
    return f"Saved {saved_at:%Y-%m-%d %H:%M} UTC; leave blank to keep it, or enter a new one."


class ConnectionForm(forms.Form):
    """The project's saved connection (labels distinct from the start form's)."""

    prefix = "connection"

    ado_base_url = forms.CharField(
        required=False, label="Source URL", initial=api_serializers.DEFAULT_ADO_BASE_URL
    )
    org = forms.CharField(required=False, label="Source organisation")
    ado_project = forms.CharField(required=False, label="Source project")
    pat = forms.CharField(
        required=False, label="Source PAT", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip
    jira_base_url = forms.CharField(required=False, label="Target site URL")
    email = forms.CharField(required=False, label="Target account email")
    api_token = forms.CharField(
        required=False, label="Target API token", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip
    project_key = forms.CharField(required=False, label="Target project key")

    def __init__(self, *args: Any, connection: ProjectConnection | None = None, **kwargs: Any):
        kwargs.setdefault("initial", connection_initial(connection))
        super().__init__(*args, **kwargs)
        self.fields["pat"].help_text = _secret_help(
            connection.pat_updated_at if connection else None, "PAT"
        )
        self.fields["api_token"].help_text = _secret_help(
            connection.api_token_updated_at if connection else None, "API token"
        )

    def api_body(self) -> dict[str, Any]:
        """The PUT .../connection body for this form (a blank secret keeps the saved one)."""
        data = {name: None for name in self.fields} | self.cleaned_data
        source = {"org": data["org"] or "", "project": data["ado_project"] or ""}
        if data["ado_base_url"]:
            source["base_url"] = data["ado_base_url"]
        target = {
            "base_url": data["jira_base_url"] or "",
            "email": data["email"] or "",
            "project_key": data["project_key"] or "",
        }
        if data["pat"]:
            source["pat"] = data["pat"]
        if data["api_token"]:
            target["api_token"] = data["api_token"]
        return {"source": source, "target": target}

    def save(self, project: Project) -> ProjectConnection | None:
        """Validate like the API and save; None (with errors on the form) when invalid."""
        if not self.is_valid():
            return None
        serializer = connection_api.ConnectionIn(data=self.api_body())
        if not serializer.is_valid():
            self.add_api_errors(flatten_errors(serializer.errors))
            return None
        change = connection_api.connection_change(dict(serializer.validated_data))
        try:
            connection, _ = connections.connection_put(project=project, change=change)
        except ApplicationError as exc:
            self.add_api_errors(exc.details)
            return None
        return connection

    def add_api_errors(self, details: dict[str, Any]) -> None:
        for path, messages in details.items():
            field = CONNECTION_FIELD_OF_PATH.get(path)
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field, str(message))


# --------------------------------------------------------------------------- schedule
SCHEDULE_FIELD_OF_PATH = {
    "intervalMinutes": "interval_minutes",
    "startAt": "start_at",
    "cutoverAt": "cutover_at",
}
RUN_OPTIONS = ("migrate_attachments", "migrate_comments", "migrate_links", "type_overrides",
               "state_overrides", "field_map", "user_map", "link_type_map",
               "migrate_history")  # fmt: skip


def _local_input(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def options_of_run(run: MigrationRun | None) -> dict[str, Any]:
    """A new schedule's options: those of the project's last run (as the API takes them)."""
    if run is None:
        return {}
    options = {k: run.options[k] for k in RUN_OPTIONS if k in run.options}
    options["area_filter"] = run.source.get("area_filter") or None
    options["type_filter"] = ", ".join(run.source.get("type_filter") or []) or None
    return options


class ScheduleForm(forms.Form):
    """Every N minutes between a first run and the cut-over (times in UTC)."""

    prefix = "schedule"

    interval_minutes = forms.FloatField(required=False, label="Every (minutes)")
    start_at = forms.DateTimeField(
        required=False, label="First run (UTC)",
        help_text="Blank: now (for a new schedule).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    cutover_at = forms.DateTimeField(
        required=False, label="Cut-over (UTC)",
        help_text="No run starts at or after the cut-over.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip

    def __init__(self, *args: Any, schedule: SyncSchedule | None = None, **kwargs: Any):
        if schedule is not None:
            kwargs.setdefault(
                "initial",
                {
                    "interval_minutes": f"{schedule.interval_seconds / 60:g}",
                    "start_at": _local_input(schedule.start_at),
                    "cutover_at": _local_input(schedule.cutover_at),
                },
            )
        super().__init__(*args, **kwargs)
        self.schedule = schedule

    def api_body(self) -> dict[str, Any]:
        data = {name: None for name in self.fields} | self.cleaned_data
        body: dict[str, Any] = {}
        if data["interval_minutes"] is not None:
            body["intervalMinutes"] = data["interval_minutes"]
        for field, key in (("start_at", "startAt"), ("cutover_at", "cutoverAt")):
            if data[field] is not None:
                body[key] = data[field].replace(tzinfo=data[field].tzinfo or UTC).isoformat()
        return body

    def save(self, project: Project, last_run: MigrationRun | None) -> SyncSchedule | None:
        """Create the schedule (options from the last run) or change its times."""
        if not self.is_valid():
            return None
        body = self.api_body()
        serializer_class: type[Serializer] = schedule_api.ScheduleChangeIn
        if self.schedule is None:
            body["options"] = options_of_run(last_run)
            serializer_class = schedule_api.ScheduleIn
        else:  # a PATCH of what the user changed (the page shows times to the minute)
            body = {key: value for key, value in body.items() if self._edited(key)}
        serializer = serializer_class(data=body)
        if not serializer.is_valid():
            self.add_api_errors(flatten_errors(serializer.errors))
            return None
        changes = schedule_api.settings_changes(dict(serializer.validated_data))
        try:
            if self.schedule is not None:
                return schedules.schedule_patch(project=project, changes=changes)
            changes.setdefault("start_at", datetime.now(UTC))
            settings = schedules.ScheduleSettings(**changes)
            return schedules.schedule_put(project=project, settings=settings)[0]
        except ApplicationError as exc:
            if exc.code != ErrorCode.VALIDATION_ERROR:
                raise
            self.add_api_errors(exc.details)
            return None

    def _edited(self, key: str) -> bool:
        """Whether the user changed the field of API key ``key`` from what the page showed."""
        name = SCHEDULE_FIELD_OF_PATH[key]
        return str(self.data.get(self.add_prefix(name), "")) != str(self.initial.get(name, ""))

    def add_api_errors(self, details: dict[str, Any]) -> None:
        for path, messages in details.items():
            field = SCHEDULE_FIELD_OF_PATH.get(path)
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field, str(message))
