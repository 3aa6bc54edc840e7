"""Vivid's one settings module, driven by environment variables.

With nothing set it runs on embedded defaults: SQLite (WAL) and media under ``var/``, and an
embedded Valkey server on a socket in ``var/`` (started by ``manage.py serve``). ``DATABASE_URL``,
``REDIS_URL`` and ``MEDIA_ROOT`` move it to real servers. ``DJANGO_ENV=production`` turns on the
deployment hardening and refuses to start without a ``SECRET_KEY`` or with ``DEBUG`` on.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

VAR_DIR = Path(env.str("VIVID_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production.")
    if not env.str("SECRET_KEY", default=""):
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production.")
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-vivid-embedded-development-key-only")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where people reach the site, for links in emails sent outside a request (a suspension notice).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",  # mounted at ADMIN_URL (see the Security block below)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.social",
    "apps.media",
    "apps.generation",
    "apps.posts",
    "apps.notifications",
    "apps.realtime",
    "apps.provenance",
    "apps.consent",
    "apps.moderation",
    # --- search (docs/search.md): PostgreSQL full-text and trigram search, or SQLite FTS5 ---
    "django.contrib.postgres",
    "apps.search",
    # --- end search ---
    # --- discovery and collections (explore, more like this, saved posts) ---
    "apps.discovery",
    "apps.collections",
    # --- end discovery and collections ---
    # Accounts: email confirmation, password reset, two-factor, sessions (django-allauth).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
]

MIDDLEWARE = [
    # Request ids, and errors in the API's shape (500 server_error, 503 unavailable).
    "apps.core.middleware.RequestErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The interface language: the django_language cookie (set by /i18n/setlang/), else
    # Accept-Language, else English. After sessions, before CommonMiddleware (Django's order).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy (django-csp; the policy is in the Security block below).
    "apps.core.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.ratelimit.SiteWritesMiddleware",
    # django-allauth: its login stages (two-factor) and the list of one's sessions.
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
]

ROOT_URLCONF = "apps.config.urls"
ASGI_APPLICATION = "apps.config.asgi.application"
WSGI_APPLICATION = "apps.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

# --- Database -------------------------------------------------------------------------------
# Set by the test runner when several test runs share one machine.
_TEST_DB_SUFFIX = env.str("VIVID_TEST_DB_SUFFIX", default="")
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'vivid.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions take the
    # write lock up front so concurrent writers wait (busy_timeout) instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so the server processes of browser tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test{_TEST_DB_SUFFIX}.sqlite3")}
else:
    if _TEST_DB_SUFFIX:
        DATABASES["default"]["TEST"] = {
            "NAME": f"test_{DATABASES['default']['NAME']}{_TEST_DB_SUFFIX}"
        }
    # Connections per process are bounded by a psycopg pool (DB_POOL_MAX_SIZE, 0 turns it off).
    # Under ASGI, persistent connections (CONN_MAX_AGE > 0) belong to whichever executor thread
    # ran the query and pile up (93 of the server's 100 under load, "too many clients"); a pool
    # hands each request a connection and takes it back at the request's end. A request that
    # finds the pool empty waits up to DB_POOL_TIMEOUT_S. tests/faults/test_db_connections.py
    # holds the count under load.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = env.str(
        "DB_APPLICATION_NAME", default="vivid"
    )
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections, Django must not
        # Django's backend whose pool asks the server whether a connection works only when that
        # can tell something, not on every request (apps/core/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "apps.core.postgresql"
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
            "max_idle": 300,
        }
        # After a failed connection psycopg_pool waits 1 s, then 2, 4, 8 … before trying again,
        # and requests wait on that: after a 2-s restart the first success came 2-6 s after
        # PostgreSQL was back (tests/faults/test_postgres_restart.py). Try every 0.1 s instead.
        from psycopg_pool.base import AttemptWithBackoff

        AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF = 0.1, 1.0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    # Server-side prepared statements for the few hot queries that ask for them
    # (apps.core.queries.QueryTemplate: token lookup, home feed); Django's own queries bind on
    # the client and are never prepared. DB_PREPARED_STATEMENTS=0 behind a pooler that cannot
    # keep them (e.g. PgBouncer in transaction mode before 1.21).
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 1_000_000
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ---------------------------------------------
# The embedded default is a Valkey server on a Unix socket in var/, started by `manage.py serve`.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "valkey.sock"
REDIS_URL = env.str("REDIS_URL", default=f"unix://{EMBEDDED_REDIS_SOCKET}")
REDIS_EMBEDDED = "REDIS_URL" not in env


def _celery_url(redis_url: str) -> str:
    """Kombu names Unix-socket Redis ``redis+socket://``; redis-py names it ``unix://``."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return redis_url


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # A consumer waits for its next message in BZPOPMIN for up to 5 s; redis-py's default
            # read timeout is also 5 s, and when it fires first the consumer crashes and the
            # browser's socket drops. Reads must be allowed to outlast that wait.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "prefix": env.str("CHANNELS_PREFIX", default="vivid"),
            "capacity": 1000,
            "expiry": 30,
        },
    }
}
# `pubsub` switches to Redis PUBLISH/SUBSCRIBE (RedisPubSubChannelLayer): no per-message queues
# in Redis, so nothing is kept for a process that is away. tests/bench/realtime.py compares them.
if env.str("CHANNEL_LAYER", default="redis") == "pubsub":
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL}],
            "prefix": env.str("CHANNELS_PREFIX", default="vivid"),
        },
    }
