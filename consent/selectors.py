"""Reads of the consent app used by the merchant's page, the receipts and the admin."""

from __future__ import annotations

from consent.models import ConsentRecord, ConsentRequest


def consent_current(*, request: ConsentRequest) -> ConsentRecord | None:
    """The newest record for the request's plan and subject (any channel, any request of the
    same plan version): what the subject has said most recently, or None."""
    return (ConsentRecord.objects.select_related("notice")
            .filter(plan_id=request.campaign.plan_id, subject_id=request.subject_id)
            .order_by("-created_at", "-id").first())


def consent_history(*, request: ConsentRequest) -> list[ConsentRecord]:
    """Every record for the request's plan and subject, newest first."""
    return list(ConsentRecord.objects
                .filter(plan_id=request.campaign.plan_id, subject_id=request.subject_id)
                .order_by("-created_at", "-id"))


def consent_record_for_request(*, request: ConsentRequest, receipt_id) -> ConsentRecord | None:
    """A record of this plan and subject by its receipt id (None for any other subject's)."""
    return (ConsentRecord.objects.select_related("notice", "plan__to_operator",
                                                 "plan__from_operator", "subject", "request")
            .filter(plan_id=request.campaign.plan_id, subject_id=request.subject_id,
                    receipt_id=receipt_id).first())
