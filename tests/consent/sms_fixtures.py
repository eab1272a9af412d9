"""Fixtures of the SMS side (campaigns, sending, webhooks, replies): import them into a test
module with ``from tests.consent.sms_fixtures import *  # noqa: F403``.

- ``merchants``: KEPF's merchants, each with its own synthetic mobile number (a factory:
  ``merchants(5)``).
- ``outbox``: the console provider writing to a fresh ``sms-outbox.jsonl`` (``.lines()``).
- ``standin``: the Twilio stand-in server in this process, with the real SDK pointed at it
  (``SMS_PROVIDER=twilio``) and PUBLIC_BASE_URL on the live test server when one runs.
- ``campaign_for``: a campaign on the approved plan without quiet hours, ready to launch.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from governance.seoul import synthetic_brn, synthetic_phone

__all__ = ["merchants", "outbox", "standin", "campaign_for", "TWILIO_TOKEN", "Outbox"]

TWILIO_TOKEN = "test-auth-token-for-the-stand-in"
ACCOUNT_SID = "AC" + "1" * 32


@pytest.fixture
def merchants(db, outgoing_operator):
    """``merchants(n, start=100, phone=True)`` -> n DataSubjects (M-000100 ...), each with a
    unique mobile number unless ``phone=False``."""
    from governance.models import DataSubject
    from governance.services import subjects_upsert

    def make(n: int, *, start: int = 100, phone: bool = True) -> list:
        rows = []
        for i in range(start, start + n):
            row = {"external_id": f"M-{i:06d}", "brn": synthetic_brn(i)}
            if phone:
                row["phone"] = synthetic_phone(i)
            rows.append(row)
        result = subjects_upsert(operator=outgoing_operator.operator, kind="merchant",
                                 rows=rows, by=None)
        return list(DataSubject.objects.filter(pk__in=result.ids.values()).order_by("id"))
    return make


class Outbox:
    def __init__(self, path):
        self.path = path

    def lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


@pytest.fixture
def outbox(settings, tmp_path):
    settings.SMS_PROVIDER = "console"
    settings.SMS_OUTBOX_FILE = tmp_path / "sms-outbox.jsonl"
    return Outbox(settings.SMS_OUTBOX_FILE)


@pytest.fixture
def standin(settings):
    from consent.sms.standin import StandinServer

    with StandinServer(account_sid=ACCOUNT_SID, auth_token=TWILIO_TOKEN) as server:
        settings.SMS_PROVIDER = "twilio"
        settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
        settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
        settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
        settings.TWILIO_API_BASE = server.url
        settings.TWILIO_HTTP_TIMEOUT = 1.0
        yield server


@pytest.fixture
def campaign_for(approved_plan, officer):
    """``campaign_for(**overrides)`` -> a draft merchant campaign with no quiet hours."""
    from consent.services.campaigns import campaign_create

    def make(**values):
        values.setdefault("expires_at", timezone.now() + dt.timedelta(days=14))
        values.setdefault("quiet_from_hour", 0)
        values.setdefault("quiet_until_hour", 0)
        values.setdefault("send_rate_per_second", 200)
        return campaign_create(plan=approved_plan, name="가맹점 동의 요청", by=officer,
                               subject_kind=values.pop("subject_kind", "merchant"), **values)
    return make