# How fan-out reaches followers' sockets: `multicast` (one Redis PUBLISH per batch of online
# followers, delivered by each web process to its own sockets) or `groups` (one channel-layer
# message per follower's `user.<id>` group). See apps/realtime/multicast.py.
REALTIME_FANOUT = env.str("REALTIME_FANOUT", default="multicast")
# A new post whose author has at most this many followers (or while at most this many people are
# online) is delivered by the web process that committed it, without the feed queue; 0: always
# the queue. See apps/posts/fanout.py.
REALTIME_INLINE_MAX = env.int("REALTIME_INLINE_MAX", default=5000)
# Sockets: per user, per connection (apps/realtime/limits.py has the close codes).
REALTIME_MAX_SOCKETS_PER_USER = env.int("REALTIME_MAX_SOCKETS_PER_USER", default=20)
REALTIME_FRAMES_PER_S = env.float("REALTIME_FRAMES_PER_S", default=10.0)
REALTIME_FRAME_BURST = env.int("REALTIME_FRAME_BURST", default=30)
REALTIME_MAX_FRAME_BYTES = 65_536

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_PREFIX", default="vivid"),
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_celery_url(REDIS_URL))
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A job whose worker dies mid-run goes back to the queue instead of being lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker is away keeps trying (celery's default gives up after 100 attempts).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# CELERY_BROKER_URL may also be amqp://user:password@host:5672/vhost (RabbitMQ, recommended in
# production, see the README); the channel layer, cache, locks and quotas stay on REDIS_URL.
# The options below are the Redis transport's; RabbitMQ ignores them.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redelivery of unacknowledged tasks; longer than the longest generation.
    "visibility_timeout": 3600,
    "global_keyprefix": env.str("CELERY_PREFIX", default=""),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "apps.generation.tasks.*": {"queue": "generation"},
    "apps.media.tasks.*": {"queue": "media"},
    "apps.posts.tasks.*": {"queue": "feed"},
    # Data exports read and write whole originals: CPU machines, beside the media work.
    "apps.accounts.tasks.export_build": {"queue": "media"},
}
CELERY_BEAT_SCHEDULE = {
    "generation-reap-stale-jobs": {
        "task": "apps.generation.tasks.reap_stale_jobs",
        "schedule": 60.0,
    },
    "moderation-suspensions-expire": {
        "task": "apps.moderation.tasks.suspensions_expire",
        "schedule": 60.0,
    },
    "moderation-flags-ingest": {
        "task": "apps.moderation.tasks.flags_ingest",
        "schedule": 5.0,
    },
    "ledger-checkpoint": {
        "task": "apps.core.tasks.ledger_checkpoint",
        "schedule": env.float("LEDGER_CHECKPOINT_INTERVAL", default=60.0),
    },
    # Tasks owed by commits whose fast send failed (apps.core.outbox); expired rows purged.
    "outbox-relay": {
        "task": "apps.core.tasks.outbox_relay",
        "schedule": env.float("OUTBOX_RELAY_EVERY_S", default=2.0),
        "options": {"expires": 10},
    },
    "core-purge": {"task": "apps.core.tasks.core_purge", "schedule": 600.0},
    # Accounts whose deletion grace period is over: rows and files purged (resumable).
    "accounts-deletions-purge": {
        "task": "apps.accounts.tasks.deletions_purge_due",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
    # Data exports past their week: the zip deleted, the export marked expired.
    "accounts-exports-expire": {"task": "apps.accounts.tasks.exports_expire", "schedule": 3600.0},
    # Liveness: a worker consuming these queues stamps the time (apps/config/celery.py).
    **{
        f"worker-heartbeat-{queue}": {
            "task": "vivid.worker_heartbeat",
            "schedule": 15.0,
            "args": [queue],
            "options": {"queue": queue, "expires": 60},
        }
        for queue in ("feed", "default")
    },
}
# Data export (apps.accounts.export): one a day per person, kept this many days, and its
# signed download links valid this many seconds.
EXPORT_INTERVAL_S = env.int("EXPORT_INTERVAL_S", default=86_400)
EXPORT_KEEP_DAYS = env.int("EXPORT_KEEP_DAYS", default=7)
EXPORT_LINK_TTL_S = env.int("EXPORT_LINK_TTL_S", default=3600)
# Account deletion (apps.accounts.deletion): gone at once, purged after this many days (signing
# in on the site before then cancels); the purge works in batches of ACCOUNT_DELETION_BATCH rows.
ACCOUNT_DELETION_GRACE_DAYS = env.int("ACCOUNT_DELETION_GRACE_DAYS", default=7)
ACCOUNT_DELETION_BATCH = env.int("ACCOUNT_DELETION_BATCH", default=200)
# Unsent after this many seconds, an outbox message is the relay's to send.
OUTBOX_RELAY_AFTER_S = env.float("OUTBOX_RELAY_AFTER_S", default=3.0)
# How long a write's Idempotency-Key is remembered.
IDEMPOTENCY_TTL_S = env.int("IDEMPOTENCY_TTL_S", default=86_400)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Signed logs (provenance, consent, audit: apps.core.ledger) -----------------------------
# The Ed25519 key new rows are signed with (PEM, or base64 of the 32 raw bytes). Unset, a
# development key is made on first use in LEDGER_KEYS_DIR; set it in production and keep the
# public halves of retired keys in LEDGER_KEYS_DIR/trusted/*.pub so old rows still verify.
LEDGER_SIGNING_KEY = env.str("LEDGER_SIGNING_KEY", default="")
LEDGER_KEYS_DIR = Path(env.str("LEDGER_KEYS_DIR", default=str(VAR_DIR / "keys")))
# C2PA content credentials (apps.provenance.credentials): paths of a PEM certificate chain (leaf
# first) and its PKCS#8 key. Unset, a local CA and leaf are made on first use in C2PA_KEYS_DIR.
# C2PA_TRUST_ANCHORS: PEM of the roots trusted when reading credentials (default: the local CA).
C2PA_SIGNING_CERT = env.str("C2PA_SIGNING_CERT", default="")
C2PA_SIGNING_KEY = env.str("C2PA_SIGNING_KEY", default="")
C2PA_TRUST_ANCHORS = env.str("C2PA_TRUST_ANCHORS", default="")
C2PA_KEYS_DIR = Path(env.str("C2PA_KEYS_DIR", default=str(LEDGER_KEYS_DIR / "c2pa")))
# The public /verify upload (apps.provenance.verify): files one client address may check per window.
VERIFY_RATE_LIMIT = env.int("VERIFY_RATE_LIMIT", default=20)
VERIFY_RATE_WINDOW_S = env.int("VERIFY_RATE_WINDOW_S", default=60)
# Moderation (apps.moderation; the README's moderation sections say what each one does).
MODERATION_STRIKE_DAYS = env.int("MODERATION_STRIKE_DAYS", default=90)
MODERATION_STRIKES_TO_SUSPEND = env.int("MODERATION_STRIKES_TO_SUSPEND", default=3)
MODERATION_BLOCKLIST_DISTANCE = env.int("MODERATION_BLOCKLIST_DISTANCE", default=10)
MODERATION_REPORTS_PER_HOUR = env.int("MODERATION_REPORTS_PER_HOUR", default=30)

# --- Rate limits (apps.core.ratelimit): "<count>/<window>", window in s, m, h or d -----------
# RATE_LIMITS_ENABLED=0 turns them all off (load tests, benchmarks).
RATE_LIMITS_ENABLED = env.bool("RATE_LIMITS_ENABLED", default=True)
RATE_LIMITS = {
    "login_account": env.str("RATE_LIMIT_LOGIN_ACCOUNT", default="10/15m"),  # failed log-ins
    "login_address": env.str("RATE_LIMIT_LOGIN_ADDRESS", default="30/15m"),  # failed log-ins
    "signup_address": env.str("RATE_LIMIT_SIGNUP_ADDRESS", default="10/1h"),
    "password_reset_address": env.str("RATE_LIMIT_PASSWORD_RESET_ADDRESS", default="10/1h"),
    "writes_user": env.str("RATE_LIMIT_WRITES_USER", default="120/1m"),
    "socket_address": env.str("RATE_LIMIT_SOCKETS_ADDRESS", default="60/1m"),
}
# The deepest nesting of arrays and objects a JSON body may have (apps.core.parsers).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "posts:feed"
LOGOUT_REDIRECT_URL = "posts:feed"

# --- Accounts: django-allauth (apps/accounts/adapter.py; the README's "Your account") --------
# Vivid's own backend first, so sessions made before allauth stay valid; allauth's lets a right
# password on an account pending deletion reach the login (which cancels the deletion).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
USERSESSIONS_ADAPTER = "apps.accounts.adapter.UserSessionsAdapter"
ACCOUNT_FORMS = {"login": "apps.accounts.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = False  # as before allauth: one address may have several accounts
# People may log in before confirming; publishing waits for it where the setting below says so.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Vivid] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# May an account whose email is not confirmed yet publish? Required in production; optional in
# development and the embedded default, so scripts keep working.
ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH = env.bool(
    "ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH", default=not DEBUG
)
# Passwords, sign-ups and password resets are counted by Vivid's limits (RATE_LIMITS, in Redis,
# with Retry-After); allauth's own counters for them are off (the adapter skips its count of
# failed passwords) so nothing counts twice. Its other limits stay: wrong two-factor codes
# ("login_failed": 5 per 5 minutes per account), resending a confirmation, reauthenticating.
ACCOUNT_RATE_LIMITS = (
    {"login": None, "signup": None, "reset_password": None} if RATE_LIMITS_ENABLED else False
)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Vivid")
# Moderators and admins must have two-factor sign-in on before they act or make moderate tokens.
MFA_REQUIRED_FOR_MODERATORS = env.bool("MFA_REQUIRED_FOR_MODERATORS", default=not DEBUG)
USERSESSIONS_TRACK_ACTIVITY = False

# --- Email: the console by default; SMTP with EMAIL_URL or EMAIL_HOST ------------------------
# EMAIL_URL: smtp+tls://user:password@host:587 (django-environ's forms, also consolemail://,
# filemail:///path). Or EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
# EMAIL_USE_TLS.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default=env.str("EMAIL_USER", default=""))
    EMAIL_HOST_PASSWORD = env.str(
        "EMAIL_HOST_PASSWORD", default=env.str("EMAIL_PASSWORD", default="")
    )
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Vivid <vivid@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N, static, media --------------------------------------------------------------------
# --- Languages: English and Indonesian (README "Languages"; translations in locale/) ---
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats per language (apps/config/formats/<lang>/formats.py): "7 Desember 2026".
FORMAT_MODULE_PATH = ["apps.config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# --- end languages ---

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Embedded mode serves static files straight from frontend/static with no collectstatic step.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=not PRODUCTION)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Media on any S3-compatible store when a bucket is named (django-storages); the local disk
# otherwise. Objects stay private: every file goes out through Vivid's permission-checked views.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "default_acl": None,
            "querystring_auth": True,
            # Content-addressed names: the same name always holds the same bytes.
            "file_overwrite": True,
        },
    }
