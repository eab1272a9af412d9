"""Settings for the consent broker: one module, every value from the environment.

With no environment at all it runs the embedded default: SQLite in ``var/``, Celery tasks
executed in-process, development keys generated into ``var/dev-keys.json``. Set
``DJANGO_ENV=production`` and the keys, ``DATABASE_URL`` and ``CELERY_BROKER_URL`` to run it
for real; ``config.checks`` refuses to start production settings that are unsafe.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import env_bool, env_int, env_list, env_str
from config.keys import load_secrets

# --- Paths and environment --------------------------------------------------------------

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
ENVIRONMENT = env_str("DJANGO_ENV", "development")  # development | test | production
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not IS_PRODUCTION)

# --- Keys and secrets -------------------------------------------------------------------

_SECRETS, DEV_GENERATED_SECRETS = load_secrets(
    VAR_DIR / "dev-keys.json", allow_generate=not IS_PRODUCTION
)
# A missing production secret gets a throw-away placeholder only so that the system check
# (config.checks) can run and name every missing key at once; it refuses to start.
SECRET_KEY = _SECRETS.get("DJANGO_SECRET_KEY") or "missing-" + __import__("secrets").token_hex(16)
SERVICE_SIGNING_KEY = _SECRETS.get("SERVICE_SIGNING_KEY", "")
FIELD_ENCRYPTION_KEYS = [k.strip() for k in _SECRETS.get("FIELD_ENCRYPTION_KEYS", "").split(",")
                         if k.strip()]
BLIND_INDEX_KEY = _SECRETS.get("BLIND_INDEX_KEY", "")

# --- Hosts and HTTP security ------------------------------------------------------------

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Public address that goes into SMS links and Twilio's status-callback URLs.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (and the webhook validator
# rebuilds the URL Twilio signed from the forwarded headers).
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", default=False)
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_HSTS_PRELOAD = IS_PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
# Consent links carry a token: never send it to another site. Not "no-referrer": with it
# browsers send "Origin: null" on every form POST, and Django's CSRF check refuses them all.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# --- Applications -----------------------------------------------------------------------

INSTALLED_APPS = [
    # Django's admin, with the officers' site as admin.site: a verified second factor for
    # every page (officers.sites.OfficerAdminSite).
    "officers.admin_config.OfficerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Libraries with an admin section are listed by their AppConfig in Korean
    # (config.third_party_apps): the library's own app, renamed in the admin only.
    "config.third_party_apps.OperatorApiAuthConfig",  # oauth2_provider
    "drf_spectacular",
    "config.third_party_apps.PeriodicTasksConfig",  # django_celery_beat
    # Staff logins: lock-out after repeated failures (axes), a second factor (django-otp:
    # TOTP, and single-use recovery codes).
    "config.third_party_apps.LoginLockoutConfig",  # axes
    "django_otp",
    "config.third_party_apps.SecondFactorAppConfig",  # django_otp.plugins.otp_totp
    "config.third_party_apps.RecoveryCodesConfig",  # django_otp.plugins.otp_static
    "config.apps.ConfigAppConfig",
    # Our apps, in layer order: each depends only on the ones above it.
    "audit",
    # Officers' access: the access log of personal data, the monthly review, the second
    # factor's pages, permission history. Below governance so every admin can log access.
    "officers",
    "governance",
    "consent",
    "transfers",
    "settlement",  # refunds and the disposition of every won (reads transfers)
    "operations",  # the top layer: dashboard, rehearsal and its report
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's, the consent page's and Chart.js's static files from gunicorn itself
    # (compressed, cached forever under hashed names), so no extra server is needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): which second-factor device verified this session, if any.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Ends a staff session idle for STAFF_SESSION_IDLE_MINUTES (with a message, so after
    # MessageMiddleware); names the acting account for the permission history.
    "officers.middleware.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    # Persistent connections: without them a one-query page falls from ~1,400 to ~180 req/s.
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60),
                                     conn_health_checks=True),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: wait for the writer instead of failing with "database is locked". IMMEDIATE
    # transactions take the write lock up front: a deferred one that reads, then writes, fails
    # at once when another thread writes (seen with concurrent SMS status callbacks). WAL lets
    # readers go on while one thread writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20, "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# --- Cache (rate limits, lockouts) ------------------------------------------------------

REDIS_CACHE_URL = env_str("CACHE_URL")
if REDIS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# With a shared cache, sessions are read from it (written through to the database): the
# consent page reads the session on every step (bench/consent_page.py).
SESSION_ENGINE = ("django.contrib.sessions.backends.cached_db" if REDIS_CACHE_URL
                  else "django.contrib.sessions.backends.db")

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
# No broker: tasks run in-process, right where they are queued (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "Asia/Seoul"
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "audit.*": {"queue": "audit"},
    "consent.tasks.send_*": {"queue": "sms"},
    "transfers.tasks.export_*": {"queue": "exports"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Production serves what `collectstatic` gathered (the Procfile's release step), under hashed
# names; elsewhere WhiteNoise finds the files in the apps, so nothing needs collecting first.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": ("whitenoise.storage.CompressedManifestStaticFilesStorage"
                                if IS_PRODUCTION else
                                "django.contrib.staticfiles.storage.StaticFilesStorage")},
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root

# --- Authentication ---------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Axes first: a locked-out account or address is refused before its password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Lock-out (django-axes). Counted per account and, separately, per client address: five
# wrong passwords (or second-factor codes) for one account lock that account, five from one
# address lock that address. Locked until the site administrator unlocks (the admin's 접근
# 시도 page, or `manage.py axes_reset_username`). The database handler keeps the counters in
# PostgreSQL, which every web process shares like the cache, but a Redis restart or eviction
# cannot lift a lock-out, and the administrator sees and lifts them in the admin.
AXES_FAILURE_LIMIT = env_int("STAFF_LOGIN_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Consecutive failures count (the safeguards standard): they start again only once the whole
# login, second factor included, has succeeded (officers.sites), never after the password alone.
AXES_RESET_ON_SUCCESS = False
AXES_SENSITIVE_PARAMETERS = ["password", "code"]
AXES_COOLOFF_TIME = None
AXES_CLIENT_IP_CALLABLE = "officers.access.axes_client_ip"
AXES_LOCKOUT_TEMPLATE = "officers/locked_out.html"
AXES_VERBOSE = False
# Every staff account has a second factor (officers.sites): a TOTP app, or one of its
# single-use recovery codes. The issuer names this service in the authenticator app.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "consent-broker")
STAFF_RECOVERY_CODES = 10
# A staff session unused this long is ended (officers.middleware): the safeguards standard
# asks for idle sessions to be cut off. Production refuses more than 30 minutes.
STAFF_SESSION_IDLE_MINUTES = env_int("STAFF_SESSION_IDLE_MINUTES", 30)

# --- Operator API (DRF + OAuth2 client credentials) -------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
    ],
    # Deny by default: every endpoint must say who may call it.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_TOKEN_SECONDS", 600),
    # Tokens only for, and only accepted from, an operator client that is not revoked.
    "OAUTH2_VALIDATOR_CLASS": "transfers.oauth_validator.OperatorClientOAuth2Validator",
    "SCOPES": {
        "upload": "Upload the outgoing operator's records for a plan",
        "release:read": "Read releases addressed to the incoming operator",
        "release:ack": "Acknowledge a release and confirm deletions",
    },
    "DEFAULT_SCOPES": [],
    # Operators use client credentials only; adopt every RFC 9700 (OAuth security BCP)
    # behaviour, including tokens stored as hashes.
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    **{f"COMPLIANT_BCP_RFC9700_{gate}": True for gate in (
        "IMPLICIT_GRANT", "PASSWORD_GRANT", "PKCE_METHOD", "ACCESS_TOKEN_TRANSPORT",
        "AUTHZ_RESPONSE_ISS", "TOKEN_STORAGE", "REFRESH_TOKEN", "REDIRECT_URI_SCHEME",
        "REDIRECT_URI_MATCHING", "PKCE_REQUIRED")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consent broker operator API",
    "DESCRIPTION": "Uploads from the outgoing operator, releases to the incoming operator.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "transfers.schema.raw_bodies_required",
                             "transfers.schema.servers_declared"],
    # A subject's kind is one enum in every generated client (not a hashed name).
    "ENUM_NAME_OVERRIDES": {"SubjectKindEnum": ["merchant", "user"]},
}

# --- Audit trail ------------------------------------------------------------------------

# Origin line of signed checkpoints (C2SP tlog-checkpoint); names this log for verifiers.
AUDIT_LOG_ORIGIN = env_str("AUDIT_LOG_ORIGIN", "consent-broker.example/audit")
# A new signed checkpoint at most this often (seconds) while entries are being sealed. Under
# steady load an event waits up to one interval for its checkpoint: 1 s keeps p99 under 2 s.
AUDIT_CHECKPOINT_INTERVAL = float(env_str("AUDIT_CHECKPOINT_INTERVAL", "1"))
# Seal right after commit in-process (embedded default) instead of in a Celery task.
AUDIT_SEAL_INLINE = env_bool("AUDIT_SEAL_INLINE", default=CELERY_TASK_ALWAYS_EAGER)
# verify_audit fails when an event has waited longer than this (seconds) to be sealed: the
# sealer is stopped or failing. Sealing normally follows within a second or two.
AUDIT_MAX_UNSEALED_SECONDS = env_int("AUDIT_MAX_UNSEALED_SECONDS", 300)


# How long a day of a rehearsal plan's notice period lasts (plans marked rehearsal only: they
# move nothing real and never reach a register). `manage.py rehearse --day-seconds` sets it in
# its own process; a separately served rehearsal (--base-url) needs it in the server's env.
REHEARSAL_DAY_SECONDS = env_int("REHEARSAL_DAY_SECONDS", 86_400)
def _audit_witnesses(name: str) -> list[dict[str, str]]:
    """The witnesses asked to co-sign every checkpoint (docs/audit.md, "Witnesses").

    Either `URL VKEY` pairs separated by `;`, or a JSON list of {"url": …, "vkey": …}; the
    witness's name is its verifier key's name. A malformed entry stops the start-up.
    """
    import json

    from django.core.exceptions import ImproperlyConfigured

    from audit.witness.note import COSIGNATURE_V1, NoteError, parse_verifier_key

    raw = env_str(name).strip()
    if not raw:
        return []
    try:
        pairs = ([(item["url"], item["vkey"]) for item in json.loads(raw)] if raw[0] == "["
                 else [tuple(item.split()) for item in raw.split(";") if item.strip()])
        witnesses = []
        for url, vkey in pairs:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
            key = parse_verifier_key(vkey, algorithm=COSIGNATURE_V1)
            witnesses.append({"name": key.name, "url": url.rstrip("/"), "vkey": key.text})
    except (ValueError, KeyError, TypeError, NoteError) as exc:
        raise ImproperlyConfigured(f"{name} must be 'URL VKEY;URL VKEY' or a JSON list of "
                                   f'{{"url", "vkey"}}: {exc}') from None
    if len({w["name"] for w in witnesses}) != len(witnesses):
        raise ImproperlyConfigured(f"{name} names a witness twice")
    return witnesses


# Witnesses (C2SP tlog-witness) that co-sign each new checkpoint, e.g. the commission's:
# "https://witness.example/ commission.example/witness+1a2b3c4d+BAS…". Empty: none.
AUDIT_WITNESSES = _audit_witnesses("AUDIT_WITNESSES")
# Access entries (access.*) and permission history (staff.*) are kept at least this long:
# two years for a system holding more than 50,000 subjects (safeguards standard, Art. 8).
# The log is append-only, so nothing removes them earlier; an archive that ever prunes it
# must keep this. The system check refuses a value below 730.
AUDIT_ACCESS_RETENTION_DAYS = env_int("AUDIT_ACCESS_RETENTION_DAYS", 730)

# --- SMS and the consent page -----------------------------------------------------------

SMS_PROVIDER = env_str("SMS_PROVIDER", "console")  # console | twilio
SMS_OUTBOX_FILE = VAR_DIR / "sms-outbox.jsonl"
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
# Points the real Twilio SDK at the local stand-in server in tests and benchmarks.
TWILIO_API_BASE = env_str("TWILIO_API_BASE")
SMS_SEND_RATE_PER_SECOND = env_int("SMS_SEND_RATE_PER_SECOND", 100)
# A claimed SMS (and a campaign's sending loop) whose worker went silent this long is settled
# by a lookup at the provider, never resent blindly. Must exceed one batch (~2 s of sends).
SMS_CLAIM_LEASE_SECONDS = env_int("SMS_CLAIM_LEASE_SECONDS", 120)
TWILIO_HTTP_TIMEOUT = float(env_str("TWILIO_HTTP_TIMEOUT", "10"))
CALL_CENTRE_PHONE = env_str("CALL_CENTRE_PHONE", "02-120")
# Identity checks on the consent page per client address (django-ratelimit, shared cache).
CONSENT_VERIFY_RATE = env_str("CONSENT_VERIFY_RATE", "30/m")

# --- Transfers (uploads and releases) -------------------------------------------------

# Release files (manifest, signature, encrypted chunks), served to the recipient only.
RELEASES_DIR = Path(env_str("RELEASES_DIR", str(VAR_DIR / "releases")))
TRANSFERS_RELEASE_CHUNK_RECORDS = env_int("TRANSFERS_RELEASE_CHUNK_RECORDS", 50_000)
TRANSFERS_MAX_BATCH_BYTES = env_int("TRANSFERS_MAX_BATCH_BYTES", 64 * 1024 * 1024)
# An acknowledgement signed longer ago than this is refused (replay window).
TRANSFERS_ACK_MAX_AGE_SECONDS = env_int("TRANSFERS_ACK_MAX_AGE_SECONDS", 900)

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # One line per task is noise when a task runs in-process for every batch.
    "loggers": {"celery.app.trace": {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")}},
}
