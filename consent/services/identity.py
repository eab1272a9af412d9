"""Confirming, on the page, that the person who opened a link is its subject.

- Merchants type their business registration number (사업자등록번호). It is compared by keyed
  hash (`governance.crypto.brn_hash`, HMAC under BLIND_INDEX_KEY) with the hash stored for the
  subject, in constant time. A malformed number is just a failure: no detail is given.
  Recorded as identity factor ``brn`` — a weak factor (the number is printed on receipts and
  invoices), which is why the link itself (128 random bits, sent to the subject's phone) is
  the other half of the check.
- Users have no business number. They type the last four digits of the mobile number we hold
  for them (the number the link was sent to), compared in constant time; factor
  ``phone_last4``. Also weak, and only ever used together with the link: it stops a forwarded
  or shoulder-surfed link from being used by someone who does not know the number.

Guessing is bounded twice: per request, ``MAX_FAILURES`` wrong answers lock the request for
``LOCK_MINUTES`` (kept in the database, so every web process sees it); per client address,
django-ratelimit (on the shared cache) refuses more than ``CONSENT_VERIFY_RATE`` attempts, so
one address cannot spread its guesses over many links. The rate is generous because many
phones share one carrier address (CGNAT). Every success, failure and lockout is an audit
event carrying the request's public id and counts only.
"""

from __future__ import annotations

import hmac
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_ratelimit.core import get_usage

from audit.models import AuditEvent
from audit.services import audit_event, system_actor
from consent.models import ConsentRequest
from consent.services.errors import IdentityFailed, IdentityLocked, TooManyAttempts
from governance.crypto import InvalidBRN, brn_hash
from governance.models import DataSubject

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_MINUTES = 30
FACTOR_BRN = "brn"
FACTOR_PHONE_LAST4 = "phone_last4"
# Statuses that move to "verified" on a first successful check (later ones stay as they are).
_BEFORE_VERIFIED = (ConsentRequest.Status.CREATED, ConsentRequest.Status.SENT,
                    ConsentRequest.Status.DELIVERED, ConsentRequest.Status.FAILED,
                    ConsentRequest.Status.OPENED)


def identity_factor_for(subject: DataSubject) -> str:
    return FACTOR_BRN if subject.kind == DataSubject.Kind.MERCHANT else FACTOR_PHONE_LAST4


def _rate() -> str:
    return getattr(settings, "CONSENT_VERIFY_RATE", "30/m")


def _rate_limited(client_ip: str) -> bool:
    usage = get_usage(None, group="consent.identity_verify", key=lambda _g, _r: client_ip,
                      rate=_rate(), increment=True)
    return bool(usage and usage["should_limit"])


def _matches(subject: DataSubject, answer: str) -> bool:
    if subject.kind == DataSubject.Kind.MERCHANT:
        try:
            typed = brn_hash(answer)
        except InvalidBRN:
            return False
        return bool(subject.brn_hash) and hmac.compare_digest(typed, subject.brn_hash)
    digits = re.sub(r"[\s-]", "", str(answer))
    held = re.sub(r"\D", "", subject.phone or "")[-4:]
    if not re.fullmatch(r"[0-9]{4}", digits) or len(held) != 4:
        return False
    return hmac.compare_digest(digits.encode(), held.encode())


def identity_verify(*, request: ConsentRequest, answer: str, client_ip: str) -> str:
    """Check ``answer`` for ``request``'s subject; return the identity factor on success.

    Raises `TooManyAttempts` (this address), `IdentityLocked` (this request, for a while) or
    `IdentityFailed`. A failure is committed before the error is raised, so the count holds.
    """
    if _rate_limited(client_ip):
        log.warning("identity check rate-limited for request %s", request.public_id)
        raise TooManyAttempts()
    now = timezone.now()
    outcome = None
    with transaction.atomic():
        req = (ConsentRequest.objects.select_for_update(of=("self",))
               .select_related("subject").get(pk=request.pk))
        subject = req.subject
        factor = identity_factor_for(subject)
        actor = (AuditEvent.ActorType.SUBJECT, f"subject:{subject.public_id}")
        if req.locked_until and req.locked_until > now:
            outcome = "locked"
        elif _matches(subject, answer):
            req.verify_failures, req.locked_until = 0, None
            req.verified_at = req.verified_at or now
            if req.status in _BEFORE_VERIFIED:
                req.status = ConsentRequest.Status.VERIFIED
            req.save(update_fields=["verify_failures", "locked_until", "verified_at", "status"])
            audit_event(by=actor, action="consent.identity_verified", target=req,
                        details={"request": str(req.public_id), "factor": factor})
            outcome = "ok"
        else:
            req.verify_failures += 1
            audit_event(by=actor, action="consent.identity_failed", target=req,
                        details={"request": str(req.public_id), "factor": factor,
                                 "failures": req.verify_failures})
            outcome = "failed"
            if req.verify_failures >= MAX_FAILURES:
                req.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                audit_event(by=system_actor("consent.identity"),
                            action="consent.identity_locked", target=req,
                            details={"request": str(req.public_id), "factor": factor,
                                     "failures": req.verify_failures, "minutes": LOCK_MINUTES})
                req.verify_failures = 0  # after the lock, a fresh set of tries
                outcome = "locked"
            req.save(update_fields=["verify_failures", "locked_until"])
    request.refresh_from_db(fields=["status", "verified_at", "verify_failures", "locked_until"])
    if outcome == "ok":
        return factor
    if outcome == "locked":
        raise IdentityLocked()
    raise IdentityFailed()


def identity_locked(request: ConsentRequest, *, now=None) -> bool:
    now = now or timezone.now()
    return bool(request.locked_until and request.locked_until > now)
