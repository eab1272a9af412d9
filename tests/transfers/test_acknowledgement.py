"""Signed acknowledgements and the reconciliation of all four sets of figures."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from django.utils import timezone

from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from transfers import synthetic
from transfers.models import Acknowledgement
from transfers.selectors import plan_reconciliation
from transfers.services import release_export, release_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(approved_plan, incoming_operator):
    rows = list(synthetic.rows("merchant", 1, 5)) + list(synthetic.rows("user", 1, 6))
    balance = sum(r["user.certificate_balance"] for r in rows if r["kind"] == "user")
    upload_rows(approved_plan, rows, declared={"subjects": {"merchant": 5, "user": 6},
                                               "certificate_balance_sum": balance})
    notified_long_ago(approved_plan)
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    return release_export(release_id=release.pk)


def _totals(release) -> dict:
    manifest = json.loads(bytes(release.manifest))
    return {"records": manifest["counts"]["records"],
            "subjects": manifest["counts"]["subjects"],
            "fields": manifest["counts"]["fields"],
            "certificate_balance_sum": manifest["control_totals"]["certificate_balance_sum"]}


def _signed(rel, key, *, totals=None, nonce=None, signed_at=None, **override) -> dict:
    release = rel
    payload = json.dumps({
        "release": str(release.public_id), "manifest_sha256": release.manifest_sha256,
        "nonce": nonce or secrets.token_urlsafe(16),
        "signed_at": (signed_at or timezone.now()).isoformat(),
        "totals": totals if totals is not None else _totals(release), **override}).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def test_matching_signed_totals_reconcile(shinhan_api, incoming_operator, release,
                                          approved_plan):
    body = _signed(release, incoming_operator.signing_private_key)
    response = shinhan_api.post(f"/api/releases/{release.public_id}/acknowledgements", body)
    assert response.status_code == 201, response.content
    assert response.json() == {"acknowledgement": Acknowledgement.objects.get().pk,
                               "matches": True, "mismatches": []}
    rows = {r.metric: r for r in plan_reconciliation(approved_plan)}
    assert all(r.ok for r in rows.values()), [r for r in rows.values() if not r.ok]
    assert (rows["subjects.user"].declared, rows["subjects.user"].accepted,
            rows["subjects.user"].released, rows["subjects.user"].acknowledged) == (6, 6, 6, 6)


def test_a_planted_mismatch_is_flagged(shinhan_api, incoming_operator, release, approved_plan):
    totals = _totals(release)
    totals["certificate_balance_sum"] -= 1000
    totals["fields"]["user.phone"] -= 1
    body = _signed(release, incoming_operator.signing_private_key, totals=totals)
    response = shinhan_api.post(f"/api/releases/{release.public_id}/acknowledgements", body)
    assert response.status_code == 201
    assert response.json()["matches"] is False
    assert {m["metric"] for m in response.json()["mismatches"]} == {
        "certificate_balance_sum", "fields.user.phone"}
    flagged = {r.metric for r in plan_reconciliation(approved_plan) if not r.ok}
    assert flagged == {"certificate_balance_sum", "fields.user.phone"}


def test_declared_totals_that_differ_from_the_accepted_rows_are_flagged(
        approved_plan, incoming_operator):
    rows = list(synthetic.rows("user", 1, 3)) + [synthetic.user_row(4) | {"user.phone": "x"}]
    upload_rows(approved_plan, rows, declared={"subjects": {"user": 4}})
    flagged = {r.metric: r for r in plan_reconciliation(approved_plan) if not r.ok}
    assert set(flagged) == {"subjects.user"}
    assert (flagged["subjects.user"].declared, flagged["subjects.user"].accepted) == (4, 3)


@pytest.mark.parametrize("tamper", ["signature", "payload", "other_key", "wrong_release",
                                    "stale", "not_base64"])
def test_a_tampered_or_stale_acknowledgement_is_refused_and_nothing_is_stored(
        shinhan_api, incoming_operator, outgoing_operator, release, tamper):
    key = incoming_operator.signing_private_key
    if tamper == "other_key":
        body = _signed(release, outgoing_operator.signing_private_key)
    elif tamper == "wrong_release":
        body = _signed(release, key, release="00000000-0000-0000-0000-000000000000")
    elif tamper == "stale":
        body = _signed(release, key, signed_at=timezone.now() - dt.timedelta(hours=2))
    else:
        body = _signed(release, key)
        if tamper == "signature":
            sig = bytearray(base64.b64decode(body["signature"]))
            sig[0] ^= 1
            body["signature"] = base64.b64encode(bytes(sig)).decode()
        elif tamper == "payload":
            payload = base64.b64decode(body["payload"]).replace(b'"records":', b'"records":1')
            body["payload"] = base64.b64encode(payload).decode()
        else:
            body["payload"] = "%%%"
    response = shinhan_api.post(f"/api/releases/{release.public_id}/acknowledgements", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] in {"bad_signature", "wrong_release",
                                        "stale_acknowledgement", "invalid_acknowledgement",
                                        "invalid_request"}  # not base64: the serializer's
    assert Acknowledgement.objects.count() == 0


def test_a_replayed_acknowledgement_is_refused(shinhan_api, incoming_operator, release):
    body = _signed(release, incoming_operator.signing_private_key)
    url = f"/api/releases/{release.public_id}/acknowledgements"
    assert shinhan_api.post(url, body).status_code == 201
    again = shinhan_api.post(url, body)
    assert again.status_code == 409 and again.json()["error"] == "replayed"
    assert Acknowledgement.objects.count() == 1


def test_a_subject_sent_again_in_a_later_release_moves_once_and_still_reconciles(
        shinhan_api, incoming_operator, release, approved_plan):
    from governance.models import DataSubject
    from governance.services import subject_consent_state_set

    first = release
    shinhan_api.post(f"/api/releases/{first.public_id}/acknowledgements",
                     _signed(first, incoming_operator.signing_private_key))
    merchant = DataSubject.objects.get(external_id="M-0000001")
    subject_consent_state_set(plan=approved_plan, subject=merchant,
                              fields_granted=["merchant.email"])
    second = release_export(release_id=release_request(
        plan=approved_plan, by=("operator", "operator:SHINHAN")).pk)
    shinhan_api.post(f"/api/releases/{second.public_id}/acknowledgements",
                     _signed(second, incoming_operator.signing_private_key))

    rows = {r.metric: r for r in plan_reconciliation(approved_plan)}

    assert second.record_count == 1  # the merchant again, with every field it may now move
    assert all(r.ok for r in rows.values()), [r for r in rows.values() if not r.ok]
    merchants = rows["subjects.merchant"]
    assert (merchants.accepted, merchants.moved, merchants.released,
            merchants.acknowledged) == (5, 5, 6, 6)
    assert rows["fields.merchant.email"].moved == 1
    assert rows["fields.merchant.shop_name"].moved == 5


def test_declared_kinds_the_source_did_not_send_are_flagged(approved_plan):
    from transfers.services import upload_create

    upload_create(plan=approved_plan, by=("operator", "operator:KEPF"),
                  declared_totals={"subjects": {"merchant": 5}})

    flagged = {r.metric: r for r in plan_reconciliation(approved_plan) if not r.ok}

    assert (flagged["subjects.merchant"].declared, flagged["subjects.merchant"].accepted) == (5, 0)


def test_an_unrelated_operator_cannot_acknowledge_a_release_it_never_received(
        bizplay_api, unrelated_operator, release, approved_plan):
    """Bizplay, party to nothing here, signs totals for Shinhan's release with its own key:
    the release does not exist for it, nothing is stored and the reconciliation still waits
    for the recipient's acknowledgement."""
    body = _signed(release, unrelated_operator.signing_private_key)

    response = bizplay_api.post(f"/api/releases/{release.public_id}/acknowledgements", body)

    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert release.manifest_sha256 not in response.content.decode()
    assert not Acknowledgement.objects.exists()
    acknowledged = {r.metric: r.acknowledged for r in plan_reconciliation(approved_plan)}
    assert set(acknowledged.values()) == {None}
