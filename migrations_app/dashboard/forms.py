"""Dashboard forms. Starting a run validates with the API's own serializer
(:class:`migrations_app.api.serializers.StartIn`), so the page shows exactly the
API's validation messages, each next to its field."""

from __future__ import annotations

from typing import Any

from django import forms

from migrations_app import services
from migrations_app.api import serializers as api_serializers
from migrations_app.api.errors import flatten_errors
from migrations_app.models import MIGRATION_TYPES, MigrationRun, RunType


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
    type_overrides = forms.CharField(
        required=False, label="Type overrides",
        help_text="One per line: ADO type = Jira issue type",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Feature = Epic"}),
    )  # fmt: skip
    state_overrides = forms.CharField(
        required=False, label="State overrides", help_text="One per line: ADO state = Jira status",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Resolved = Done"}),
    )  # fmt: skip

    def clean_type_overrides(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("type_overrides") or "")

    def clean_state_overrides(self) -> dict[str, str]:
        return parse_overrides(self.cleaned_data.get("state_overrides") or "")

    @classmethod
    def initial_from(cls, run: MigrationRun | None) -> dict[str, Any]:
        """The last run's settings (never its secrets), so a rerun is two fields away."""
        if run is None:
            return {}
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
        }

    def api_body(self, *, preview: bool = False) -> dict[str, Any]:
        """The POST .../start body the API would receive for this form."""
        # Fields the form itself refused are left at harmless defaults here, so that
        # the API's messages about the other fields show in the same round trip.
        data = (
            {name: None for name in self.fields}
            | {"type_overrides": {}, "state_overrides": {}}
            | self.cleaned_data
        )
        source: dict[str, Any] = {
            "org": data["org"] or "",
            "project": data["ado_project"] or "",
            "pat": data["pat"] or "",
            "area_filter": data["area_filter"] or None,
            "type_filter": data["type_filter"] or None,
        }
        if data["ado_base_url"]:
            source["base_url"] = data["ado_base_url"]
        options: dict[str, Any] = {
            "migrate_attachments": bool(data["migrate_attachments"]),
            "migrate_comments": bool(data["migrate_comments"]),
            "migrate_links": bool(data["migrate_links"]),
            "dry_run": True if preview else bool(data["dry_run"]),
            "type_overrides": data["type_overrides"],
            "state_overrides": data["state_overrides"],
        }
        if data["sample_size"] is not None:
            options["sample_size"] = data["sample_size"]
        return {
            "type": RunType.SAMPLE if preview else (data["type"] or ""),
            "enginePayload": {
                "source": source,
                "target": {
                    "base_url": data["jira_base_url"] or "",
                    "email": data["email"] or "",
                    "api_token": data["api_token"] or "",
                    "project_key": data["project_key"] or "",
                },
                "options": options,
            },
        }

    def start_request(self, *, preview: bool = False) -> services.StartRequest | None:
        """Validate like the API; None (with errors on the form) when invalid."""
        form_valid = self.is_valid()
        serializer = api_serializers.StartIn(data=self.api_body(preview=preview))
        if not serializer.is_valid():
            self.add_api_errors(flatten_errors(serializer.errors))
            return None
        if not form_valid:
            return None
        validated = serializer.validated_data
        payload = validated["enginePayload"]
        source, target = dict(payload["source"]), dict(payload["target"])
        return services.StartRequest(
            run_type=validated["type"],
            pat=source.pop("pat"),
            api_token=target.pop("api_token"),
            source=source,
            target=target,
            options=dict(payload["options"]),
        )

    def add_api_errors(self, details: dict[str, Any]) -> None:
        for path, messages in details.items():
            field = field_for_path(path)
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field, str(message))