# How long a signed media link works (links handed to API clients and S3 redirects).
MEDIA_SIGNED_URL_TTL_S = env.int("MEDIA_SIGNED_URL_TTL_S", default=3600)
# With S3, answer permitted requests with a redirect to a presigned URL valid this long (seconds)
# instead of streaming through Vivid; 0 streams (the default: access ends at once on deletion).
MEDIA_S3_REDIRECT_S = env.int("MEDIA_S3_REDIRECT_S", default=0)
# Untrusted uploads (avatars now): bytes and decoded pixels at most, and processing time.
MEDIA_UPLOAD_MAX_BYTES = env.int("MEDIA_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
MEDIA_UPLOAD_MAX_PIXELS = env.int("MEDIA_UPLOAD_MAX_PIXELS", default=40_000_000)
MEDIA_UPLOAD_TIME_LIMIT_S = env.float("MEDIA_UPLOAD_TIME_LIMIT_S", default=20.0)
# Untrusted files are decoded in child processes (apps.media.sandbox): how many per web process,
# CPU seconds per file, address space (MiB) above a child's start, and at most this many uploads
# of one person / one address processed at once (429 rate_limited beyond).
MEDIA_UPLOAD_WORKERS = env.int("MEDIA_UPLOAD_WORKERS", default=4)
MEDIA_UPLOAD_CPU_S = env.float("MEDIA_UPLOAD_CPU_S", default=2.0)
# CPU time for a /verify file's keyframe and credential reads.
VERIFY_CPU_S = env.float("VERIFY_CPU_S", default=MEDIA_UPLOAD_CPU_S)
MEDIA_UPLOAD_MEMORY_MB = env.int("MEDIA_UPLOAD_MEMORY_MB", default=256)
MEDIA_UPLOAD_PER_PERSON = env.int("MEDIA_UPLOAD_PER_PERSON", default=2)
MEDIA_UPLOAD_PER_ADDRESS = env.int("MEDIA_UPLOAD_PER_ADDRESS", default=4)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.accounts.auth.TokenScopes",
    ],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.BoundedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.ratelimit.WritesThrottle"],
    # DRF's JSONRenderer's bytes, written by orjson (apps/core/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["apps.core.renderers.FastJSONRenderer"],
    # DRF's, without parsing Accept when it is absent, */* or application/json.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.ApiContentNegotiation",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    # drf-spectacular's, plus the error answers of every operation (apps.core.schema).
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vivid API",
    "DESCRIPTION": "Generate, publish and follow AI-made images and videos.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # --- OpenAPI errors, pages and bounds (apps/core/schema.py, docs/api.md) ---
    "PREPROCESSING_HOOKS": ["apps.core.schema.only_api_v1"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.header_bounds",
        "apps.core.schema.exclusive_fields",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    # --- end OpenAPI errors ---
    "ENUM_NAME_OVERRIDES": {
        "MediaKindEnum": "apps.generation.models.GenerationJob.Kind",
        "ReactionKindEnum": ["like", "love", "haha", "wow", "fire"],
        "ModerationReasonEnum": "apps.moderation.models.Reason",
        "ModerationActionEnum": "apps.moderation.actions.ACTIONS",
        "ProtectedTermActionEnum": "apps.moderation.models.ProtectedTerm.Action",
        "PostVisibilityEnum": "apps.posts.models.Post.Visibility",
        "CollectionVisibilityEnum": "apps.collections.models.Collection.Visibility",
    },
}

