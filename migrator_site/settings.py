"""One environment-driven settings module (see .env.example and the README).

Every value comes from the environment (or a ``.env`` file beside manage.py).
Readers fail loudly on bad values; production (``DEBUG`` false) refuses to start
with the default ``SECRET_KEY`` or without ``FIELD_ENCRYPTION_KEY``.
"""

import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Under the test runner (and the type checker, which loads settings) the dev
# defaults below are allowed even with DEBUG off.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]
_TYPE_CHECKING = "mypy" in sys.modules

DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "insecure-dev-key-change-me-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default="") or DEV_SECRET_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

# Fernet keys for stored credentials (pat, api_token), comma-separated: the first
# encrypts, all decrypt (MultiFernet rotation). Generate one with
# python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

if not DEBUG and not TESTING and not _TYPE_CHECKING:
    if SECRET_KEY == DEV_SECRET_KEY or not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or the development default while DEBUG is off: "
            "set SECRET_KEY in the environment (or set DEBUG=true for development)."
        )
    if not FIELD_ENCRYPTION_KEY:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is missing while DEBUG is off: set it to one or more "
            "comma-separated Fernet keys (or set DEBUG=true for development)."
        )
if not FIELD_ENCRYPTION_KEY:
    FIELD_ENCRYPTION_KEY = [DEV_FIELD_ENCRYPTION_KEY]

# Outgoing-call guard: allow http and private/loopback targets (demo, tests, sandboxes).
# Checked when a run is started and again for every connection the clients open.
MIGRATOR_ALLOW_PRIVATE_TARGETS = env.bool("MIGRATOR_ALLOW_PRIVATE_TARGETS", default=False)
MIGRATOR_DNS_TIMEOUT = env.float("MIGRATOR_DNS_TIMEOUT", default=2.0)
# Read timeout of one ADO or Jira request in seconds (the connect timeout is the
# smaller of this and 10 s). Tests lower it so that a stalled server fails fast.
MIGRATOR_HTTP_TIMEOUT = env.float("MIGRATOR_HTTP_TIMEOUT", default=30.0)
# How long a Jira write whose answer was lost may still be applied by Jira: such a
# write is not sent again, nor looked for as proof, before this much time has passed
# (engine.settle). Jira Cloud gives up on a request after about a minute on its side.
MIGRATOR_SETTLE_SECONDS = env.float("MIGRATOR_SETTLE_SECONDS", default=MIGRATOR_HTTP_TIMEOUT + 60)
if MIGRATOR_SETTLE_SECONDS < MIGRATOR_HTTP_TIMEOUT + 1:
    raise ImproperlyConfigured(
        "MIGRATOR_SETTLE_SECONDS must be at least MIGRATOR_HTTP_TIMEOUT + 1 "
        f"({MIGRATOR_SETTLE_SECONDS:g} < {MIGRATOR_HTTP_TIMEOUT:g} + 1): a write can land "
        "after the client gave up on it."
    )

# Run lease: a worker renews it at every engine checkpoint; a run whose lease has
# expired is taken over by a redelivered task or by the sweep.
MIGRATOR_LEASE_SECONDS = env.float("MIGRATOR_LEASE_SECONDS", default=60.0)
MIGRATOR_SWEEP_SECONDS = env.float("MIGRATOR_SWEEP_SECONDS", default=30.0)
# Redispatch a queued run (PENDING, or RUNNING without a live lease) whose last
# dispatch is older than this: covers messages lost with a killed embedded worker.
MIGRATOR_REDISPATCH_SECONDS = env.float("MIGRATOR_REDISPATCH_SECONDS", default=120.0)
# Jira request rate: an AIMD limiter per Jira site (shared through Redis when set)
# starts here, grows by the increase per success up to the maximum, and halves on
# each burst of 429s. In-flight requests are bounded too; the HTTP pools match.
MIGRATOR_JIRA_INITIAL_RATE = env.float("MIGRATOR_JIRA_INITIAL_RATE", default=20.0)
MIGRATOR_JIRA_MAX_RATE = env.float("MIGRATOR_JIRA_MAX_RATE", default=100.0)
MIGRATOR_JIRA_RATE_INCREASE = env.float("MIGRATOR_JIRA_RATE_INCREASE", default=0.5)
MIGRATOR_JIRA_MAX_IN_FLIGHT = env.int("MIGRATOR_JIRA_MAX_IN_FLIGHT", default=12)
# How Jira requests are scheduled: "endpoint" keeps an adaptive limiter per
# endpoint and method and spaces the writes to each issue, as Jira limits them
# (engine.schedule); "single" is the one adaptive limiter above, kept for comparison.
MIGRATOR_JIRA_SCHEDULER = env.str("MIGRATOR_JIRA_SCHEDULER", default="endpoint")
if MIGRATOR_JIRA_SCHEDULER not in ("endpoint", "single"):
    raise ImproperlyConfigured('MIGRATOR_JIRA_SCHEDULER must be "endpoint" or "single".')
