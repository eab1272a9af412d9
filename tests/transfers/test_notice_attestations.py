"""The outgoing operator's signed attestations that its own notice reached subjects."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import DataSubject, NoticeEvidence, SubjectNotice
from governance.selectors import plan_decisions
from tests.transfers.conftest import upload_rows
from transfers import synthetic
from transfers.models import NoticeAttestation

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(approved_plan):
    """Four users and two merchants uploaded by KEPF for the approved plan, approved two days
    ago; no notice has reached anyone yet."""
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(
        approved_at=timezone.now() - dt.timedelta(days=2))
    approved_plan.refresh_from_db()
    upload_rows(approved_plan, list(synthetic.rows("merchant", 1, 2))
                + list(synthetic.rows("user", 1, 4)))
    return list(DataSubject.objects.filter(kind="user").order_by("id"))


def _url(plan) -> str:
    return f"/api/plans/{plan.pk}/notice-attestations"


def _line(external_id: str, channel: str = "in_app", notified_at=None) -> dict:
    return {"external_id": external_id, "channel": channel,
            "notified_at": (notified_at or timezone.now()).isoformat()}


def _signed(for_plan, key, lines, *, nonce=None, signed_at=None, **override) -> dict:
    payload = json.dumps({"plan": for_plan.pk, "nonce": nonce or secrets.token_urlsafe(16),
                          "signed_at": (signed_at or timezone.now()).isoformat(),
                          "attestations": lines, **override}).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def _nothing_stored() -> None:
    assert NoticeAttestation.objects.count() == 0
    assert NoticeEvidence.objects.count() == 0
    assert SubjectNotice.objects.count() == 0
    assert not AuditEvent.objects.filter(action__in=["notice.attestation_received",
                                                     "notice.evidence_recorded"]).exists()


def test_a_signed_attestation_becomes_notice_evidence_for_each_subject(
        kepf_api, outgoing_operator, approved_plan, users):
    told = timezone.now() - dt.timedelta(seconds=30)
    lines = [_line(users[0].external_id, "in_app", told),
             _line(users[1].external_id, "post", told)]
    body = _signed(approved_plan, outgoing_operator.signing_private_key, lines,
                   nonce="nonce-of-kepf-0001")

    response = kepf_api.post(_url(approved_plan), body)

    assert response.status_code == 201, response.content
    attestation = NoticeAttestation.objects.get()
    assert response.json() == {"attestation": attestation.pk, "plan": approved_plan.pk,
                               "lines": 2, "subjects": 2,
                               "channels": {"in_app": 1, "post": 1}}
    assert bytes(attestation.payload) == base64.b64decode(body["payload"])
    evidence = {e.subject_id: e for e in NoticeEvidence.objects.all()}
    assert set(evidence) == {users[0].pk, users[1].pk}
    assert {e.channel for e in evidence.values()} == {"operator"}
    assert evidence[users[0].pk].reference == "in_app:nonce-of-kepf-0001:0"
    assert evidence[users[1].pk].reference == "post:nonce-of-kepf-0001:1"
    assert evidence[users[0].pk].recorded_by == "operator:KEPF"
    assert set(SubjectNotice.objects.values_list("subject_id", flat=True)) == {
        users[0].pk, users[1].pk}
    received = AuditEvent.objects.get(action="notice.attestation_received")
    assert received.actor_id == "operator:KEPF"
    assert received.details["lines"] == 2 and received.details["channels"] == {
        "in_app": 1, "post": 1}
    assert AuditEvent.objects.filter(action="notice.evidence_recorded").count() == 2
    assert users[0].external_id not in json.dumps(received.details)


def test_an_attested_user_waits_out_the_notice_period_and_the_others_are_not_notified(
        kepf_api, outgoing_operator, approved_plan, users):
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id)])
    assert kepf_api.post(_url(approved_plan), body).status_code == 201

    reasons = {ref.id: decisions["user.name"].reason for ref, decisions
               in plan_decisions(approved_plan, now=timezone.now()) if ref.kind == "user"}

    assert reasons[users[0].pk] == "denied_notice_period"
    assert {reasons[u.pk] for u in users[1:]} == {"denied_not_notified"}


@pytest.mark.parametrize("tamper, status, code", [
    ("signature", 400, "bad_signature"),
    ("payload", 400, "bad_signature"),
    ("other_key", 400, "bad_signature"),
    ("wrong_plan", 400, "wrong_plan"),
    ("stale", 400, "stale_attestation"),
    ("signed_in_the_future", 400, "stale_attestation"),
    ("not_base64", 400, "invalid_request"),  # refused by the body's schema (a pattern)
    ("unknown_payload_key", 400, "invalid_attestation"),
    ("bad_channel", 400, "invalid_attestation"),
    ("no_offset", 400, "invalid_attestation"),
    ("short_nonce", 400, "invalid_attestation"),
])
def test_a_tampered_stale_or_malformed_attestation_is_refused_and_nothing_is_stored(
        kepf_api, outgoing_operator, incoming_operator, approved_plan, users, tamper, status,
        code):
    key = outgoing_operator.signing_private_key
    lines = [_line(users[0].external_id)]
    if tamper == "other_key":
        body = _signed(approved_plan, incoming_operator.signing_private_key, lines)
    elif tamper == "wrong_plan":
        body = _signed(approved_plan, key, lines, plan=approved_plan.pk + 1)
    elif tamper == "stale":
        body = _signed(approved_plan, key, lines,
                       signed_at=timezone.now() - dt.timedelta(minutes=16))
    elif tamper == "signed_in_the_future":
        body = _signed(approved_plan, key, lines,
                       signed_at=timezone.now() + dt.timedelta(hours=1))
    elif tamper == "unknown_payload_key":
        body = _signed(approved_plan, key, lines, note="x")
    elif tamper == "bad_channel":
        body = _signed(approved_plan, key, [_line(users[0].external_id, "sms")])
    elif tamper == "no_offset":
        body = _signed(approved_plan, key, [{**lines[0], "notified_at": "2026-12-01T09:00"}])
    elif tamper == "short_nonce":
        body = _signed(approved_plan, key, lines, nonce="abc")
    else:
        body = _signed(approved_plan, key, lines)
        if tamper == "signature":
            signature = bytearray(base64.b64decode(body["signature"]))
            signature[0] ^= 1
            body["signature"] = base64.b64encode(bytes(signature)).decode()
        elif tamper == "payload":
            payload = base64.b64decode(body["payload"]).replace(b'"in_app"', b'"post"')
            body["payload"] = base64.b64encode(payload).decode()
        else:
            body["payload"] = "%%%"

    response = kepf_api.post(_url(approved_plan), body)

    assert (response.status_code, response.json()["error"]) == (status, code), response.content
    _nothing_stored()


def test_a_replayed_attestation_is_refused_and_recorded_once(
        kepf_api, outgoing_operator, approved_plan, users):
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id)])
    assert kepf_api.post(_url(approved_plan), body).status_code == 201

    again = kepf_api.post(_url(approved_plan), body)

    assert (again.status_code, again.json()["error"]) == (409, "replayed")
    assert NoticeAttestation.objects.count() == 1 and NoticeEvidence.objects.count() == 1


def test_an_unknown_external_id_is_refused_by_its_line_without_echoing_it(
        kepf_api, outgoing_operator, approved_plan, users):
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id), _line("U-NOBODY-4242")])

    response = kepf_api.post(_url(approved_plan), body)

    assert (response.status_code, response.json()["error"]) == (400, "unknown_subject")
    assert "attestations[1]" in response.json()["detail"]
    assert "NOBODY" not in response.content.decode()
    _nothing_stored()


def test_a_subject_of_another_operator_or_without_art27_fields_is_unknown(
        kepf_api, outgoing_operator, unrelated_operator, approved_plan, users):
    from governance.services import subjects_upsert

    subjects_upsert(operator=unrelated_operator.operator, kind="user", by=None,
                    rows=[{"external_id": "U-BIZPLAY-1"}])
    merchant = DataSubject.objects.filter(kind="merchant").first()
    for external_id in ("U-BIZPLAY-1", merchant.external_id):
        body = _signed(approved_plan, outgoing_operator.signing_private_key,
                       [_line(external_id)])

        response = kepf_api.post(_url(approved_plan), body)

        assert (response.status_code, response.json()["error"]) == (400, "unknown_subject")
    _nothing_stored()


@pytest.mark.parametrize("when", ["future", "before_approval"])
def test_a_notice_dated_in_the_future_or_before_approval_is_refused_by_its_line(
        kepf_api, outgoing_operator, approved_plan, users, when):
    notified_at = (timezone.now() + dt.timedelta(hours=2) if when == "future"
                   else approved_plan.approved_at - dt.timedelta(days=1))
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id), _line(users[1].external_id,
                                                       notified_at=notified_at)])

    response = kepf_api.post(_url(approved_plan), body)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_notified_at")
    assert response.json()["detail"].startswith("attestations[1].notified_at: ")
    _nothing_stored()


def test_another_operators_plan_answers_404_and_stores_nothing(
        bizplay_api, shinhan_api, unrelated_operator, incoming_operator, approved_plan, users):
    for api, party in ((bizplay_api, unrelated_operator), (shinhan_api, incoming_operator)):
        body = _signed(approved_plan, party.signing_private_key, [_line(users[0].external_id)])

        response = api.post(_url(approved_plan), body)

        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    _nothing_stored()


def test_a_body_with_other_keys_is_refused_before_anything_is_checked(
        kepf_api, outgoing_operator, approved_plan, users):
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id)])

    response = kepf_api.post(_url(approved_plan), {**body, "lines": 1})

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert "lines" in response.json()["fields"]
    _nothing_stored()


def test_more_than_ten_thousand_lines_are_refused(kepf_api, outgoing_operator, approved_plan,
                                                  users):
    lines = [_line(users[0].external_id)] * 10_001
    body = _signed(approved_plan, outgoing_operator.signing_private_key, lines)

    response = kepf_api.post(_url(approved_plan), body)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_attestation")
    _nothing_stored()


def test_a_plan_no_longer_in_force_takes_no_attestation(
        kepf_api, outgoing_operator, approved_plan, second_officer, users):
    from governance.services import plan_cancel

    plan_cancel(plan=approved_plan, by=second_officer)
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id)])

    response = kepf_api.post(_url(approved_plan), body)

    assert (response.status_code, response.json()["error"]) == (409, "plan_not_in_force")
    _nothing_stored()


def test_a_token_without_the_upload_scope_cannot_attest(outgoing_operator, approved_plan,
                                                        users):
    from tests.transfers.conftest import make_api

    reader = make_api(outgoing_operator, scope="release:read")
    body = _signed(approved_plan, outgoing_operator.signing_private_key,
                   [_line(users[0].external_id)])

    assert reader.post(_url(approved_plan), body).status_code == 403
    _nothing_stored()
