"""Input serializers (validate) and output serializers (render), kept apart.

Field names are the seed's: camelCase at the top level and in every response,
snake_case inside ``enginePayload`` (``source.org``, ``target.base_url``, ...).
Inputs are strict about JSON types (a number is not a string, ``"true"`` is not
a boolean) and refuse unknown keys, so a typo such as ``dryrun`` cannot silently
turn a dry run into a real one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rest_framework import serializers

from engine.fieldmap import parse_field_map
from engine.relations import check_link_type_map
from engine.usermap import parse_user_map
from migrations_app import netguard
from migrations_app.models import MIGRATION_TYPES, ItemStatus, RunStatus, RunType
from migrations_app.phases import PHASES_TEXT

DEFAULT_ADO_BASE_URL = "https://dev.azure.com"


# --------------------------------------------------------------------------- strict fields
def _check_text(value: str) -> None:
    if "\x00" in value or re.search(r"[\ud800-\udfff]", value):
        raise serializers.ValidationError("Null characters and lone surrogates are not allowed.")


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return str(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Must be a boolean (true or false).")
        return data


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be an integer.")
        return int(super().to_internal_value(data))


class NameMapField(serializers.DictField):
    """An object of strings to strings (type_overrides, state_overrides)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=StrictCharField(max_length=255), **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be an object of strings.")
        if len(data) > 500:
            raise serializers.ValidationError("At most 500 entries.")
        for key in data:
            if not key.strip() or len(key) > 255:
                raise serializers.ValidationError("Keys must be non-empty names (≤ 255 chars).")
            _check_text(key)
        return {str(k).strip(): str(v).strip() for k, v in super().to_internal_value(data).items()}


class RuleMapField(serializers.JSONField):
    """An option map the engine's rule module parses (field, user and link-type maps).

    The engine's parser is the one definition of a well-formed map; every problem it
    finds is reported under the offending key (``enginePayload.options.field_map.<key>``).
    What is stored is the map as sent: the engine parses it again when it plans.
    """

    def __init__(self, parse: Callable[[Any], Sequence[tuple[str, str]]], **kwargs: Any) -> None:
        self.parse = parse
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be an object.")
        if len(data) > 500:
            raise serializers.ValidationError("At most 500 entries.")
        for key in data:
            _check_text(key)
        problems: dict[str, list[str]] = {}
        for key, message in self.parse(data):
            problems.setdefault(key or "_", []).append(message)
        if problems:
            raise serializers.ValidationError(problems)
        return super().to_internal_value(data)


def _field_map_problems(raw: Any) -> list[tuple[str, str]]:
    return [(p.ado_field, p.message) for p in parse_field_map(raw).problems]


def _user_map_problems(raw: Any) -> list[tuple[str, str]]:
    return [(p.key, p.message) for p in parse_user_map(raw).problems]


def _link_map_problems(raw: Any) -> list[tuple[str, str]]:
    # Without the site's link types only the shape is checked; names are checked when
    # the run plans (the dry run reports a name the site lacks, before any write).
    return [(p.key, p.message) for p in check_link_type_map(raw, [])]