# The endpoint scheduler's ceilings (requests/second) per method, e.g. GET=100,PUT=50,
# and per endpoint as JSON ({"POST /rest/api/3/issue/bulk": 10}); the writes one
# issue may take, as count/seconds windows. The defaults are Jira's documented limits.
MIGRATOR_JIRA_METHOD_RATES = env.dict(
    "MIGRATOR_JIRA_METHOD_RATES",
    cast={"value": float},
    default={"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0},
)
MIGRATOR_JIRA_ROUTE_RATES = env.json("MIGRATOR_JIRA_ROUTE_RATES", default={})
MIGRATOR_JIRA_ISSUE_WINDOWS = env.list("MIGRATOR_JIRA_ISSUE_WINDOWS", default=["20/2", "100/30"])


def _issue_windows(raw: list[str]) -> tuple[tuple[int, float], ...]:
    try:
        pairs = [item.split("/") for item in raw]
        windows = tuple((int(count), float(seconds)) for count, seconds in pairs)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "MIGRATOR_JIRA_ISSUE_WINDOWS must be count/seconds pairs, e.g. 20/2,100/30."
        ) from exc
    if not all(count >= 1 and seconds > 0 for count, seconds in windows):
        raise ImproperlyConfigured(
            "MIGRATOR_JIRA_ISSUE_WINDOWS counts and seconds must be positive."
        )
    return windows


MIGRATOR_JIRA_ISSUE_WINDOWS_PARSED = _issue_windows(MIGRATOR_JIRA_ISSUE_WINDOWS)
_route_rates_ok = isinstance(MIGRATOR_JIRA_ROUTE_RATES, dict) and all(
    isinstance(v, int | float) and not isinstance(v, bool) and v > 0
    for v in MIGRATOR_JIRA_ROUTE_RATES.values()
)
if not _route_rates_ok or not all(v > 0 for v in MIGRATOR_JIRA_METHOD_RATES.values()):
    raise ImproperlyConfigured(
        "MIGRATOR_JIRA_METHOD_RATES and MIGRATOR_JIRA_ROUTE_RATES must map to rates above 0."
    )
MIGRATOR_HTTP_POOL_SIZE = env.int("MIGRATOR_HTTP_POOL_SIZE", default=16)
# Scheduled delta syncs: the shortest interval a schedule may have, in seconds
# (the API speaks minutes; the tests lower this to tick every few seconds).
MIGRATOR_SCHEDULE_MIN_SECONDS = env.int("MIGRATOR_SCHEDULE_MIN_SECONDS", default=60)
if MIGRATOR_SCHEDULE_MIN_SECONDS < 1:
    raise ImproperlyConfigured("MIGRATOR_SCHEDULE_MIN_SECONDS must be at least 1.")
# Live progress events are throttled to at most one per this many seconds.
MIGRATOR_PROGRESS_EVENT_INTERVAL = env.float("MIGRATOR_PROGRESS_EVENT_INTERVAL", default=0.25)
# Webhooks: one delivery is tried at most this many times (connection errors,
# timeouts, 429 and 5xx are retried; other answers are final), waiting the backoff
# before the second attempt and doubling it each time (20 s and 6 attempts: about
# 10 minutes). Each POST waits at most the timeout for its answer (connect: 5 s).
MIGRATOR_WEBHOOK_MAX_ATTEMPTS = env.int("MIGRATOR_WEBHOOK_MAX_ATTEMPTS", default=6)
MIGRATOR_WEBHOOK_BACKOFF_SECONDS = env.float("MIGRATOR_WEBHOOK_BACKOFF_SECONDS", default=20.0)
MIGRATOR_WEBHOOK_TIMEOUT = env.float("MIGRATOR_WEBHOOK_TIMEOUT", default=10.0)
if MIGRATOR_WEBHOOK_MAX_ATTEMPTS < 1 or MIGRATOR_WEBHOOK_BACKOFF_SECONDS < 0:
    raise ImproperlyConfigured(
        "MIGRATOR_WEBHOOK_MAX_ATTEMPTS must be at least 1 and "
        "MIGRATOR_WEBHOOK_BACKOFF_SECONDS not negative."
    )
if MIGRATOR_WEBHOOK_TIMEOUT <= 0:
    raise ImproperlyConfigured("MIGRATOR_WEBHOOK_TIMEOUT must be positive.")
