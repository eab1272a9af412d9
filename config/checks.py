"""Start-up checks that refuse dangerous production configuration."""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from config.keys import GENERATORS


@register(Tags.security, deploy=False)
def production_keys_are_real(app_configs, **kwargs) -> list[Error]:
    if not settings.IS_PRODUCTION:
        return []
    errors = []
    for name in GENERATORS:
        if name in settings.DEV_GENERATED_SECRETS or not _secret_value(name):
            errors.append(Error(
                f"{name} is not set in the environment.",
                hint="Production never uses generated development keys; set the variable.",
                id="broker.E001",
            ))
    errors += _malformed_key_errors()
    if settings.DEBUG:
        errors.append(Error("DJANGO_DEBUG is on in production.", id="broker.E002"))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        errors.append(Error("Production runs on PostgreSQL; set DATABASE_URL.", id="broker.E003"))
    if not settings.CELERY_BROKER_URL:
        errors.append(Error("Production runs Celery workers; set CELERY_BROKER_URL.",
                            id="broker.E004"))
    return errors


def _secret_value(name: str) -> str:
    return {
        "DJANGO_SECRET_KEY": "" if settings.SECRET_KEY.startswith("missing-")
        else settings.SECRET_KEY,
        "SERVICE_SIGNING_KEY": settings.SERVICE_SIGNING_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
    }[name]


def _malformed_key_errors() -> list[Error]:
    errors = []
    try:
        if settings.SERVICE_SIGNING_KEY and len(base64.b64decode(settings.SERVICE_SIGNING_KEY,
                                                                 validate=True)) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        errors.append(Error("SERVICE_SIGNING_KEY must be a base64 raw Ed25519 private key "
                            "(32 bytes).", id="broker.E005"))
    for key in settings.FIELD_ENCRYPTION_KEYS:
        try:
            Fernet(key)
        except ValueError:
            errors.append(Error("FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key.",
                                id="broker.E006"))
    if settings.BLIND_INDEX_KEY and len(settings.BLIND_INDEX_KEY) < 32:
        errors.append(Error("BLIND_INDEX_KEY must be at least 32 characters.", id="broker.E007"))
    return errors


# Caches that live inside one process: rate limits, identity-check lockouts and webhook
# replay keys kept there are counted per gunicorn worker, so N workers allow N times the limit.
_PROCESS_LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache",
                         "django.core.cache.backends.dummy.DummyCache")

# What the Twilio provider cannot work without, and what goes wrong without each.
_TWILIO_SETTINGS = {
    "TWILIO_ACCOUNT_SID": "Set it to the Twilio account's SID (AC...): without it no SMS can "
                          "be sent.",
    "TWILIO_AUTH_TOKEN": "Set it to the account's auth token: without it no SMS can be sent, "
                         "and every status callback and reply is refused (Twilio signs "
                         "them with this token).",
    "TWILIO_MESSAGING_SERVICE_SID": "Set it to the Messaging Service (MG...) the SMS are sent "
                                    "from: without it no SMS can be sent.",
}


@register(Tags.security, Tags.caches, deploy=False)
def production_services_are_configured(app_configs, **kwargs) -> list[Error]:
    if not settings.IS_PRODUCTION:
        return []
    return _shared_cache_errors() + _twilio_errors()


def _shared_cache_errors() -> list[Error]:
    if settings.CACHES["default"]["BACKEND"] not in _PROCESS_LOCAL_CACHES:
        return []
    return [Error(
        "CACHE_URL is not set: the cache lives inside each process.",
        hint="Set CACHE_URL to the shared Redis: otherwise rate limits, identity-check "
             "lockouts and webhook replay keys are counted per web process, and each "
             "process allows the full limit.",
        id="broker.E008",
    )]


def _twilio_errors() -> list[Error]:
    if settings.SMS_PROVIDER != "twilio":
        return []
    return [Error(f"SMS_PROVIDER is twilio but {name} is not set.", hint=consequence,
                  id="broker.E009")
            for name, consequence in _TWILIO_SETTINGS.items() if not getattr(settings, name)]


# What staff logins cannot do without in production (safeguards standard Arts. 5-6): a
# lock-out after repeated failures, a second factor, and idle sessions ended.
_LOGIN_PROTECTION = {
    "broker.E010": ("axes", "axes.middleware.AxesMiddleware",
                    "axes.backends.AxesStandaloneBackend",
                    "django-axes locks an account or address out after repeated failed "
                    "logins"),
    "broker.E011": ("django_otp", "django_otp.middleware.OTPMiddleware", None,
                    "django-otp gives every staff login its second factor"),
    "broker.E012": ("officers", "officers.middleware.StaffSessionMiddleware", None,
                    "officers ends staff sessions left idle and names who changes "
                    "permissions"),
}
# The safeguards standard leaves the idle limit to the controller; 30 minutes is the most
# this service allows staff sessions in production.
STAFF_SESSION_IDLE_MAX_MINUTES = 30
# Access logs of a system holding more than 50,000 subjects: at least two years (Art. 8(1)).
AUDIT_ACCESS_RETENTION_MIN_DAYS = 730