# --- Generation -----------------------------------------------------------------------------
GENERATION_BACKENDS = {
    "procedural": {
        "BACKEND": "apps.generation.backends.procedural.ProceduralBackend",
        "OPTIONS": {},
    },
}
# Hosted images and videos through OpenAI's API, only when a key is in the environment (the
# backend reads the key from there itself; it never goes into settings). OPENAI_BASE_URL points
# it at a compatible service instead.
if env.str("OPENAI_API_KEY", default=""):
    GENERATION_BACKENDS["openai"] = {
        "BACKEND": "apps.generation.backends.openai.OpenAIBackend",
        "OPTIONS": {"base_url": env.str("OPENAI_BASE_URL", default="") or None},
    }
# ComfyUI servers on the operator's GPUs: a comma-separated list of base URLs turns the backend
# on, with the example workflows in platform/comfyui/ unless COMFYUI_WORKFLOWS_DIR names the
# operator's own folder. Each workflow is a model choice "comfyui:<file name>". A header every
# request carries (a proxy's credentials) is read from COMFYUI_AUTH_HEADER ("Name: value").
COMFYUI_URLS = env.list("COMFYUI_URLS", default=[])
if COMFYUI_URLS:
    GENERATION_BACKENDS["comfyui"] = {
        "BACKEND": "apps.generation.backends.comfyui.ComfyUIBackend",
        "OPTIONS": {
            "urls": COMFYUI_URLS,
            "workflows_dir": env.str(
                "COMFYUI_WORKFLOWS_DIR", default=str(BASE_DIR / "platform" / "comfyui")
            ),
        },
    }
