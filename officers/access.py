"""The access log of personal data (safeguards standard Art. 8): who looked at whom, what
was done, from where, and for exports why.

Every entry is an audit event (`access.<verb>`), written in the same transaction as the
request's own work, so it is sealed, exported and witnessed like everything else. Entries
name subjects by their pseudonymous public id and fields by their key: never a value, and
never what an officer typed into a search box.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_event, looks_personal


class AccessAction:
    """The verbs of the safeguards standard (조회, 변경, 입력, 삭제, 출력, 다운로드), and the
    two this service adds: decrypting values and searching."""

    VIEW = "view"
    CHANGE = "change"
    INPUT = "input"
    DELETE = "delete"
    PRINT = "print"
    DOWNLOAD = "download"
    DECRYPT = "decrypt"
    SEARCH = "search"
    ALL = (VIEW, CHANGE, INPUT, DELETE, PRINT, DOWNLOAD, DECRYPT, SEARCH)
    # Data leaving the screen: the officer must type why (the standard asks the reason for
    # every download to be confirmed in the monthly review).
    NEEDS_REASON = (PRINT, DOWNLOAD)


# One entry holds at most this many subject ids (about 30 kB of JSON); a bigger export is
# recorded as several entries of one access ("part" i of "parts").
SUBJECTS_PER_ENTRY = 1000
REASON_MIN_CHARS, REASON_MAX_CHARS = 4, 200


class AccessRefused(ValueError):
    """The access may not happen as asked (no reason for an export, a reason holding a
    phone number, ...). The message is Korean and safe to show the officer."""


def client_address(request) -> str:
    """The address the request came from: behind our TLS proxy (BEHIND_TLS_PROXY sets
    SECURE_PROXY_SSL_HEADER) the last X-Forwarded-For entry, the one our proxy appended
    (earlier entries are the client's own word); otherwise the peer. "unknown" without one."""
    return axes_client_ip(request) or "unknown"


def axes_client_ip(request) -> str | None:
    """The same address for axes' lock-outs (AXES_CLIENT_IP_CALLABLE), or None: axes keeps
    it in an IP address column, which PostgreSQL refuses anything else in."""
    meta = getattr(request, "META", {})
    address = meta.get("REMOTE_ADDR") or ""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        address = forwarded or address
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def access_reason_clean(text: str) -> str:
    """The reason an officer typed for an export, or AccessRefused. It goes into the sealed
    log as typed, so it may not hold a phone number or another personal value."""
    reason = " ".join((text or "").split())
    if len(reason) < REASON_MIN_CHARS:
        raise AccessRefused(f"내려받는 사유를 {REASON_MIN_CHARS}자 이상 적어 주세요. "
                            "(a reason is required for every export)")
    if len(reason) > REASON_MAX_CHARS:
        raise AccessRefused(f"사유는 {REASON_MAX_CHARS}자 이내로 적어 주세요.")
    if label := looks_personal(reason):
        raise AccessRefused(f"사유에 개인정보({label})를 적지 마세요: 감사 기록에 그대로 "
                            "남습니다.")
    return reason


def _reason_details(reason: str) -> dict[str, Any]:
    """The reason as typed; one that looks like a personal value cannot go into the sealed
    log, so only its length does (the admin's forms refuse such reasons up front)."""
    if not reason:
        return {}
    if looks_personal(reason):
        return {"reason_withheld": True, "reason_length": len(reason)}
    return {"reason": reason[:REASON_MAX_CHARS * 2]}


def access_record(
    *,
    by,
    address: str,
    action: str,
    subjects: Iterable[str],
    fields: Sequence[str] = (),
    reason: str = "",
    target_type: str,
    target_id: str | int,
    extra: dict[str, Any] | None = None,
) -> list[AuditEvent]:
    """Record one access to personal data: ``by`` (an officer ``User``, or an
    ``(actor_type, actor_id)`` pair such as ``("operator", "operator:SHINHAN")``) did
    ``action`` to ``subjects`` (public ids) and ``fields`` (keys) from ``address``.

    Inside the caller's transaction (or its own): the entry commits with the work it
    records. Exports and prints need a ``reason`` (AccessRefused without one). Returns the
    entries: one, or one per SUBJECTS_PER_ENTRY subjects of a bigger export.
    """
    if action not in AccessAction.ALL:
        raise ValueError(f"unknown access action {action!r}")
    reason = " ".join((reason or "").split())
    if action in AccessAction.NEEDS_REASON and not reason:
        raise AccessRefused("내려받는 사유를 적어 주세요. (a reason is required for every export)")
    ids = [str(s) for s in subjects]
    chunks = [ids[i:i + SUBJECTS_PER_ENTRY] for i in range(0, len(ids), SUBJECTS_PER_ENTRY)]
    chunks = chunks or [[]]
    base = {"ip": address, "fields": sorted(set(fields)), "subject_count": len(ids),
            **_reason_details(reason), **(extra or {})}
    with transaction.atomic():
        return [audit_event(
            by=by, action=f"access.{action}", target=(target_type, str(target_id)[:80]),
            details={**base, "subjects": chunk,
                     **({"part": n, "parts": len(chunks)} if len(chunks) > 1 else {})})
            for n, chunk in enumerate(chunks, start=1)]
