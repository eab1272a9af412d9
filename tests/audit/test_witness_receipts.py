"""A consent receipt names the first checkpoint the witnesses co-signed past its record's
audit event (audit.selectors.witnessed_checkpoint_covering): the recipient can look the
record up in the history the commission saw, and a receipt built later says the same."""

from __future__ import annotations

from audit.models import AuditEvent, Checkpoint, WitnessCosignature
from consent.receipts import receipt_document
from consent.services.decisions import consent_answer
from tests.consent.conftest import merchant_campaign, merchant_request  # noqa: F401 - fixtures

from .conftest import record


def test_a_receipt_names_the_first_witnessed_checkpoint_past_its_event(
        commission_witness, merchant_request):  # noqa: F811 - the fixture
    answered = consent_answer(request=merchant_request,
                              agreed=["merchant.settlement_bank_account"],
                              declined=["merchant.email"], channel="web",
                              identity_factor="brn")
    receipt = receipt_document(answered)["receipt"]
    event = AuditEvent.objects.get(action="consent.answered",
                                   details__receipt=str(answered.receipt_id))
    first = (Checkpoint.objects.filter(size__gt=event.seq, cosignatures__isnull=False)
             .order_by("size").first())
    assert WitnessCosignature.objects.filter(checkpoint=first).exists()
    assert receipt["auditCheckpoint"]["size"] == first.size > event.seq
    assert receipt["auditCheckpoint"]["witnesses"] == [commission_witness.name]
    record(3)  # the log moves on; the receipt does not
    assert receipt_document(answered)["receipt"] == receipt


def test_a_receipt_claims_no_checkpoint_before_one_is_witnessed(
        merchant_request, settings):  # noqa: F811 - the fixture
    settings.AUDIT_WITNESSES = []
    answered = consent_answer(request=merchant_request,
                              agreed=["merchant.settlement_bank_account"],
                              declined=["merchant.email"], channel="web",
                              identity_factor="brn")
    assert receipt_document(answered)["receipt"]["auditCheckpoint"] is None


def test_a_receipt_whose_event_names_the_request_as_before_2026_12_01_finds_its_checkpoint(
        commission_witness, merchant_request, settings):  # noqa: F811 - the fixture
    """Until 2026-12-01 the answer's event named its request ("consent_request", public id);
    the log keeps those names, and a receipt of such a record still finds its checkpoint."""
    from unittest import mock

    from audit.maintenance import maintenance_mode

    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        answered = consent_answer(request=merchant_request,
                                  agreed=["merchant.settlement_bank_account"],
                                  declined=["merchant.email"], channel="web",
                                  identity_factor="brn")
    events = AuditEvent.objects.filter(details__receipt=str(answered.receipt_id))
    with maintenance_mode():  # written as the code before that day wrote it, then sealed
        events.update(target_type="consent_request",
                      target_id=str(merchant_request.public_id))
    settings.AUDIT_SEAL_INLINE = True
    record(1)

    receipt = receipt_document(answered)["receipt"]

    assert receipt["auditCheckpoint"]["size"] > max(events.values_list("seq", flat=True))
    assert receipt["auditCheckpoint"]["witnesses"] == [commission_witness.name]
