"""Stored credentials: MultiFernet keyed by FIELD_ENCRYPTION_KEY (first key encrypts)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys if key.strip()])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEY))


def encrypt(secret: str) -> str:
    return _current().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _current().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt with the first key (after a key was added in front)."""
    return _current().rotate(token.encode()).decode()
