"""Settings for the lipodystrophy registry: one module, driven by the environment.

Every variable has an embedded default so that a fresh machine runs the demo with none
set (SQLite, tasks in-process after commit). Production sets DATABASE_URL, REDIS_URL and
DJANGO_SECRET_KEY; without DJANGO_DEBUG=1 a missing secret key stops start-up.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

# Offline management commands that sign nothing and serve nobody (the migration check,
# static collection, schema generation) run without a secret: they get a random key that
# dies with the process.
OFFLINE_COMMANDS = frozenset({"makemigrations", "collectstatic", "spectacular"})

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
    elif len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" and sys.argv[1] in OFFLINE_COMMANDS:
        SECRET_KEY = secrets.token_urlsafe(50)
    else:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random value in production "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DJANGO_DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "registry",
    "clinical",
    "ops",
]

MIDDLEWARE = [
    # first: every log line of the request, and every task it enqueues, carries its id
    "ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "registry.twofactor.TwoFactorMiddleware",
    "registry.account_events.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "registry.middleware.SecurityHeadersMiddleware",
    # a lost database connection answers 503 (JSON for the API) instead of a 500
    "ops.middleware.DatabaseUnavailableMiddleware",
    # last, as django-axes requires: turns a locked-out login into the lockout page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"
AUTH_USER_MODEL = "registry.User"

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
                "registry.context_processors.registry_context",
            ],
        },
    }
]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Bounded waits: a dead server fails the connect within DATABASE_CONNECT_TIMEOUT seconds,
# a runaway query or a held row lock ends with an error (-> 503) instead of tying up a
# gunicorn worker until its own timeout.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 30_000)
DATABASE_LOCK_TIMEOUT_MS = env_int("DATABASE_LOCK_TIMEOUT_MS", 10_000)


def database_config(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"].endswith("sqlite3"):
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {})["timeout"] = 20
        return config
    config["ATOMIC_REQUESTS"] = False
    options = config.setdefault("OPTIONS", {})
    options["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
    options["options"] = (
        f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS} -c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}"
    )
    return config


DATABASES = {"default": database_config(DATABASE_URL)}
# The alert indexes' INCLUDE columns serve PostgreSQL's index-only counts; SQLite (the
# demo) keeps the key columns and says so on every command: expected there, not news.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if DATABASES["default"]["ENGINE"].endswith("sqlite3") else []

# A streaming replica for heavy read-only queries (registry/db_router.py); tests run it as
# a mirror of the default database.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = database_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # test runs read their own writes
# The router sends reads to the replica only inside reading_from_replica() blocks (research
# exports, the nightly registry-wide sweep).
DATABASE_ROUTERS = ["registry.db_router.ReplicaRouter"]

# --- research exports -------------------------------------------------------------------
# Finished export files (outside the web root; served to their requester only).
EXPORT_DIR = Path(env_str("EXPORT_DIR", str(BASE_DIR / "var" / "exports")))
# Pseudonymisation keys per project: EXPORT_KEY_<PROJECT> or <EXPORT_KEY_DIR>/<project>.key.
EXPORT_KEY_DIR = Path(env_str("EXPORT_KEY_DIR", str(BASE_DIR / "var" / "export-keys")))
EXPORT_KEY_AUTOCREATE = env_bool("EXPORT_KEY_AUTOCREATE", True)
EXPORT_LIFETIME_HOURS = env_int("EXPORT_LIFETIME_HOURS", 72)
# PostgreSQL work_mem for an export's transaction: its sorts stay in memory (server side).
EXPORT_WORK_MEM = env_str("EXPORT_WORK_MEM", "256MB")
# An export streams a whole table through one statement (COPY): the web's statement
# timeout (DATABASE_STATEMENT_TIMEOUT_MS) would end a large one half-way.
EXPORT_STATEMENT_TIMEOUT_MS = env_int("EXPORT_STATEMENT_TIMEOUT_MS", 60 * 60 * 1000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out (username, IP) before the password is checked.
# It needs the request, which Django's LoginView and the admin login pass to authenticate();
# API tokens do not go through authenticate() and are not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Wider counters (registry.lockout): one username from any address, one address for any
# username, at higher thresholds than the pair above.
AXES_HANDLER = "registry.lockout.RegistryLockoutHandler"
LOCKOUT_USERNAME_LIMIT = env_int("LOCKOUT_USERNAME_LIMIT", 20)
LOCKOUT_ADDRESS_LIMIT = env_int("LOCKOUT_ADDRESS_LIMIT", 50)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Failure log lines name the account and the address (for investigation); django-axes
# always masks the password.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_CLIENT_IP_CALLABLE = "registry.client_ip.client_ip"
# Two-factor sign-in (registry.twofactor): required for clinical and admin roles; on by
# default outside debug, off in the demo (`make run` sets DJANGO_DEBUG=1).
REQUIRE_2FA = env_bool("REQUIRE_2FA", not DEBUG)
OTP_TOTP_ISSUER = "Lipodystrophy registry"
# API tokens are refused after this many days.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "patient-list"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_AGE = 30 * 60  # idle timeout: 30 minutes, renewed on each request
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG and env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- security headers -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS >= 31536000 and env_bool("DJANGO_HSTS_PRELOAD", True)
# HTTPS only in production; DJANGO_SSL_REDIRECT=0 for plain-HTTP loopback (tests, local trial).
# The health check is answered over plain HTTP inside the container network.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)

# --- i18n / time ------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served at the site root by whitenoise: /favicon.ico for pages without our <link rel="icon">
# (the admin, the API docs), so no browser logs a 404 for it.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "registry.staticfinders.PlotlyFinder",  # vendor/plotly.min.js from the plotly package
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env_str(
            "DJANGO_STATICFILES_STORAGE",
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# --- uploads / request limits -----------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LAB_IMPORT_MAX_BYTES = env_int("LAB_IMPORT_MAX_BYTES", 20 * 1024 * 1024)
# An uploaded lab file that is never confirmed has its content purged after this many days.
LAB_IMPORT_RETENTION_DAYS = env_int("LAB_IMPORT_RETENTION_DAYS", 7)
# counts each file's bytes as they arrive and stops past LAB_IMPORT_MAX_BYTES (ops/uploads.py)
FILE_UPLOAD_HANDLERS = [
    "ops.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

# --- Redis, cache and Celery ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Redis is an accelerator, never a dependency of a request: short socket timeouts, and the
# cache answers "miss" / "not stored" while Redis is down or silent (ops/cache.py).
REDIS_SOCKET_TIMEOUT = float(env_str("REDIS_SOCKET_TIMEOUT", "0.5"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "ops.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "retry_on_timeout": False,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Without a broker the tasks run in-process; services enqueue them on commit, so the
# demo evaluates right after each write with no worker running.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after every task
# unless this is set: each task then paid a new connection (about 15 ms, most of it the
# new server process warming its catalogue caches). With it set the fixup closes them
# only every this many tasks, and ops/celery_hooks.py checks them before and after each
# task as Django does per request (CONN_MAX_AGE, errors, health check).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request while Redis is down: fail fast, the sweep
# picks the patient up later.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600),
    "socket_connect_timeout": 1,
    "socket_timeout": 1,
    "max_retries": 0,
}
# A message delivered more often than this without finishing (its worker keeps dying, e.g.
# out of memory) is parked in ops.ParkedTask and reported by /readyz instead of looping.
TASK_MAX_DELIVERIES = env_int("TASK_MAX_DELIVERIES", 3)
CELERY_TASK_PUBLISH_RETRY = False
# The worker logs through LOGGING below (JSON in production, with the request id).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep-dirty-patients": {
        "task": "clinical.tasks.sweep_dirty_patients",
        "schedule": 60.0,
    },
    "nightly-recompute": {
        "task": "clinical.tasks.recompute_registry",
        "schedule": crontab(hour=2, minute=15),
    },
    "purge-stale-lab-imports": {
        "task": "clinical.tasks.purge_stale_lab_imports",
        "schedule": crontab(minute=40),
    },
    "worker-heartbeat": {
        "task": "ops.tasks.heartbeat",
        "schedule": 60.0,
    },
    "daily-monitoring-overdue": {
        "task": "clinical.tasks.check_monitoring_overdue",
        "schedule": crontab(hour=3, minute=0),
    },
    "expire-research-exports": {
        "task": "registry.exports.tasks.exports_expire",
        "schedule": 3600.0,
    },
}

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": "registry.api.metadata.AllowedMethodsMetadata",
    "DEFAULT_THROTTLE_CLASSES": ["ops.throttling.FailOpenUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_RATE", "6000/hour")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lipodystrophy registry API",
    "DESCRIPTION": "Patients, visits, lab results, treatment courses, alerts and trends of the "
    "lipodystrophy registry. Every patient-level resource is scoped to the caller's sites.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "registry.api.openapi.add_links",
    ],
}

# --- logging ----------------------------------------------------------------------------
# JSON lines in production (one object per line, for the log shipper), plain text in
# development. Every record carries the request id (ops/logging.py). Nothing logs patient
# identities: see ops/logging.py for the access-log rules.
LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "ops.logging.TextFormatter"},
        "json": {"()": "ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- operations -------------------------------------------------------------------------
# /readyz: the worker heartbeat (a beat task a worker runs every minute) must be younger
# than this; patients awaiting evaluation longer than READYZ_BACKLOG_WARN_SECONDS degrade it.
READYZ_HEARTBEAT_MAX_AGE_SECONDS = env_int("READYZ_HEARTBEAT_MAX_AGE_SECONDS", 300)
READYZ_BACKLOG_WARN_SECONDS = env_int("READYZ_BACKLOG_WARN_SECONDS", 900)
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(BASE_DIR / "backups")))

# --- registry ---------------------------------------------------------------------------
REGISTRY_CODE_PREFIX = "LD-"
