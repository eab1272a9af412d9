"""The reference client against a live server: pull, verify, decrypt, acknowledge; deletions;
the outgoing operator's signed notice attestations."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.utils import timezone

from governance.models import DataSubject
from governance.services import subject_consent_state_set
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from transfers import client as reference
from transfers import synthetic
from transfers.models import Acknowledgement, DeletionNotice
from transfers.selectors import plan_reconciliation
from transfers.services import deletions_detect, operator_client_create

pytestmark = pytest.mark.django_db(transaction=True)


def _files(tmp_path, party):
    new = operator_client_create(operator=party.operator, by=None)
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"client_id": new.client_id, "client_secret": new.client_secret}))
    raw = (Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    from governance.models import OperatorKey

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({
        "hpke_private_key": base64.b64encode(party.hpke_private_key.private_bytes(*raw)).decode(),
        "hpke_key_id": OperatorKey.objects.filter(operator=party.operator,
                                                  purpose="encryption").get().key_id,
        "signing_private_key": base64.b64encode(
            party.signing_private_key.private_bytes(*raw)).decode()}))
    return str(creds), str(keys)


def test_the_client_pulls_decrypts_and_acknowledges_and_the_totals_reconcile(
        live_server, tmp_path, approved_plan, incoming_operator, capsys):
    rows = list(synthetic.rows("merchant", 1, 6)) + list(synthetic.rows("user", 1, 4))
    upload_rows(approved_plan, rows, declared={"subjects": {"merchant": 6, "user": 4}})
    notified_long_ago(approved_plan)
    creds, keys = _files(tmp_path, incoming_operator)
    out = tmp_path / "out"
    args = ["--base-url", live_server.url, "--credentials", creds, "--keys", keys,
            "--out", str(out)]
    assert reference.main(args + ["pull"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 10 and summary["acknowledged"] is True
    lines = (out / summary["release"] / "records.ndjson").read_text().splitlines()
    assert sorted(json.loads(line)["external_id"] for line in lines) == sorted(
        r["external_id"] for r in rows)
    assert (out / summary["release"] / "records.ndjson").stat().st_mode & 0o077 == 0
    assert Acknowledgement.objects.get().matches
    assert all(r.ok for r in plan_reconciliation(approved_plan))

    assert reference.main(args + ["deletions"]) == 0
    assert "no deletion owed" in capsys.readouterr().out
    user = DataSubject.objects.get(kind="user", external_id="U-0000001")
    subject_consent_state_set(plan=approved_plan, subject=user, objected=True,
                              answered_at=timezone.now())
    deletions_detect(plan=approved_plan)  # the minute's search (the feed only reads)
    assert reference.main(args + ["deletions", "--confirm"]) == 0
    assert "of user U-0000001 (objected)" in capsys.readouterr().out
    assert DeletionNotice.objects.get().confirmed_at is not None
    mine = [json.loads(line) for line in
            (out / summary["release"] / "records.ndjson").read_text().splitlines()
            if json.loads(line)["subject"] == user.public_id]
    assert list(mine[0]["fields"]) == ["user.issuance_records"]


def test_the_client_refuses_a_release_whose_chunk_was_altered(
        live_server, tmp_path, approved_plan, incoming_operator, capsys):
    from transfers.models import Release
    from transfers.services import release_export, release_path, release_request

    upload_rows(approved_plan, list(synthetic.rows("user", 1, 3)))
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=release.pk)
    chunk = release_path(release) / "chunks" / "000001.bin"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 1
    chunk.write_bytes(bytes(data))
    creds, keys = _files(tmp_path, incoming_operator)
    code = reference.main(["--base-url", live_server.url, "--credentials", creds, "--keys",
                           keys, "--out", str(tmp_path / "out"), "pull"])
    assert code == 2
    assert "SHA-256 differs" in capsys.readouterr().err
    assert Acknowledgement.objects.count() == 0 and Release.objects.count() == 1


def test_the_client_renews_its_token_before_it_expires(monkeypatch):
    from transfers import client

    api = client.Api("http://127.0.0.1:9", "id", "secret")
    issued = []

    def fake_authenticate():
        issued.append(1)
        api.token, api.token_expires = f"t{len(issued)}", time.monotonic() + 540

    monkeypatch.setattr(api, "authenticate", fake_authenticate)

    assert api.bearer() == {"Authorization": "Bearer t1"}
    assert api.bearer() == {"Authorization": "Bearer t1"}  # still fresh: no new token
    api.token_expires = time.monotonic() - 1               # ten minutes later
    assert api.bearer() == {"Authorization": "Bearer t2"}


def _told(tmp_path, lines) -> str:
    path = tmp_path / "told.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n")
    return str(path)


def test_the_client_signs_and_posts_the_operators_own_notices_in_batches(
        live_server, tmp_path, approved_plan, outgoing_operator, capsys):
    from governance.models import NoticeEvidence
    from transfers.models import NoticeAttestation

    upload_rows(approved_plan, list(synthetic.rows("user", 1, 3)))
    users = list(DataSubject.objects.filter(kind="user").order_by("id"))
    told_at = timezone.now().isoformat()
    channels = ["in_app", "post", "in_app"]
    path = _told(tmp_path, [{"external_id": u.external_id, "channel": channel,
                             "notified_at": told_at}
                            for u, channel in zip(users, channels, strict=True)])
    creds, keys = _files(tmp_path, outgoing_operator)

    code = reference.main(["--base-url", live_server.url, "--credentials", creds, "--keys",
                           keys, "attest", "--file", path, "--batch", "2"])

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "plan": approved_plan.pk, "batches": 2, "lines": 3, "subjects": 3,
        "channels": {"in_app": 2, "post": 1}}
    assert NoticeAttestation.objects.count() == 2
    evidence = NoticeEvidence.objects.order_by("subject_id")
    assert [e.subject_id for e in evidence] == [u.pk for u in users]
    assert [e.reference.split(":")[0] for e in evidence] == ["in_app", "post", "in_app"]


def test_the_client_stops_at_a_refused_batch_and_says_why(
        live_server, tmp_path, approved_plan, outgoing_operator, capsys):
    from governance.models import NoticeEvidence

    upload_rows(approved_plan, list(synthetic.rows("user", 1, 2)))
    told_at = timezone.now().isoformat()
    path = _told(tmp_path, [
        {"external_id": "U-0000001", "channel": "post", "notified_at": told_at},
        {"external_id": "U-0000002", "channel": "post", "notified_at": told_at},
        {"external_id": "U-9999999", "channel": "post", "notified_at": told_at}])
    creds, keys = _files(tmp_path, outgoing_operator)

    code = reference.main(["--base-url", live_server.url, "--credentials", creds, "--keys",
                           keys, "attest", "--file", path, "--batch", "2"])

    assert code == 2
    assert "unknown_subject" in capsys.readouterr().err
    assert sorted(NoticeEvidence.objects.values_list("subject__external_id", flat=True)) == [
        "U-0000001", "U-0000002"]


def test_the_client_reports_signed_the_records_it_could_not_apply(
        live_server, tmp_path, approved_plan, incoming_operator, capsys):
    from transfers.models import Correction, Release

    upload_rows(approved_plan, list(synthetic.rows("merchant", 1, 3)))
    creds, keys = _files(tmp_path, incoming_operator)
    args = ["--base-url", live_server.url, "--credentials", creds, "--keys", keys,
            "--out", str(tmp_path / "out")]
    assert reference.main(args + ["pull"]) == 0
    capsys.readouterr()
    release = Release.objects.get()
    merchant = DataSubject.objects.get(kind="merchant", external_id="M-0000002")
    failed = tmp_path / "failed.ndjson"
    failed.write_text(json.dumps({"subject": merchant.public_id, "reason": "qr_unknown"})
                      + "\n")

    assert reference.main(args + ["apply-report", "--release", str(release.public_id),
                                  "--file", str(failed)]) == 0
    assert json.loads(capsys.readouterr().out)["corrections_opened"] == 1
    assert list(Correction.objects.values_list("subject_id", "reason")) == [
        (merchant.pk, "qr_unknown")]
