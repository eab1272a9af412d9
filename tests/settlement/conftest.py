"""Settlement fixtures: users uploaded by KEPF and reached by the notice long ago, some of
whom object; signed payloads as the operators' systems make them."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from django.utils import timezone

from tests.transfers.conftest import bizplay_api, kepf_api, shinhan_api, upload_rows  # noqa: F401
from transfers import synthetic

SHINHAN = ("operator", "operator:SHINHAN")
KEPF = ("operator", "operator:KEPF")


@pytest.fixture
def users(approved_plan):
    """Six users (balances 1,000 to 6,000 won) and two merchants uploaded by KEPF, declared
    as such; the notice reached every one of them 31 days ago."""
    from governance.models import DataSubject
    from tests.history import notified_long_ago

    rows = list(synthetic.rows("merchant", 1, 2)) + list(synthetic.rows("user", 1, 6))
    upload_rows(approved_plan, rows, declared={"subjects": {"merchant": 2, "user": 6},
                                               "certificate_balance_sum": 21_000})
    notified_long_ago(approved_plan)
    return list(DataSubject.objects.filter(kind="user").order_by("id"))


def object_to(plan, subject) -> None:
    """Arrange history: ``subject`` objected (Art. 27) to ``plan``."""
    from governance.services import consent_state_object

    consent_state_object(plan=plan, subject=subject, objected_at=timezone.now())


def refund_for(plan, subject):
    """An objector's refund case, opened as if from the user's page."""
    from settlement.models import RefundCase
    from settlement.services import refund_case_request

    object_to(plan, subject)
    return refund_case_request(plan=plan, subject=subject, channel=RefundCase.Channel.WEB,
                               by=("subject", f"subject:{subject.public_id}"))


def signed(key, body: dict) -> dict:
    """``body`` as the exact bytes signed with ``key`` (an Ed25519 private key)."""
    payload = json.dumps(body).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def confirmation(plan, refund_case, /, **override) -> dict:
    return {"plan": plan.pk, "case": str(refund_case.public_id), "amount": refund_case.amount,
            "refunded_at": timezone.now().isoformat(), "reference": "KEPF-RF-0001",
            "nonce": secrets.token_urlsafe(16), "signed_at": timezone.now().isoformat(),
            **override}


def release_now(plan):
    from transfers.services import release_export, release_request

    release = release_request(plan=plan, by=SHINHAN)
    return release_export(release_id=release.pk)


def party(code: str, name: str = ""):
    """A registered operator with freshly generated keys (tests.conftest._party), made first
    if the Seoul register has no such code (the subcontractor)."""
    from governance.models import Operator
    from tests.conftest import _party

    if code not in ("SEOUL", "KEPF", "SHINHAN", "BIZPLAY"):
        Operator.objects.get_or_create(code=code, defaults={
            "name": name or code, "role": Operator.Role.PROCESSOR})
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        from governance.models import OperatorKey
        from governance.services import operator_key_register
        from tests.conftest import OperatorParty

        operator = Operator.objects.get(code=code)
        hpke, signing = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        raw = (Encoding.Raw, PublicFormat.Raw)
        operator_key_register(operator=operator, purpose=OperatorKey.Purpose.SIGNATURE,
                              public_key=signing.public_key().public_bytes(*raw), by=None)
        return OperatorParty(operator, hpke, signing)
    return _party(code)


@pytest.fixture
def subcontractor(approved_plan):
    """KEPF's subcontractor (재수탁자), named on the plan as if drafted with it."""
    from governance.models import TransferPlan

    sub = party("KEPFSUB", "KEPF 재수탁 정산사")
    TransferPlan.objects.filter(pk=approved_plan.pk).update(subcontractor=sub.operator)
    approved_plan.refresh_from_db()
    return sub


@pytest.fixture
def city_party(approved_plan):
    """The city, the plan's controller, with a signing key of its own."""
    seoul = party("SEOUL")
    assert approved_plan.controller_id == seoul.operator.pk
    return seoul