@register(Tags.security, deploy=False)
def production_staff_logins_are_protected(app_configs, **kwargs) -> list[Error]:
    if not settings.IS_PRODUCTION:
        return []
    errors = []
    for check_id, (app, middleware, backend, why) in _LOGIN_PROTECTION.items():
        missing = [name for name, present in (
            # By the app's module, however it is listed (config.third_party_apps).
            (f"'{app}' in INSTALLED_APPS", django_apps.is_installed(app)),
            (f"'{middleware}' in MIDDLEWARE", middleware in settings.MIDDLEWARE),
            (f"'{backend}' first in AUTHENTICATION_BACKENDS",
             backend is None or settings.AUTHENTICATION_BACKENDS[:1] == [backend]),
        ) if not present]
        if missing:
            errors.append(Error(f"Staff logins are unprotected: {', '.join(missing)} missing.",
                                hint=f"Restore it: {why}.", id=check_id))
    errors += _second_factor_site_errors() + _idle_limit_errors()
    return errors


def _second_factor_site_errors() -> list[Error]:
    from django.contrib import admin

    from officers.sites import OfficerAdminSite

    if isinstance(admin.site, OfficerAdminSite):  # a lazy object that answers as its site
        return []
    return [Error("The admin site does not require a second factor.",
                  hint="List 'officers.admin_config.OfficerAdminConfig' in INSTALLED_APPS "
                       "instead of 'django.contrib.admin'.", id="broker.E013")]


def _idle_limit_errors() -> list[Error]:
    minutes = settings.STAFF_SESSION_IDLE_MINUTES
    if 1 <= minutes <= STAFF_SESSION_IDLE_MAX_MINUTES:
        return []
    return [Error(f"STAFF_SESSION_IDLE_MINUTES is {minutes}.",
                  hint=f"Idle staff sessions must end within 1 to "
                       f"{STAFF_SESSION_IDLE_MAX_MINUTES} minutes.", id="broker.E014")]


@register(Tags.security, deploy=False)
def access_logs_are_kept_long_enough(app_configs, **kwargs) -> list[Error]:
    """In every environment: the legal minimum is not a production-only setting."""
    days = settings.AUDIT_ACCESS_RETENTION_DAYS
    if days >= AUDIT_ACCESS_RETENTION_MIN_DAYS:
        return []
    return [Error(f"AUDIT_ACCESS_RETENTION_DAYS is {days}.",
                  hint=f"Access entries and permission history are kept at least "
                       f"{AUDIT_ACCESS_RETENTION_MIN_DAYS} days (two years: the safeguards "
                       "standard, Art. 8, for a system of more than 50,000 subjects).",
                  id="broker.E015")]


@register(Tags.security, deploy=False)
def audit_log_is_witnessed(app_configs, **kwargs) -> list[CheckMessage]:
    """A malformed AUDIT_WITNESSES in any environment; in production, no witness at all, or
    only witnesses on this machine (docs/audit.md, "Witnesses")."""
    from audit.witnessing import witness_setting_problems, witnesses_all_local

    witnesses = settings.AUDIT_WITNESSES
    errors: list[CheckMessage] = [
        Error(f"AUDIT_WITNESSES: {problem}.",
              hint="Each witness is its URL and its cosignature verifier key "
                   "(name+keyid+base64 key of type 0x04), as `python -m audit.witness keygen` "
                   "prints it.", id="broker.E017")
        for problem in witness_setting_problems(witnesses)]
    if not settings.IS_PRODUCTION or errors:
        return errors
    if not witnesses:
        errors.append(Error(
            "AUDIT_WITNESSES is empty: no witness co-signs the audit log's checkpoints.",
            hint="Name the commission's witness (its URL and verifier key): without one, "
                 "whoever runs the service could show the commission one history of the log "
                 "and the operators another, and nothing would tell.", id="broker.E016"))
    elif witnesses_all_local(witnesses):
        errors.append(Warning(
            "AUDIT_WITNESSES names only witnesses on this machine.",
            hint="A witness run beside the service is in its operator's hands and proves "
                 "nothing to the commission: name the commission's own witness.",
            id="broker.W016"))
    return errors
