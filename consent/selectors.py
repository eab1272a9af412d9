"""Reads of the consent app used by the merchant's page, the receipts and the admin."""

from __future__ import annotations

from django.utils import timezone

from consent import bulk
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


def link_request_for_page(token: str) -> ConsentRequest | None:
    """The request behind a live link (as `consent.tokens.link_resolve`, same refusals: None for
    a malformed, unknown, revoked or expired token), for the page, in one query:
    ``.campaign`` (id, status, items, plan_id, subject_kind) and ``.subject`` (id, kind,
    public_id) loaded, other columns deferred; ``.via_code`` says the link was issued after a
    one-time code (`/c/`); ``.consent_state`` is the subject's `SubjectConsentState` for the
    plan (granted, declined, objected, withdrawn_at loaded) or None. The query and why it is
    prepared: `consent.bulk.link_request_joined`. The plan itself comes from
    `governance.selectors.consent_page.plan_for_page`."""
    from consent.tokens import TOKEN_PATTERN, token_hash

    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    return bulk.link_request_joined(token_hash=token_hash(token), now=timezone.now())


def return_destinations(*, subject_ids: list[str]) -> list[ConsentRequest]:
    """Where the way back in (`/c/`) can lead the holder of a verified number: for each of
    its subjects and each plan version it was asked about, the newest request whose campaign
    was not cancelled; newest first."""
    from consent.models import Campaign

    requests = (ConsentRequest.objects
                .select_related("campaign__plan__to_operator", "subject")
                .filter(subject__public_id__in=subject_ids)
                .exclude(status=ConsentRequest.Status.CANCELLED)
                .exclude(campaign__status__in=(Campaign.Status.CANCELLED, Campaign.Status.DRAFT))
                .order_by("-created_at", "-id"))
    seen, out = set(), []
    for req in requests:
        key = (req.subject_id, req.campaign.plan_id)
        if key not in seen:
            seen.add(key)
            out.append(req)
    return out