class ClosedSerializer(serializers.Serializer):
    """Refuses keys it does not know (reported by their path)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


def all_optional(
    serializer_class: type[serializers.Serializer],
    name: str,
    overrides: dict[str, serializers.Field] | None = None,
) -> type[serializers.Serializer]:
    """The same serializer with every field optional and no defaults, for PATCH bodies
    (only what is sent changes). ``overrides`` replaces fields (nested PATCH objects)."""
    fields: dict[str, Any] = {}
    declared: dict[str, Any] = serializer_class._declared_fields
    for field_name, field in declared.items():
        # Every DRF field keeps the arguments it was built with (Field.__new__).
        kwargs = {k: v for k, v in field._kwargs.items() if k not in ("default", "required")}
        fields[field_name] = type(field)(*field._args, required=False, **kwargs)
    fields.update(overrides or {})
    return type(name, (serializer_class,), fields)


def guarded_url(value: str) -> str:
    if value.strip().rstrip("/") == DEFAULT_ADO_BASE_URL:
        return DEFAULT_ADO_BASE_URL  # the documented default is trusted as is
    try:
        return netguard.check_url(value)
    except netguard.UnsafeTarget as exc:
        raise serializers.ValidationError(str(exc)) from exc


# --------------------------------------------------------------------------- inputs
class ProjectCreateIn(ClosedSerializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class ProjectPatchIn(ClosedSerializer):
    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)


SAVED_HELP = (
    " May be left out when the project's saved connection holds it "
    "(see /api/projects/{id}/connection)."
)


class SourceIn(ClosedSerializer):
    """The ADO side of a start. With ``pat``, used as given (the seed's form); without
    it, completed from the project's saved connection (each field left out is the
    saved one) and the saved PAT is used, only for the saved origin."""

    org = StrictCharField(
        max_length=200, required=False, help_text="ADO organisation." + SAVED_HELP
    )
    project = StrictCharField(max_length=200, required=False, help_text="ADO project." + SAVED_HELP)
    pat = StrictCharField(
        max_length=2000,
        write_only=True,
        trim_whitespace=True,
        required=False,
        help_text="Personal access token (write-only)." + SAVED_HELP,
    )
    area_filter = StrictCharField(max_length=1000, required=False, allow_null=True, default=None)
    type_filter = StrictCharField(
        max_length=2000,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="Comma-separated work item type names; spaces around names are ignored.",
    )
    base_url = StrictCharField(
        max_length=500,
        required=False,
        help_text="Azure DevOps host (Services, or a Server's root with org = the collection). "
        f"Default: the saved one, else {DEFAULT_ADO_BASE_URL}.",
    )

    def validate_base_url(self, value: str) -> str:
        return guarded_url(value)

    def validate_type_filter(self, value: str | None) -> list[str]:
        return [name.strip() for name in (value or "").split(",") if name.strip()]

    def validate_area_filter(self, value: str | None) -> str | None:
        return value.strip() or None if value else None


class TargetIn(ClosedSerializer):
    """The Jira side of a start: with ``api_token`` as given, without it completed
    from the project's saved connection (the saved token only for the saved origin)."""

    base_url = StrictCharField(
        max_length=500, required=False, help_text="Jira Cloud site, https only." + SAVED_HELP
    )
    email = StrictEmailField(max_length=254, required=False, help_text="Jira account." + SAVED_HELP)
    api_token = StrictCharField(
        max_length=2000,
        write_only=True,
        required=False,
        help_text="Jira API token (write-only)." + SAVED_HELP,
    )
    project_key = StrictCharField(
        max_length=255, required=False, help_text="Jira project key." + SAVED_HELP
    )

    def validate_base_url(self, value: str) -> str:
        return guarded_url(value)

    def validate_project_key(self, value: str) -> str:
        return project_key_of(value)


def project_key_of(value: str) -> str:
    key = value.strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
        raise serializers.ValidationError(
            "A Jira project key starts with a letter and holds letters, digits or _."
        )
    return key


class MapOptionsIn(ClosedSerializer):
    """The field, user and link-type maps and the history switch (runs and schedules)."""

    field_map = RuleMapField(
        _field_map_problems,
        required=False,
        default=dict,
        help_text='ADO field reference name → {"field": Jira field id or name, '
        '"values": {ADO value: Jira option}} (or the Jira field alone). Without a map '
        "the plan suggests one; the dry run reports every entry that cannot be filled.",
    )
    user_map = RuleMapField(
        _user_map_problems,
        required=False,
        default=dict,
        help_text="ADO e-mail, unique name or display name → Jira e-mail or accountId, "
        "on top of the e-mail lookup.",
    )
    link_type_map = RuleMapField(
        _link_map_problems,
        required=False,
        default=dict,
        help_text="ADO link type (reference or display name) → Jira link type name.",
    )
    migrate_history = StrictBooleanField(
        required=False, default=True, help_text="Carry each item's ADO history to its issue."
    )


class OptionsIn(MapOptionsIn):
    migrate_attachments = StrictBooleanField(required=False, default=True)
    migrate_comments = StrictBooleanField(required=False, default=True)
    migrate_links = StrictBooleanField(required=False, default=True)
    dry_run = StrictBooleanField(required=False, default=False)
    type_overrides = NameMapField(
        required=False, default=dict, help_text="ADO work item type → Jira issue type."
    )
    state_overrides = NameMapField(
        required=False, default=dict, help_text="ADO state → Jira status."
    )
    sample_size = StrictIntegerField(
        required=False, default=10, min_value=1, max_value=1000, help_text="SAMPLE runs only."
    )


