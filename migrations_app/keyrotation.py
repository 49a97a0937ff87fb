"""Writes: re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY.

MultiFernet decrypts with any listed key, so putting a new key first is enough
for new secrets; this re-encrypts the old ones (runs' and saved connections')
so that the keys behind the first can then be removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.db import models

from migrations_app import crypto
from migrations_app.models import MigrationRun, ProjectConnection

logger = logging.getLogger(__name__)

SECRET_COLUMNS: tuple[tuple[type[models.Model], tuple[str, ...]], ...] = (
    (MigrationRun, ("pat_encrypted", "api_token_encrypted")),
    (ProjectConnection, ("pat_encrypted", "api_token_encrypted")),
)


@dataclass(frozen=True)
class Rotation:
    rotated: int  # secrets re-encrypted with the first key
    unreadable: int  # secrets no listed key decrypts (left as they are)


def rotate_stored_secrets() -> Rotation:
    rotated = unreadable = 0
    for model, columns in SECRET_COLUMNS:
        for row in model._default_manager.only("pk", *columns).iterator(chunk_size=500):
            changes: dict[str, str] = {}
            for column in columns:
                token = getattr(row, column)
                if not token:
                    continue
                try:
                    changes[column] = crypto.rotate(token)
                except InvalidToken:
                    unreadable += 1
                    logger.warning("%s %s: %s is unreadable", model.__name__, row.pk, column)
            if changes:
                # Compare-and-set: a secret written meanwhile (a rotation by PATCH) wins.
                unchanged = {column: getattr(row, column) for column in changes}
                rotated += len(changes) * model._default_manager.filter(
                    pk=row.pk, **unchanged
                ).update(**changes)
    return Rotation(rotated, unreadable)
