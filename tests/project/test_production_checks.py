"""Production settings refuse to start with development keys or unsafe choices."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
TWILIO_SETTINGS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_MESSAGING_SERVICE_SID")


def _run_check(tmp_path, *flags, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DJANGO_SECRET_KEY", "SERVICE_SIGNING_KEY", "FIELD_ENCRYPTION_KEYS",
                         "BLIND_INDEX_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL",
                         "SMS_PROVIDER", *TWILIO_SETTINGS}}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "manage.py", "check", *flags], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60)


def test_it_refuses_production_without_real_keys(tmp_path):
    result = _run_check(tmp_path, DJANGO_ENV="production")
    assert result.returncode != 0
    for name in ("SERVICE_SIGNING_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        assert f"{name} is not set in the environment" in result.stderr
    assert not (tmp_path / "dev-keys.json").exists()


def _real_production(**env) -> dict[str, str]:
    """A production environment that passes every check; ``env`` overrides or, with an
    empty value, leaves a variable out."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from audit.witness.note import witness_verifier_key

    signing = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                         NoEncryption())
    witness = witness_verifier_key("pipc.example/witness", Ed25519PrivateKey.generate()).text
    values = {
        "DJANGO_ENV": "production", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "SERVICE_SIGNING_KEY": base64.b64encode(signing).decode(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "BLIND_INDEX_KEY": "k" * 40,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "CACHE_URL": "redis://127.0.0.1:6379/1",
        "AUDIT_WITNESSES": f"https://witness.pipc.example {witness}",  # broker.E016
    } | env
    return {name: value for name, value in values.items() if value}


def test_production_with_real_keys_passes_the_deployment_checks(tmp_path):
    result = _run_check(tmp_path, "--deploy", "--fail-level", "WARNING", **_real_production())
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_twilio_with_its_three_settings_passes_the_deployment_checks(tmp_path):
    twilio = {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
              "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "3" * 32}
    result = _run_check(tmp_path, "--deploy", "--fail-level", "WARNING",
                        **_real_production(**twilio))
    assert result.returncode == 0, result.stderr


def test_it_refuses_production_without_a_shared_cache(tmp_path):
    result = _run_check(tmp_path, "--deploy", **_real_production(CACHE_URL=""))
    assert result.returncode != 0
    assert "broker.E008" in result.stderr
    assert "CACHE_URL is not set" in result.stderr
    assert "rate limits" in result.stderr  # the hint says what goes wrong without it


def test_it_refuses_twilio_in_production_without_its_credentials(tmp_path):
    result = _run_check(tmp_path, "--deploy", **_real_production(SMS_PROVIDER="twilio"))
    assert result.returncode != 0
    for name in TWILIO_SETTINGS:
        assert f"SMS_PROVIDER is twilio but {name} is not set." in result.stderr
    assert result.stderr.count("broker.E009") == 3


def test_it_names_only_the_missing_twilio_setting(tmp_path):
    result = _run_check(tmp_path, "--deploy", **_real_production(
        SMS_PROVIDER="twilio", TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_MESSAGING_SERVICE_SID="MG" + "3" * 32))
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr
    assert "callback" in result.stderr  # the hint: Twilio's signed callbacks are refused
    assert result.stderr.count("broker.E009") == 1


def test_it_generates_development_keys_once_into_var(tmp_path):
    first = _run_check(tmp_path)
    assert first.returncode == 0, first.stderr
    keys = (tmp_path / "dev-keys.json").read_text()
    assert oct((tmp_path / "dev-keys.json").stat().st_mode & 0o777) == "0o600"
    _run_check(tmp_path)
    assert (tmp_path / "dev-keys.json").read_text() == keys


def test_production_refuses_staff_sessions_idle_longer_than_thirty_minutes(tmp_path):
    result = _run_check(tmp_path, **_real_production(STAFF_SESSION_IDLE_MINUTES="60"))
    assert result.returncode != 0
    assert "broker.E014" in result.stderr and "STAFF_SESSION_IDLE_MINUTES is 60" in result.stderr


def test_check_deploy_refuses_access_logs_kept_under_two_years(tmp_path):
    result = _run_check(tmp_path, "--deploy", AUDIT_ACCESS_RETENTION_DAYS="365")
    assert result.returncode != 0
    assert "broker.E015" in result.stderr and "at least 730 days" in result.stderr


def test_production_refuses_staff_logins_without_lock_out_or_second_factor(settings):
    from config.checks import production_staff_logins_are_protected

    settings.IS_PRODUCTION = True
    assert production_staff_logins_are_protected(None) == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE
                           if m not in ("axes.middleware.AxesMiddleware",
                                        "django_otp.middleware.OTPMiddleware")]
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

    errors = {e.id: e.msg for e in production_staff_logins_are_protected(None)}

    assert set(errors) == {"broker.E010", "broker.E011"}
    assert "AxesStandaloneBackend' first in AUTHENTICATION_BACKENDS" in errors["broker.E010"]
    assert "OTPMiddleware' in MIDDLEWARE" in errors["broker.E011"]
