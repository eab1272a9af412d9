"""The lasting way back in: from `/c/` without a link, a one-time code by SMS to the number
the subject types leads to its status page (withdraw, object, move early, receipts), also
after every link it was sent has expired.

- `return_code_request`: the page answers the same whether the number is known or not. A
  `ReturnCode` row is written either way (so the per-number limit counts both); the SMS goes
  only to a number that belongs to a subject that was asked (has a request). The code is
  6 digits, valid ``CODE_MINUTES``; the row keeps a keyed hash of it (HMAC under
  BLIND_INDEX_KEY, bound to the row's id) and, until the SMS has gone, the code encrypted;
  the sending task takes the row's id.
- Limits: ``PER_NUMBER_PER_HOUR`` / ``PER_NUMBER_PER_DAY`` codes a number (in the database),
  ``CONSENT_RETURN_RATE`` requests and ``CONSENT_VERIFY_RATE`` code checks per client address
  (django-ratelimit on the shared cache), ``MAX_ATTEMPTS`` checks per code.
- `return_code_verify`: the right code, in time, once -> the subjects the number belongs to.
- `return_link_issue`: a fresh personal link for one of their requests (``via_code``), valid
  ``LINK_MINUTES`` and never sent: the page redirects to it. Such a link also opens a request
  whose answer period is over (status, withdraw, object, move early, receipts; not a new
  answer: that needs an open request).

Rows older than a day (the daily limit's window) are deleted by the periodic tick
(`return_codes_prune`).

Audit: ``consent.return_code_requested`` (whether a code was sent, how many subjects),
``consent.return_code_sent``, ``consent.return_code_verified`` (the subjects' pseudonymous
ids), ``consent.return_code_failed`` (the attempt count), ``consent.return_link_issued``;
never the number, its index or the code.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_ratelimit.core import get_usage

from audit.models import AuditEvent
from audit.services import audit_event, system_actor
from consent.models import Campaign, ConsentLink, ConsentRequest, ReturnCode
from consent.services.errors import ConsentError, TooManyAttempts
from consent.tokens import IssuedLink, token_hash
from core.tasks import enqueue_on_commit
from governance.crypto import InvalidPhone, blind_index, normalize_mobile, phone_index
from governance.models import DataSubject

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_MINUTES = 10
MAX_ATTEMPTS = 5
PER_NUMBER_PER_HOUR = 3
PER_NUMBER_PER_DAY = 10
LINK_MINUTES = 30
FACTOR = "sms_code"
_ACTOR = system_actor("consent.return")


class InvalidNumber(ConsentError):
    default_message = "휴대전화 번호를 확인해 주세요 (예: 010-1234-5678)."


class CodeRefused(ConsentError):
    """Wrong, expired, used up or unknown: one message for all."""

    default_message = ("인증번호가 맞지 않거나 만료되었습니다. 문자로 받은 6자리 숫자를 "
                       "확인하시거나 인증번호를 다시 받아 주세요.")


class TooManyCodes(TooManyAttempts):
    default_message = ("인증번호를 너무 자주 요청하셨습니다. 잠시 후 다시 시도하시거나 "
                       "콜센터로 문의해 주세요.")


def _limited(group: str, client_ip: str, rate: str) -> bool:
    usage = get_usage(None, group=group, key=lambda _g, _r: client_ip, rate=rate,
                      increment=True)
    return bool(usage and usage["should_limit"])


def _code_hash(row_id: str, code: str) -> str:
    return blind_index(f"consent.return-code:{row_id}:{code}")


def _asked_subjects(index: str) -> list[DataSubject]:
    """The subjects holding this number that were ever asked (a request not cancelled)."""
    return list(DataSubject.objects.filter(
        phone_index=index,
        consent_requests__campaign__status__in=(Campaign.Status.RUNNING, Campaign.Status.PAUSED,
                                                Campaign.Status.COMPLETED),
    ).distinct().order_by("id"))


def return_code_request(*, phone: str, client_ip: str) -> ReturnCode:
    """A code for the number ``phone`` (sent only if the number is one we asked; the caller
    shows the same page either way). Raises `InvalidNumber` for what is not a Korean mobile
    number, `TooManyCodes` past a limit."""
    if _limited("consent.return_code_request", client_ip,
                getattr(settings, "CONSENT_RETURN_RATE", "10/h")):
        raise TooManyCodes()
    try:
        index = phone_index(normalize_mobile(phone))
    except InvalidPhone as exc:
        raise InvalidNumber() from exc
    now = timezone.now()
    with transaction.atomic():
        recent = ReturnCode.objects.select_for_update().filter(
            phone_index=index, created_at__gt=now - dt.timedelta(days=1))
        times = list(recent.values_list("created_at", flat=True))
        if (len(times) >= PER_NUMBER_PER_DAY
                or sum(t > now - dt.timedelta(hours=1) for t in times) >= PER_NUMBER_PER_HOUR):
            raise TooManyCodes()
        subjects = _asked_subjects(index)
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        row = ReturnCode(phone_index=index, subjects=[s.public_id for s in subjects],
                         sent=bool(subjects), expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
                         created_at=now, code_sealed=code if subjects else "")
        row.code_hash = _code_hash(str(row.public_id), code)
        row.save()
        audit_event(by=_ACTOR, action="consent.return_code_requested", target=row,
                    details={"sent": row.sent, "subjects_count": len(subjects)})
        if row.sent:
            from consent.tasks import send_return_code  # registers it; it imports us

            enqueue_on_commit(send_return_code, row.pk)
    return row


def return_code_send(*, code_id: int) -> bool:
    """Send the SMS carrying the code of row ``code_id`` (once); True if the provider took it."""
    from consent.sms import OutgoingSms, SendOutcome, provider

    with transaction.atomic():
        row = ReturnCode.objects.select_for_update().filter(pk=code_id).first()
        if row is None or not row.code_sealed or row.expires_at <= timezone.now():
            return False
        code, row.code_sealed = row.code_sealed, ""
        row.save(update_fields=["code_sealed"])
        subject = DataSubject.objects.filter(public_id__in=row.subjects).order_by("id").first()
        to = normalize_mobile(subject.phone) if subject is not None and subject.phone else ""
    if not to:
        return False
    body = (f"[서울사랑상품권] 인증번호 {code} ({CODE_MINUTES}분간 유효). "
            "요청하지 않으셨다면 무시하세요.")
    result = provider().send(OutgoingSms(to=to, body=body, reference=f"return:{row.public_id}"))
    audit_event(by=_ACTOR, action="consent.return_code_sent", target=row,
                details={"outcome": result.outcome.value, "provider": provider().name})
    return result.outcome == SendOutcome.ACCEPTED


def return_code_verify(*, code_id: str, code: str, client_ip: str) -> list[DataSubject]:
    """The subjects behind code row ``code_id`` if ``code`` is its code, in time, and the row
    is unused; raises `CodeRefused` (a failure is committed before it is raised) or
    `TooManyAttempts` for the address."""
    if _limited("consent.return_code_verify", client_ip,
                getattr(settings, "CONSENT_VERIFY_RATE", "30/m")):
        raise TooManyAttempts()
    now = timezone.now()
    typed = "".join(ch for ch in str(code) if ch.isascii() and ch.isdigit())
    subjects: list[DataSubject] = []
    with transaction.atomic():
        row = ReturnCode.objects.select_for_update().filter(public_id=code_id).first()
        if row is None or row.used_at is not None or row.expires_at <= now \
                or row.attempts >= MAX_ATTEMPTS:
            ok = False
        else:
            row.attempts += 1
            ok = (len(typed) == CODE_DIGITS and row.sent and hmac.compare_digest(
                _code_hash(str(row.public_id), typed), row.code_hash))
            if ok:
                row.used_at = now
                subjects = list(DataSubject.objects.filter(public_id__in=row.subjects)
                                .order_by("id"))
                ok = bool(subjects)
            row.save(update_fields=["attempts", "used_at"])
            audit_event(by=_ACTOR, action="consent.return_code_verified" if ok
                        else "consent.return_code_failed", target=row,
                        details=({"subjects": [s.public_id for s in subjects]} if ok
                                 else {"attempts": row.attempts}))
    if not ok:
        raise CodeRefused()
    return subjects


def return_link_issue(*, request: ConsentRequest, subjects: list[str]) -> IssuedLink:
    """A fresh link for ``request`` (one of the verified ``subjects``' requests), never sent:
    valid ``LINK_MINUTES``. Raises `CodeRefused` for anyone else's request."""
    if request.subject.public_id not in subjects:
        raise CodeRefused()
    token = secrets.token_urlsafe(16)
    now = timezone.now()
    with transaction.atomic():
        link = ConsentLink.objects.create(request=request, token_hash=token_hash(token),
                                          expires_at=now + dt.timedelta(minutes=LINK_MINUTES),
                                          via_code=True, created_at=now)
        audit_event(by=(AuditEvent.ActorType.SUBJECT, f"subject:{request.subject.public_id}"),
                    action="consent.return_link_issued",
                    target=request,
                    details={"request": str(request.public_id), "factor": FACTOR,
                             "minutes": LINK_MINUTES})
    return IssuedLink(link=link, token=token)


def return_codes_prune(*, now: dt.datetime | None = None) -> int:
    """Delete the code rows older than the per-number daily limit's window: past it nothing
    reads them (the audit trail keeps what happened, without the number). -> rows deleted"""
    now = now or timezone.now()
    deleted, _ = ReturnCode.objects.filter(created_at__lt=now - dt.timedelta(days=1)).delete()
    return deleted