class EnginePayloadIn(ClosedSerializer):
    # the seed's name shadows Field.source
    source = SourceIn(required=False)  # type: ignore[assignment]
    target = TargetIn(required=False)
    options = OptionsIn(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "options" not in attrs:
            defaults = OptionsIn(data={})
            defaults.is_valid(raise_exception=True)
            attrs["options"] = dict(defaults.validated_data)
        return attrs


class StartIn(ClosedSerializer):
    type = serializers.ChoiceField(choices=[(t.value, t.label) for t in MIGRATION_TYPES])
    enginePayload = EnginePayloadIn()


class RollbackIn(ClosedSerializer):
    dry_run = StrictBooleanField(
        help_text="true: only report what would be removed (counts per kind); false: remove it."
    )


class RunListQueryIn(serializers.Serializer):
    projectId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)


class ItemsQueryIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=ItemStatus.choices, required=False)


# --------------------------------------------------------------------------- outputs
class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.JSONField())


class _RunProgressOut(serializers.Serializer):
    """What a run's summary and its status share: identity, status, counts, timing."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    totalItems = serializers.IntegerField(source="total_count")
    successCount = serializers.IntegerField(source="success_count")
    failureCount = serializers.IntegerField(source="failure_count")
    skippedCount = serializers.IntegerField(source="skipped_count")
    updatedCount = serializers.IntegerField(source="updated_count")
    progressPercent = serializers.IntegerField(source="progress_percent")
    currentPhase = serializers.IntegerField(
        source="current_phase",
        help_text=f"The engine's phase, from 1 (0 before it starts): {PHASES_TEXT}.",
    )
    statusReason = serializers.CharField(source="status_reason")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class RunOut(_RunProgressOut):
    projectId = serializers.UUIDField(source="project_id")
    type = serializers.ChoiceField(
        choices=RunType.choices,
        help_text="ROLLBACK: a rollback run, started by POST /api/migrations/{runId}/rollback.",
    )
    dryRun = serializers.BooleanField(source="dry_run")
    rollbackOf = serializers.UUIDField(
        source="rollback_of_id",
        allow_null=True,
        help_text="ROLLBACK runs: the run whose writes it removes; null for the others.",
    )
    createdAt = serializers.DateTimeField(source="created_at")


class RunStatusOut(_RunProgressOut):
    speed = serializers.FloatField(help_text="Items per second, as last reported.")


class RunControlOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RunStatus.choices)


class ProjectOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    createdAt = serializers.DateTimeField(source="created_at")
    lastRun = RunOut(allow_null=True, source="last_run")


class ItemOut(serializers.Serializer):
    adoId = serializers.IntegerField(source="ado_id")
    adoType = serializers.CharField(source="ado_type", allow_blank=True)
    adoUrl = serializers.CharField(source="ado_url", allow_blank=True)
    jiraKey = serializers.SerializerMethodField()
    jiraUrl = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=ItemStatus.choices)
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_jiraKey(self, item: Any) -> str | None:
        return item.jira_key or None

    def get_jiraUrl(self, item: Any) -> str | None:
        return item.jira_url or None


class ReportOut(serializers.Serializer):
    id = serializers.UUIDField()
    projectId = serializers.UUIDField(source="project_id")
    type = serializers.ChoiceField(choices=RunType.choices)
    rollbackOf = serializers.UUIDField(source="rollback_of_id", allow_null=True)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    dryRun = serializers.BooleanField(source="dry_run")
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    phases = serializers.DictField(
        child=serializers.CharField(), help_text="Engine phase number → name."
    )
    report = serializers.JSONField(
        allow_null=True,
        help_text="The engine's report (mappings with their source, counts per type, "
        "problems, dry-run payload samples); null until the engine has written it. For a "
        "ROLLBACK run: `counts` (planned, removed, left, alreadyGone, failed; each per kind: "
        "issues, comments, attachments, links, remoteLinks; a dry run's `wouldRemove`), "
        "`left` and `failed` (each with its reason), `notReverted` (fields edited, statuses "
        "moved), `issueRemoval` (bulk delete or one by one, and why), `verification`.",
    )


class TokenObtainIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True)


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshIn(serializers.Serializer):
    refresh = serializers.CharField()


class TokenAccessOut(serializers.Serializer):
    access = serializers.CharField()