# Runtime state of the embedded mode (filesystem broker queue) lives here; the test
# suite keeps its own (queue and SQLite test database) so a running demo is untouched.
MIGRATOR_VAR_DIR = Path(
    env.str("MIGRATOR_VAR_DIR", default="") or str(BASE_DIR / "var" / ("test" if TESTING else ""))
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "django_eventstream",
    "django_celery_beat",
    "migrations_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "migrations_app.api.middleware.ApiGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "migrator_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
ASGI_APPLICATION = "migrator_site.asgi.application"

AUTH_USER_MODEL = "migrations_app.User"

# --------------------------------------------------------------------------- database
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded worker writes while the web process reads: WAL lets readers go
    # on during a write, IMMEDIATE takes the write lock at BEGIN so the busy
    # timeout applies (no "database is locked" on lock upgrade).
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        **_db.get("OPTIONS", {}),
    }
    # A file (not in-memory) test database, so a worker subprocess sees committed rows.
    _db["TEST"] = {"NAME": str(MIGRATOR_VAR_DIR / "test-db.sqlite3")}
elif _db["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    _db["ENGINE"] = "django.db.backends.postgresql"
    # A run's phases 3 to 5 checkpoint from their own threads beside the task's own
    # thread and the sweeper: the pool must hold more than psycopg's default of 4.
    _db["OPTIONS"] = {"pool": {"min_size": 2, "max_size": 12}, **_db.get("OPTIONS", {})}
    _db["CONN_MAX_AGE"] = 0  # required with the psycopg pool

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# Request bodies above this answer 413 (PAYLOAD_TOO_LARGE) on /api/.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1_048_576)

# --------------------------------------------------------------------------- redis / celery
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_MODE = not REDIS_URL

# The tests use their own queue name, so a demo worker on the same Redis never takes them.
CELERY_TASK_DEFAULT_QUEUE = env.str("MIGRATOR_QUEUE", default="") or (
    "migrator-test" if TESTING else "celery"
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=3.0)
# Publishing a task gives up quickly: the caller answers ENGINE_DISPATCH_FAILED.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# `celery beat` reads its schedule from the database (django-celery-beat): the
# project schedules' PeriodicTasks, kept in step by migrations_app.schedules.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-runs": {
        "task": "migrations.sweep_stale_runs",
        "schedule": MIGRATOR_SWEEP_SECONDS,
    },
    "sweep-webhook-deliveries": {
        "task": "migrations.sweep_webhook_deliveries",
        "schedule": MIGRATOR_SWEEP_SECONDS,
    },
}
if EMBEDDED_MODE:
    _queue_dir = MIGRATOR_VAR_DIR / "queue"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        # Exchange tables; kombu's default is ./control relative to the working directory.
        "control_folder": str(MIGRATOR_VAR_DIR / "queue-control"),
        "store_processed": False,
    }
    _queue_dir.mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 10}

    _redis = urlsplit(REDIS_URL)
    # django-eventstream publishes worker events to web processes over Redis.
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
        **({"password": unquote(_redis.password)} if _redis.password else {}),
        **({"username": unquote(_redis.username)} if _redis.username else {}),
        **({"ssl": True} if _redis.scheme == "rediss" else {}),
    }

EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
# Run channels are readable by members of the run's tenant only (migrations_app.live).
EVENTSTREAM_CHANNELMANAGER_CLASS = "migrations_app.live.channels.RunChannelManager"
# Embedded mode: how often each web process polls stored events for its streams.
MIGRATOR_STREAM_BRIDGE_INTERVAL = env.float("MIGRATOR_STREAM_BRIDGE_INTERVAL", default=0.2)
# Lifetime of the short-lived ?token= for EventSource (POST .../stream-token).
MIGRATOR_STREAM_TOKEN_SECONDS = env.int("MIGRATOR_STREAM_TOKEN_SECONDS", default=300)

# Dashboard: session login.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:projects"
LOGOUT_REDIRECT_URL = "login"

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["migrations_app.api.permissions.IsTenantMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["migrations_app.api.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "migrations_app.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("MIGRATOR_AUTH_THROTTLE", default="30/min"),
    },
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ADO → Jira migrator API",
    "DESCRIPTION": (
        "Moves Azure DevOps Boards work items into Jira Cloud. Every error body is "
        '`{"code", "message", "details"}`. Authenticate with `POST /api/auth/token` '
        "and send `Authorization: Bearer <access>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "migrations_app.models.RunStatus",
        "RunTypeEnum": "migrations_app.models.RunType",
        "ItemStatusEnum": "migrations_app.models.ItemStatus",
        "WebhookEventEnum": "migrations_app.models.WebhookEventType",
        "DeliveryStateEnum": "migrations_app.models.DeliveryState",
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
