"""Production settings refuse to start with the default secret or no encryption key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "PYTEST_CURRENT_TEST"}
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "migrator_site.settings", **env},
    )


def setting_value(name: str, **env: str) -> str:
    """``settings.<name>`` as loaded in a fresh process with ``env`` (DEBUG on)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATOR_")}
    code = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "migrator_site.settings", "DEBUG": "true", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_http_timeout_defaults_to_30_seconds_and_is_read_from_the_environment():
    assert setting_value("MIGRATOR_HTTP_TIMEOUT") == "30.0"
    assert setting_value("MIGRATOR_HTTP_TIMEOUT", MIGRATOR_HTTP_TIMEOUT="2.5") == "2.5"


def test_the_http_timeout_is_documented_in_the_env_example():
    assert "MIGRATOR_HTTP_TIMEOUT=30" in (ROOT / ".env.example").read_text()


@pytest.mark.parametrize("allow", [False, True])
def test_the_runner_guards_connections_with_the_start_check_rules(settings, allow):
    from engine.netpolicy import AddressPolicy
    from migrations_app.runner import address_policy

    settings.MIGRATOR_ALLOW_PRIVATE_TARGETS = allow
    settings.MIGRATOR_DNS_TIMEOUT = 1.5
    assert address_policy() == AddressPolicy(allow_private=allow, allow_http=allow, dns_timeout=1.5)


def test_production_refuses_the_default_secret_key():
    result = load_settings(FIELD_ENCRYPTION_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_production_refuses_a_missing_encryption_key():
    result = load_settings(SECRET_KEY="a-real-secret-0123456789-abcdefghijklmnop")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_production_starts_with_both():
    result = load_settings(
        SECRET_KEY="a-real-secret-0123456789-abcdefghijklmnop", FIELD_ENCRYPTION_KEY=GOOD_KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_allows_the_development_defaults():
    assert load_settings(DEBUG="true").returncode == 0


def test_key_rotation_decrypts_with_an_old_key(settings):
    from cryptography.fernet import Fernet

    from migrations_app import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    token = crypto.encrypt("pat-value")
    settings.FIELD_ENCRYPTION_KEY = [new, old]
    assert crypto.decrypt(token) == "pat-value"
    rotated = crypto.rotate(token)
    settings.FIELD_ENCRYPTION_KEY = [new]
    assert crypto.decrypt(rotated) == "pat-value"


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000


@pytest.mark.django_db
def test_postgres_uses_the_psycopg_pool():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    assert connection.settings_dict["OPTIONS"]["pool"]
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