GENERATION_DEFAULT_BACKEND = "procedural"

# --- Search (docs/search.md) ------------------------------------------------------------------
# A dotted path to a backend class (apps.search.backends.SearchBackend); empty: the database's
# own (PostgreSQL full-text search, or SQLite FTS5 on the embedded default).
SEARCH_BACKEND = env.str("SEARCH_BACKEND", default="")
# Posts are ranked among the newest this many visible matches of a query.
SEARCH_CANDIDATES = env.int("SEARCH_CANDIDATES", default=250)
# Tag search reads counts recounted this often (apps.search.models.TagCount).
CELERY_BEAT_SCHEDULE["search-tag-counts"] = {
    "task": "apps.search.tasks.tag_counts_refresh",
    "schedule": env.float("SEARCH_TAG_COUNTS_EVERY_S", default=300.0),
    "options": {"expires": 300},
}
# --- end search ---
GENERATION_PROMPT_MAX_CHARS = 2000
# A job still running after this long is failed by the periodic reaper.
GENERATION_JOB_TIME_LIMIT_S = env.int("GENERATION_JOB_TIME_LIMIT_S", default=600)
# A job still queued this long after it was handed to the broker is handed over again.
GENERATION_REQUEUE_AFTER_S = env.int("GENERATION_REQUEUE_AFTER_S", default=300)
# The worker running a job holds a lock this long, renewed as it works; a worker that dies lets
# the redelivered job start again after at most this long.
GENERATION_LOCK_TTL_S = env.int("GENERATION_LOCK_TTL_S", default=15)
# Per creator: unfinished jobs at once, and cost units per UTC day (see generation/quotas.py).
GENERATION_MAX_ACTIVE_JOBS = env.int("GENERATION_MAX_ACTIVE_JOBS", default=3)
GENERATION_DAILY_BUDGET = env.int("GENERATION_DAILY_BUDGET", default=1000)

