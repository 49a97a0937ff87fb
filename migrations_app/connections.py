"""Writes: a project's saved connection, and what a start takes from it.

A project may keep its source (Azure DevOps: base_url, org, project, PAT) and
target (Jira: base_url, email, project_key, API token). The secrets are
encrypted as a run's are (:mod:`migrations_app.crypto`) and never read back
except to start a run. Each saved secret is bound to the origin (scheme, host,
port) it was saved with: changing that side's ``base_url`` to another origin
needs the secret again, and a start aimed at another origin never gets it.

How a start request is completed (:func:`resolve_start`), per side:

- a side that carries its secret is the seed's inline form and is used as
  given (nothing is taken from the saved connection; ``source.base_url``
  defaults to ``https://dev.azure.com`` as before);
- a side without its secret (or left out) is completed from the saved
  connection: every connection field it leaves out is the saved one, and the
  saved secret is used, provided the side still points at the saved origin.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from django.db import IntegrityError, transaction
from django.utils import timezone

from engine.netpolicy import Origin
from migrations_app import crypto
from migrations_app.errors import ApplicationError, ErrorCode, invalid
from migrations_app.models import Project, ProjectConnection
from migrations_app.services import StartRequest

logger = logging.getLogger(__name__)

DEFAULT_ADO_BASE_URL = "https://dev.azure.com"


class Keep(enum.Enum):
    """A secret left out of a PUT or PATCH: the saved one stays."""

    KEEP = "keep"


KEEP = Keep.KEEP
# A secret in a write: the new value, None to remove the saved one, or KEEP.
SecretChange = str | None | Keep


@dataclass(frozen=True)
class Side:
    """One end of the connection: its API fields and the columns that hold them."""

    name: str  # "source" or "target", as in enginePayload
    secret: str  # "pat" or "api_token"
    columns: Mapping[str, str]  # API field -> ProjectConnection column
    secret_column: str
    secret_updated_column: str
    default_base_url: str | None

    @property
    def base_url_column(self) -> str:
        return self.columns["base_url"]


SOURCE = Side(
    name="source",
    secret="pat",
    columns={"base_url": "ado_base_url", "org": "ado_org", "project": "ado_project"},
    secret_column="pat_encrypted",
    secret_updated_column="pat_updated_at",
    default_base_url=DEFAULT_ADO_BASE_URL,
)
TARGET = Side(
    name="target",
    secret="api_token",
    columns={"base_url": "jira_base_url", "email": "jira_email", "project_key": "jira_project_key"},
    secret_column="api_token_encrypted",
    secret_updated_column="api_token_updated_at",
    default_base_url=None,
)
SIDES = (SOURCE, TARGET)


@dataclass(frozen=True)
class ConnectionChange:
    """A validated PUT (every connection field) or PATCH (any of them) of one project."""

    source: Mapping[str, str]
    target: Mapping[str, str]
    pat: SecretChange = KEEP
    api_token: SecretChange = KEEP

    def fields_of(self, side: Side) -> Mapping[str, str]:
        return self.source if side is SOURCE else self.target

    def secret_of(self, side: Side) -> SecretChange:
        return self.pat if side is SOURCE else self.api_token


# --------------------------------------------------------------------------- writes
def connection_put(*, project: Project, change: ConnectionChange) -> tuple[ProjectConnection, bool]:
    """Create or replace the project's connection; returns it and whether it is new.

    Secrets left out are kept (a client cannot read them back to send them again).
    """
    try:
        return _put(project, change)
    except IntegrityError:
        return _put(project, change)  # another PUT created it meanwhile: this one replaces it


def _put(project: Project, change: ConnectionChange) -> tuple[ProjectConnection, bool]:
    with transaction.atomic():
        saved = ProjectConnection.objects.select_for_update().filter(project=project).first()
        connection = saved or ProjectConnection(project=project)
        _apply(connection, change, is_new=saved is None)
        connection.save()
    return connection, saved is None


def connection_patch(*, project: Project, change: ConnectionChange) -> ProjectConnection:
    """Change some fields or secrets of the saved connection (rotating a secret included)."""
    with transaction.atomic():
        connection = ProjectConnection.objects.select_for_update().filter(project=project).first()
        if connection is None:
            raise ApplicationError(ErrorCode.CONNECTION_NOT_FOUND)
        _apply(connection, change, is_new=False)
        connection.save()
    return connection


def connection_delete(*, project: Project) -> None:
    """Forget the connection and its secrets. Runs already started keep their own copy."""
    deleted, _ = ProjectConnection.objects.filter(project=project).delete()
    if not deleted:
        raise ApplicationError(ErrorCode.CONNECTION_NOT_FOUND)


def _apply(connection: ProjectConnection, change: ConnectionChange, *, is_new: bool) -> None:
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    for side in SIDES:
        old_base = "" if is_new else getattr(connection, side.base_url_column)
        for field, value in change.fields_of(side).items():
            setattr(connection, side.columns[field], value)
        secret = change.secret_of(side)
        if secret is KEEP:
            new_base = getattr(connection, side.base_url_column)
            moved = old_base and not _same_origin(old_base, new_base)
            if moved and getattr(connection, side.secret_column):
                errors[f"{side.name}.{side.secret}"] = [
                    f"The saved {side.secret} was given for {_origin_text(old_base)}; send it "
                    f"again (or a new one) to use it with another {side.name}.base_url, or "
                    "null to remove it."
                ]
            continue
        setattr(connection, side.secret_column, "" if secret is None else crypto.encrypt(secret))
        setattr(connection, side.secret_updated_column, None if secret is None else now)
    if errors:
        raise invalid(errors)


def _same_origin(a: str, b: str) -> bool:
    try:
        return Origin.of(a) == Origin.of(b)
    except ValueError:
        return False


def _origin_text(url: str) -> str:
    try:
        return str(Origin.of(url))
    except ValueError:
        return url


# --------------------------------------------------------------------------- starts
def resolve_start(*, project: Project, run_type: str, payload: Mapping[str, Any]) -> StartRequest:
    """The start request for a validated ``enginePayload``, completed from the saved
    connection (see the module's docstring). A field that neither gives is a
    VALIDATION_ERROR under its dotted path (``enginePayload.source.pat``)."""
    saved = ProjectConnection.objects.filter(project=project).first()
    errors: dict[str, list[str]] = {}
    source, pat = _resolve_side(SOURCE, payload.get("source"), saved, errors)
    target, api_token = _resolve_side(TARGET, payload.get("target"), saved, errors)
    if errors:
        raise invalid(errors)
    source.setdefault("area_filter", None)
    source.setdefault("type_filter", [])
    return StartRequest(
        run_type=run_type,
        source=source,
        target=target,
        options=dict(payload.get("options") or {}),
        pat=pat,
        api_token=api_token,
    )


def _resolve_side(
    side: Side,
    given: Mapping[str, Any] | None,
    saved: ProjectConnection | None,
    errors: dict[str, list[str]],
) -> tuple[dict[str, Any], str]:
    values = dict(given or {})
    prefix = f"enginePayload.{side.name}"
    if side.secret in values:  # the inline form: used as given
        secret = str(values.pop(side.secret))
        if side.default_base_url:
            values.setdefault("base_url", side.default_base_url)
        _name_missing(values, [*side.columns], prefix, errors, "This field is required.")
        return values, secret
    if saved is None:
        message = "This field is required: the project has no saved connection."
        if given is None:  # the whole side left out
            errors[prefix] = [message]
            return values, ""
        if side.default_base_url:
            values.setdefault("base_url", side.default_base_url)
        _name_missing(values, [*side.columns, side.secret], prefix, errors, message)
        return values, ""

    for field, column in side.columns.items():
        values.setdefault(field, getattr(saved, column))
    saved_base = getattr(saved, side.base_url_column)
    problem = ""
    if not getattr(saved, side.secret_column):
        problem = f"This field is required: the project's saved connection holds no {side.secret}."
    elif not _same_origin(str(values["base_url"]), saved_base):
        problem = (
            f"This field is required for {values['base_url']}: the saved {side.secret} is "
            f"only sent to {_origin_text(saved_base)}."
        )
    else:
        try:
            return values, crypto.decrypt(getattr(saved, side.secret_column))
        except InvalidToken:
            logger.warning("project %s: the saved %s cannot be decrypted", saved.pk, side.secret)
            problem = (
                f"The saved {side.secret} cannot be decrypted with the current "
                "FIELD_ENCRYPTION_KEY; send it inline or save it again."
            )
    errors[f"{prefix}.{side.secret}"] = [problem]
    return values, ""


def _name_missing(
    values: Mapping[str, Any],
    fields: list[str],
    prefix: str,
    errors: dict[str, list[str]],
    message: str,
) -> None:
    for field in fields:
        if values.get(field) is None:
            errors.setdefault(f"{prefix}.{field}", []).append(message)
