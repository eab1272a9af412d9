"""Operators' public keys: registration, rotation history and the current key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import OperatorKey
from governance.selectors import operator_current_key
from governance.services import GovernanceError, operator_key_register
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _raw_public() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_a_new_key_replaces_the_current_one_and_the_history_stays(incoming_operator):
    operator = incoming_operator.operator
    first = operator_current_key(operator, OperatorKey.Purpose.ENCRYPTION)
    before = timezone.now()
    second = operator_key_register(operator=operator, purpose="encryption",
                                   public_key=_raw_public(), by=None)
    assert operator_current_key(operator, "encryption") == second
    first.refresh_from_db()
    assert first.replaced_by == second and first.valid_until is not None
    assert operator_current_key(operator, "encryption", at=before) == first
    assert OperatorKey.objects.filter(operator=operator, purpose="encryption").count() == 2


def test_it_refuses_a_key_that_is_not_a_raw_public_key(incoming_operator):
    with pytest.raises(GovernanceError):
        operator_key_register(operator=incoming_operator.operator, purpose="signature",
                              public_key=b"short", by=None)


def test_an_officer_registers_a_key_in_the_admin(client, officer, unrelated_operator):
    login_verified(client, officer)
    raw = _raw_public()
    response = client.post(reverse("admin:governance_operatorkey_add"), {
        "operator": unrelated_operator.operator.pk, "purpose": "encryption",
        "valid_from_0": "2026-01-01", "valid_from_1": "00:00:00",
        "public_key_b64": base64.b64encode(raw).decode()})
    assert response.status_code == 302
    key = operator_current_key(unrelated_operator.operator, "encryption")
    assert bytes(key.public_key) == raw
    event = AuditEvent.objects.filter(action="operator_key.registered").last()
    assert event.actor_id == f"user:{officer.pk}" and event.details["key_id"] == key.key_id
