"""The settlement statement: made only when every won is accounted for, co-signed by each
party with its key (the city through the admin); the admin shows who has signed."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from settlement.models import SettlementStatement, StatementSignature
from settlement.services import statement_create
from tests.settlement.conftest import refund_for, release_now, signed
from tests.staff import login_verified
from tests.transfers.conftest import make_api
from transfers.models import Record
from transfers.services.common import Conflict

pytestmark = pytest.mark.django_db

OFFICER = ("officer", "user:1")


@pytest.fixture
def statement(approved_plan, users, subcontractor, city_party):
    refund_for(approved_plan, users[0])
    release_now(approved_plan)
    return statement_create(plan=approved_plan, by=OFFICER)


def _signature(plan, statement, role, **override) -> dict:
    return {"plan": plan.pk, "statement": str(statement.public_id), "sha256": statement.sha256,
            "nonce": secrets.token_urlsafe(16), "signed_at": timezone.now().isoformat(),
            "role": role, **override}


def _url(plan) -> str:
    return f"/api/plans/{plan.pk}/statement"


def test_every_party_co_signs_and_the_admin_shows_who_signed(
        client, officer, approved_plan, statement, outgoing_operator, incoming_operator,
        subcontractor, city_party):
    content = json.loads(bytes(statement.content))
    assert content["balance"]["unaccounted"] == 0
    assert content["balance"]["refund_requested"] == 1_000
    for who, role, scope in ((outgoing_operator, "source", "upload"),
                             (subcontractor, "subcontractor", "upload"),
                             (incoming_operator, "recipient", "release:ack")):
        response = make_api(who, scope=scope).post(
            f"{_url(approved_plan)}/signatures",
            signed(who.signing_private_key, _signature(approved_plan, statement, role)))
        assert response.status_code == 201, (role, response.content)
    login_verified(client, officer)
    city = signed(city_party.signing_private_key, _signature(approved_plan, statement, "city"))
    entered = client.post(f"/admin/settlement/settlementstatement/{statement.pk}/sign/",
                          {"role": "city", **city})
    assert entered.status_code == 302, entered.content.decode()[-2000:]

    shown = make_api(subcontractor, scope="upload").get(_url(approved_plan)).json()
    page = client.get(entered["Location"]).content.decode()

    assert shown["sha256"] == statement.sha256 and shown["awaiting"] == []
    assert base64.b64decode(shown["content_base64"]) == bytes(statement.content)
    assert sorted(s["role"] for s in shown["signatures"]) == [
        "city", "recipient", "source", "subcontractor"]
    assert "KEPFSUB" in page and "SEOUL" in page
    # Times as the rest of the admin shows them (Seoul), and the maker by name.
    signed_at = timezone.localtime(statement.signatures.get(role="city").signed_at)
    assert f"{signed_at:%Y-%m-%d %H:%M:%S} KST" in page
    maker = get_user_model().objects.filter(pk=1).first()
    assert (f"{maker.get_username()} (user:1)" if maker else "user:1") in page
    listing = client.get("/admin/settlement/settlementstatement/").content.decode()
    assert "모두 서명함" in listing
    assert AuditEvent.objects.filter(action="settlement.statement_signed").count() == 4


def test_no_statement_while_a_won_is_unaccounted(approved_plan, users):
    release_now(approved_plan)
    Record.objects.filter(plan=approved_plan, subject=users[0]).update(
        certificate_balance=F("certificate_balance") - 1)

    with pytest.raises(Conflict) as refused:
        statement_create(plan=approved_plan, by=OFFICER)

    assert refused.value.code == "not_clean" and not SettlementStatement.objects.exists()


@pytest.mark.parametrize("tamper, status, code", [
    ("other_sha", 400, "wrong_statement"),
    ("not_its_role", 400, "wrong_role"),
    ("replayed", 409, "replayed"),
    ("signed_twice", 409, "already_signed"),
])
def test_a_wrong_or_repeated_signature_is_refused(approved_plan, statement, outgoing_operator,
                                                  tamper, status, code):
    api = make_api(outgoing_operator, scope="upload")
    url = f"{_url(approved_plan)}/signatures"
    body = signed(outgoing_operator.signing_private_key,
                  _signature(approved_plan, statement, "source"))
    if tamper in ("replayed", "signed_twice"):
        assert api.post(url, body).status_code == 201
        if tamper == "signed_twice":
            body = signed(outgoing_operator.signing_private_key,
                          _signature(approved_plan, statement, "source"))
    elif tamper == "other_sha":
        body = signed(outgoing_operator.signing_private_key,
                      _signature(approved_plan, statement, "source", sha256="0" * 64))
    else:
        body = signed(outgoing_operator.signing_private_key,
                      _signature(approved_plan, statement, "city"))
    before = StatementSignature.objects.count()

    response = api.post(url, body)

    assert (response.status_code, response.json()["error"]) == (status, code), response.content
    assert StatementSignature.objects.count() == before


def test_an_unrelated_operator_sees_no_statement(approved_plan, statement, unrelated_operator):
    assert make_api(unrelated_operator).get(_url(approved_plan)).status_code == 404


def test_the_bundle_files_let_anyone_check_each_signature_offline(
        approved_plan, statement, outgoing_operator):
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from settlement.bundle import statement_bundle_files

    make_api(outgoing_operator, scope="upload").post(
        f"{_url(approved_plan)}/signatures",
        signed(outgoing_operator.signing_private_key,
               _signature(approved_plan, statement, "source")))

    files = statement_bundle_files()

    base = f"settlement/{statement.public_id}"
    content = files[f"{base}/statement.json"]
    payload = files[f"{base}/source.payload"]
    assert json.loads(payload)["sha256"] == hashlib.sha256(content).hexdigest()
    Ed25519PublicKey.from_public_bytes(files[f"{base}/source.key"]).verify(
        files[f"{base}/source.sig"], payload)


def test_the_audit_bundle_carries_the_co_signed_statement_and_verify_checks_it(
        tmp_path, approved_plan, statement, outgoing_operator, incoming_operator):
    import subprocess
    import sys

    from audit.export import audit_bundle_export

    for who, role, scope in ((outgoing_operator, "source", "upload"),
                             (incoming_operator, "recipient", "release:ack")):
        response = make_api(who, scope=scope).post(
            f"{_url(approved_plan)}/signatures",
            signed(who.signing_private_key, _signature(approved_plan, statement, role)))
        assert response.status_code == 201, response.content
    bundle = tmp_path / "bundle"
    audit_bundle_export(out_dir=bundle)

    def verify():
        return subprocess.run([sys.executable, str(bundle / "verify.py"), str(bundle)],
                              capture_output=True, text=True, timeout=120)

    base = bundle / "attachments" / "settlement" / str(statement.public_id)
    assert (base / "statement.json").read_bytes() == bytes(statement.content)
    checked = verify()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "7 attachments, 2 co-signatures verified" in checked.stdout
    # A co-signature over another statement, or an edited statement, fails the bundle.
    (base / "source.payload").write_bytes(b'{"sha256": "00"}')
    assert verify().returncode == 1


def test_a_staff_member_without_a_role_neither_makes_nor_signs_nor_reads_a_statement(
        client, clerk, approved_plan, statement, city_party):
    """Choi logs in with both factors but holds neither role: making a statement, entering
    the city's signature and opening the statement are all refused, and nothing is signed."""
    login_verified(client, clerk)
    city = signed(city_party.signing_private_key, _signature(approved_plan, statement, "city"))

    made = client.post(f"/admin/settlement/settlementstatement/create/{approved_plan.pk}/")
    signature = client.post(f"/admin/settlement/settlementstatement/{statement.pk}/sign/",
                            {"role": "city", **city})
    page = client.get(f"/admin/settlement/settlementstatement/{statement.pk}/change/")

    for response in (made, signature, page):
        assert response.status_code == 403
        assert statement.sha256 not in response.content.decode()
    assert SettlementStatement.objects.count() == 1
    assert not StatementSignature.objects.exists()
