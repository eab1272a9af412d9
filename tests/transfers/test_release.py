"""Releases: what the recipient receives, encrypted to it, with a signed manifest."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.models import AuditEvent
from audit.signing import service_public_key_bytes
from governance.models import EntrustmentRecord, ProvisionRecord
from governance.services import subject_consent_state_set
from tests.transfers.reader import open_chunk, read_release_api, read_release_dir
from transfers import synthetic
from transfers.models import Release
from transfers.selectors import release_subjects
from transfers.services import release_export, release_path, release_request

pytestmark = pytest.mark.django_db

SHINHAN = ("operator", "operator:SHINHAN")
MERCHANT_ALLOWED = {  # approved_plan with no consent answers, notice period over
    "merchant.business_registration_number", "merchant.shop_name",
    "merchant.representative_name", "merchant.representative_phone", "merchant.address",
    "merchant.business_type", "merchant.qr_merchant_id", "merchant.fee_tier",
    "merchant.settlement_history"}
USER_ALLOWED = {"user.phone", "user.name", "user.certificate_balance",
                "user.issuance_records"}


def _release(plan) -> Release:
    release = release_request(plan=plan, by=SHINHAN)
    return release_export(release_id=release.pk)


def test_the_recipient_pulls_verifies_and_decrypts_a_release_with_pyhpke(
        shinhan_api, incoming_operator, approved_plan, uploaded,
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = shinhan_api.post(f"/api/plans/{approved_plan.pk}/releases")
    assert response.status_code == 202, response.content
    release_id = response.json()["id"]
    detail = shinhan_api.get(f"/api/releases/{release_id}").json()
    assert detail["status"] == "ready" and detail["records"] == 20
    manifest, records = read_release_api(shinhan_api, release_id,
                                         incoming_operator.hpke_private_key)
    by_kind = {k: [r for r in records if r["kind"] == k] for k in ("merchant", "user")}
    assert all(set(r["fields"]) == MERCHANT_ALLOWED for r in by_kind["merchant"])
    assert all(set(r["fields"]) == USER_ALLOWED for r in by_kind["user"])
    first = next(r for r in by_kind["merchant"] if r["external_id"] == "M-0000001")
    assert first["fields"]["merchant.representative_phone"] == "+821000000001"
    assert first["fields"]["merchant.business_registration_number"] == (
        synthetic.merchant_row(1)["merchant.business_registration_number"].replace("-", ""))
    assert manifest["suite"]["kem"] == "DHKEM(X25519, HKDF-SHA256)"
    assert manifest["recipient"]["key_id"] == detail["recipient_key_id"]
    assert manifest["counts"]["subjects"] == {"merchant": 10, "user": 10}
    assert manifest["counts"]["denied_by_field"]["merchant.settlement_bank_account"] == {
        "denied_consent_pending": 10}
    # Never moved: each merchant's risk score and marketing opt-in, each user's device id.
    assert manifest["counts"]["denied_by_field"]["merchant.marketing_opt_in"] == {
        "denied_prohibited": 10}
    assert manifest["counts"]["denied"]["denied_prohibited"] == 30
    balances = sum(synthetic.user_row(i)["user.certificate_balance"] for i in range(1, 11))
    assert manifest["control_totals"]["certificate_balance_sum"] == balances
    # The provision register has the users' Art. 27 items (KEPF's own data, provided to
    # Shinhan); the city's data, handed from its processor to its next one, is an
    # entrustment change (governance.services.release_register); the audit trail the export.
    register = ProvisionRecord.objects.get()
    assert register.subject_count == 10 and register.reference == f"release:{release_id}"
    assert set(register.items) == USER_ALLOWED - {"user.issuance_records"}
    entrustment = EntrustmentRecord.objects.get()
    assert entrustment.subject_count == 20
    assert set(entrustment.items) == (MERCHANT_ALLOWED | {"user.issuance_records"}) - {
        "merchant.shop_name", "merchant.address", "merchant.business_type",
        "merchant.qr_merchant_id", "merchant.fee_tier"}
    assert AuditEvent.objects.filter(action="release.exported").count() == 1


def test_the_chunk_info_binds_plan_release_chunk_and_key(
        incoming_operator, approved_plan, uploaded, settings):
    settings.TRANSFERS_RELEASE_CHUNK_RECORDS = 7
    release = _release(approved_plan)
    path = release_path(release)
    manifest, records = read_release_dir(path, incoming_operator.hpke_private_key,
                                         service_public_key_bytes())
    assert [c["records"] for c in manifest["chunks"]] == [7, 7, 6]
    info = base64.b64decode(manifest["chunks"][1]["info"]).decode()
    assert f"plan={approved_plan.pk}.v1" in info and f"release={release.public_id}" in info
    assert "chunk=000002" in info and f"key={release.recipient_key.key_id}" in info
    # Chunk 2 presented as chunk 1 does not decrypt.
    from pyhpke.exceptions import OpenError

    from tests.transfers.reader import open_chunk
    with pytest.raises(OpenError):
        open_chunk((path / "chunks/000002.bin").read_bytes(), incoming_operator.hpke_private_key,
                   base64.b64decode(manifest["chunks"][0]["info"]))
    # Nor by anyone else's key.
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    with pytest.raises(OpenError):
        open_chunk((path / "chunks/000001.bin").read_bytes(), X25519PrivateKey.generate(),
                   base64.b64decode(manifest["chunks"][0]["info"]))


def test_a_tampered_manifest_does_not_verify(incoming_operator, approved_plan, uploaded):
    release = _release(approved_plan)
    body = bytes(release.manifest).replace(b'"records":20', b'"records":21')
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(service_public_key_bytes()).verify(
            bytes(release.signature), body)


def test_a_later_release_carries_only_subjects_that_became_releasable_since(
        incoming_operator, approved_plan, uploaded):
    first = _release(approved_plan)
    assert first.record_count == 20
    from governance.models import DataSubject

    merchant = DataSubject.objects.get(external_id="M-0000003")
    assert merchant.pk in dict(release_subjects(first.pk))
    subject_consent_state_set(plan=approved_plan, subject=merchant,
                              fields_granted=["merchant.settlement_bank_account",
                                              "merchant.email"])
    second = _release(approved_plan)
    _, records = read_release_dir(release_path(second), incoming_operator.hpke_private_key,
                                  service_public_key_bytes())
    assert [r["external_id"] for r in records] == ["M-0000003"]
    assert set(records[0]["fields"]) == MERCHANT_ALLOWED | {
        "merchant.settlement_bank_account", "merchant.email"}
    assert second.number == 2
    third = _release(approved_plan)
    assert third.record_count == 0 and third.chunk_count == 0
    assert ProvisionRecord.objects.count() == 2  # an empty release provides nothing


def test_asking_again_while_a_release_is_being_built_answers_the_same_release(
        approved_plan, uploaded, incoming_operator):
    first = release_request(plan=approved_plan, by=SHINHAN)
    again = release_request(plan=approved_plan, by=SHINHAN)
    assert first.pk == again.pk and Release.objects.count() == 1
    release_export(release_id=first.pk)
    release_export(release_id=first.pk)  # a second run of a ready release changes nothing
    assert len(list(release_subjects(first.pk))) == 20


def test_a_rehearsal_is_stamped_incremental_like_a_real_plan_and_never_registered(
        officer, second_officer, outgoing_operator, incoming_operator, field_catalogue):

    from django.utils import timezone

    from governance.seoul import PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_approve, plan_create, plan_submit
    from tests.transfers.conftest import upload_rows

    now = timezone.now()
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       rules=seoul_plan_rules(field_catalogue), rehearsal=True,
                       notice_starts_at=now, **PLAN_VALUES)
    plan_submit(plan=plan, by=officer)
    plan = plan_approve(plan=plan, by=second_officer)
    upload_rows(plan, list(synthetic.rows("merchant", 1, 4)) + [
        synthetic.merchant_row(5) | {"merchant.qr_merchant_id": "bad"}])
    release = _release(plan)
    manifest, records = read_release_dir(release_path(release),
                                         incoming_operator.hpke_private_key,
                                         service_public_key_bytes())
    assert manifest["stamp"] == "REHEARSAL" and manifest["rehearsal"] is True
    assert all(b"REHEARSAL" in base64.b64decode(c["info"]) for c in manifest["chunks"])
    assert len(records) == 4
    assert ProvisionRecord.objects.count() == 0
    assert manifest["release"]["incremental"] is True
    again = _release(plan)
    # It rehearses the real thing: what release 1 carried is not sent again.
    assert again.record_count == 0 and ProvisionRecord.objects.count() == 0


def test_a_release_line_is_the_json_of_the_allowed_stored_values(
        incoming_operator, approved_plan, uploaded):
    from tests.transfers.conftest import stored_values

    release = _release(approved_plan)
    _manifest, records = read_release_dir(release_path(release),
                                          incoming_operator.hpke_private_key,
                                          service_public_key_bytes())
    stored = stored_values(approved_plan)
    assert len(records) == len(stored) == 20
    for line in records:
        allowed = MERCHANT_ALLOWED if line["kind"] == "merchant" else USER_ALLOWED
        values = stored[line["external_id"]]
        assert line["fields"] == {k: v for k, v in values.items() if k in allowed}
        assert list(line["fields"]) == [k for k in values if k in allowed]  # stored order


def test_key_rotation_re_encrypts_uploaded_records_and_subjects_so_the_old_key_can_go(
        incoming_operator, approved_plan, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from governance.crypto import DecryptionError
    from governance.models import DataSubject
    from tests.transfers.conftest import stored_block_tokens, stored_values, upload_rows

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    rows = list(synthetic.rows("merchant", 1, 3)) + list(synthetic.rows("user", 1, 4))
    upload_rows(approved_plan, rows)

    before = stored_block_tokens()
    assert len(before) == 2 and all(t.startswith("gAAAA") for t in before)  # merchants, users
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys", "--batch-size", "3")
    after = stored_block_tokens()
    assert all(t.startswith("gAAAA") for t in after) and not set(before) & set(after)
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: everything still reads
    values = stored_values(approved_plan)
    assert values["U-0000002"]["user.name"] == synthetic.user_row(2)["user.name"]
    assert DataSubject.objects.get(external_id="U-0000002").phone == "+821000000002"
    release = _release(approved_plan)
    _manifest, records = read_release_dir(release_path(release),
                                          incoming_operator.hpke_private_key,
                                          service_public_key_bytes())
    assert len(records) == 7
    settings.FIELD_ENCRYPTION_KEYS = [old]  # and the old key alone opens nothing any more
    with pytest.raises(DecryptionError):
        stored_values(approved_plan)


def test_batches_of_interleaved_subjects_are_released_once_each_in_subject_order(
        incoming_operator, approved_plan, settings, monkeypatch):
    from governance.models import DataSubject
    from governance.services import subjects_upsert
    from tests.transfers.conftest import ndjson, upload_rows
    from transfers.models import RecordBlock
    from transfers.services import upload_batch_receive, upload_create, uploads

    # The subjects exist before the upload (known from an earlier plan), so the two batches'
    # records hold interleaved subject ids: their blocks (two records each) must be merged.
    settings.TRANSFERS_RELEASE_CHUNK_RECORDS = 3
    monkeypatch.setattr(uploads, "BLOCK_RECORDS", 2)
    rows = list(synthetic.rows("merchant", 1, 6))
    subjects_upsert(operator=approved_plan.from_operator, kind="merchant",
                    rows=[{"external_id": r["external_id"]} for r in rows], by=None)
    upload_rows(approved_plan, rows[0::2], batch_id="odd")
    kepf = ("operator", "operator:KEPF")
    upload_batch_receive(upload=upload_create(plan=approved_plan, by=kepf), batch_id="even",
                         body=ndjson(rows[1::2]), content_type="application/x-ndjson", by=kepf)
    assert RecordBlock.objects.count() == 4

    release = _release(approved_plan)
    manifest, records = read_release_dir(release_path(release),
                                         incoming_operator.hpke_private_key,
                                         service_public_key_bytes())
    by_id = list(DataSubject.objects.filter(kind="merchant").order_by("id")
                 .values_list("external_id", flat=True))
    assert [r["external_id"] for r in records] == by_id == [r["external_id"] for r in rows]
    assert all(set(r["fields"]) == MERCHANT_ALLOWED for r in records)
    assert manifest["counts"]["records"] == 6 and len(manifest["chunks"]) == 2


def test_each_chunks_release_groups_name_exactly_the_subjects_and_fields_of_its_lines(
        incoming_operator, approved_plan, uploaded, settings):
    """Chunks of 7 lines over 20 subjects in four shapes that interleave (merchants who
    agreed or not, users who objected or not): the groups of each chunk, which later releases
    and the deletion search read instead of the chunks, hold that chunk's subjects and the
    fields their lines carry, and no other (an objector's line carries only the city's
    entrusted fields)."""
    import json

    from governance.models import DataSubject
    from transfers.models import ReleaseGroup

    settings.TRANSFERS_RELEASE_CHUNK_RECORDS = 7
    subjects = {s.external_id: s for s in DataSubject.objects.all()}
    for n in (2, 3, 5, 8):
        subject_consent_state_set(plan=approved_plan, subject=subjects[f"M-{n:07d}"],
                                  fields_granted=["merchant.email"])
    for n in (1, 4, 9):
        subject_consent_state_set(plan=approved_plan, subject=subjects[f"U-{n:07d}"],
                                  objected=True)

    release = _release(approved_plan)

    manifest = json.loads(bytes(release.manifest))
    path = release_path(release)
    by_public_id = {str(s.public_id): s.pk for s in subjects.values()}
    field_sets = set()
    for number, chunk in enumerate(manifest["chunks"], start=1):
        plain = open_chunk((path / chunk["file"]).read_bytes(),
                           incoming_operator.hpke_private_key,
                           base64.b64decode(chunk["info"]))
        lines = [json.loads(line) for line in plain.splitlines()]
        carried = {by_public_id[line["subject"]]: sorted(line["fields"]) for line in lines}
        grouped = {}
        for group in ReleaseGroup.objects.filter(release=release, chunk=number):
            ids = list(ReleaseGroup.unpack_ids(group.subject_ids))
            assert ids == sorted(ids) and group.subject_count == len(ids)
            assert (group.first_subject_id, group.last_subject_id) == (ids[0], ids[-1])
            grouped.update(dict.fromkeys(ids, sorted(group.fields)))
        assert grouped == carried
        field_sets.update(tuple(fields) for fields in carried.values())
    assert [c["records"] for c in manifest["chunks"]] == [7, 7, 6]
    assert len(field_sets) == 4  # the four shapes, interleaved in subject order