# --- Security (docs/security.md) ------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the site's small ES modules read it for fetch() calls
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The Django admin's path; another path than the well-known one keeps it out of drive-by scans.
# An empty ADMIN_URL unmounts it. It signs in through the site's login (two-factor included).
ADMIN_URL = env.str("ADMIN_URL", default="manage/")
if ADMIN_URL and not ADMIN_URL.endswith("/"):
    ADMIN_URL += "/"
if PRODUCTION:
    # The header the TLS-terminating proxy sets (and overwrites when a client sends it) to say
    # the request came over https (platform/nginx.conf sets X-Forwarded-Proto). Empty when
    # Vivid faces clients itself: a client could otherwise claim https over plain http.
    _proxy_header = env.str("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto")
    if _proxy_header:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
    # On by default; SECURE_SSL_REDIRECT=0 when the proxy already redirects http to https.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading is hard to undo (months), so it is the operator's explicit choice.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # security.W021 only says "not submitted to the preload list": off on purpose (above).
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True


def _media_origins() -> list[str]:
    """Origins media may load from besides the site: CSP_MEDIA_ORIGINS (a CDN, say) and, with
    S3, the store's, where MEDIA_S3_REDIRECT_S sends browsers with presigned URLs."""
    origins = env.list("CSP_MEDIA_ORIGINS", default=[])
    if not AWS_STORAGE_BUCKET_NAME:
        return origins
    endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
    if endpoint:
        parts = urlsplit(endpoint)
        # Path-style and virtual-hosted-style addresses of the bucket on that endpoint.
        origins += [f"{parts.scheme}://{parts.netloc}", f"{parts.scheme}://*.{parts.netloc}"]
    else:
        origins.append("https://*.amazonaws.com")
    return origins


# No inline script or style, no eval: behaviour lives in frontend/static/js, looks in
# frontend/static/css (the browser test tests/e2e/test_csp.py walks the pages). connect-src gets
# the site's own ws:// or wss:// origin per request (apps.core.security), for browsers that do
# not count WebSockets as 'self'. CSP_REPORT_ONLY=1 sends the same policy as report-only.
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *_media_origins()],
        "media-src": ["'self'", "data:", "blob:", *_media_origins()],
        # The media store too: the trim panel fetches a clip whole (library.js), which a
        # presigned redirect (MEDIA_S3_REDIRECT_S) sends there.
        "connect-src": ["'self'", *_media_origins()],
        "font-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# (Read into a private name: django-csp 4 refuses settings named like its 3.x ones, CSP_*.)
_csp_report_uri = env.str("CSP_REPORT_URI", default="")
if _csp_report_uri:
    _CSP["DIRECTIVES"]["report-uri"] = [_csp_report_uri]
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django adds its own console handler; print its messages once, through ours.
    "loggers": {
        "django": {"handlers": ["console"], "propagate": False},
        # One line per provider request is noise at INFO.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # The pool warns at every failed connection attempt (ten a second while PostgreSQL is
        # down); apps.core.middleware logs an outage once when it starts and once when it ends.
        "psycopg.pool": {"level": "ERROR"},
    },
}
