"""The notices shown to subjects, rendered from a plan version, versioned by their text.

Two kinds, kept apart as the law keeps them apart:

- ``consent`` (PIPA Art. 17(2)): before personal data is provided to a third party with
  consent, the subject is told (1) the recipient, (2) the recipient's purpose, (3) the items,
  (4) the recipient's retention period, (5) the right to refuse and what refusing costs.
- ``transfer`` (PIPA Art. 27): data moving with a business transfer on notice: who receives
  it (and how to reach them), what moves, when, how to object, and that an objector's data
  is not moved.

Both name who is who first (`roles_lines`): the city as the controller (개인정보처리자), with
its privacy officer, and the operators as processors (수탁자) acting on its behalf; the
outgoing operator is "현재 운영사", never the "provider". When the catalogue says the items
are the outgoing operator's own (collected for its own service), the notice says so: that is
why they need consent or a notice at all.

The text is plain Korean, one statement per line; the page shows exactly this text and every
decision stores the SHA-256 of it, so a record proves which words the subject read.
`notice_current` returns the stored version whose hash matches the text rendered now, or
stores the next version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from consent.models import Notice
from core.cache import memoize
from core.korean import josa
from governance.models import DataSubject, FieldRule, TransferPlan
from governance.selectors.consent_page import plan_for_page

Basis = FieldRule.Basis

# How old the page's copy of a notice or of its items may be (`notice_for_page`,
# `notice_items_for_page`): an approved plan is frozen, so its notice only changes when the
# catalogue's labels, the operators' details or the call-centre number change.
PAGE_SECONDS = 60


@dataclass(frozen=True)
class NoticeItem:
    key: str
    label: str
    required: bool


def notice_items(*, plan: TransferPlan, subject_kind: str, kind: str,
                 for_page: bool = False) -> list[NoticeItem]:
    """The plan's fields of ``subject_kind`` a notice of ``kind`` is about, in catalogue order:
    ``consent`` fields for a consent notice, ``notice_opt_out`` fields for a transfer notice.
    ``for_page``: this process's copy, `notice_items_for_page`, at most ``PAGE_SECONDS``
    old."""
    if for_page:
        return list(notice_items_for_page(plan.pk, subject_kind, kind))
    return _notice_items_read(plan.pk, subject_kind, kind)


def _notice_items_read(plan_id: int, subject_kind: str, kind: str) -> list[NoticeItem]:
    basis = Basis.CONSENT if kind == Notice.Kind.CONSENT else Basis.NOTICE_OPT_OUT
    rules = (FieldRule.objects.select_related("field")
             .filter(plan_id=plan_id, basis=basis, field__subject_kind=subject_kind)
             .order_by("field__position", "field__key"))
    return [NoticeItem(r.field.key, r.field.label_ko, r.required and kind == Notice.Kind.CONSENT)
            for r in rules]


@memoize(seconds=PAGE_SECONDS)
def notice_items_for_page(plan_id: int, subject_kind: str, kind: str) -> tuple[NoticeItem, ...]:
    """`notice_items` for the page: this process's copy, at most ``PAGE_SECONDS`` old (the
    catalogue's labels may have changed meanwhile)."""
    return tuple(_notice_items_read(plan_id, subject_kind, kind))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y년 %m월 %d일 %H:%M") if value else "추후 안내"


def _subject_noun(subject_kind: str) -> str:
    return "가맹점주님" if subject_kind == DataSubject.Kind.MERCHANT else "이용자님"


def _labels(items: list[NoticeItem]) -> str:
    return ", ".join(item.label for item in items) or "없음"


def roles_lines(*, plan: TransferPlan, items: list[NoticeItem]) -> list[str]:
    """Who is who, for the top of a notice (see the module docstring)."""
    from consent.roles import field_controllers, plan_parties

    parties = plan_parties(plan)
    lines = ["[개인정보 처리 주체]"]
    for party in parties:
        if party.role == "controller":
            officer = ", 연락처: ".join(p for p in (party.privacy_officer,
                                                   party.privacy_officer_contact) if p)
            lines.append(f"- 개인정보처리자: {party.name}"
                         + (f" (개인정보 보호책임자: {officer})" if officer else ""))
        else:
            label = "재수탁자" if party.role == "subprocessor" else "수탁자"
            lines.append(f"- {party.title}: {party.name}"
                         + (f" ({party.on_behalf_of}의 위탁을 받아 처리하는 {label})"
                            if party.on_behalf_of else ""))
    source = plan.from_operator.name
    owners = field_controllers(plan)
    controller = next((p.name for p in parties if p.role == "controller"), "")
    if items and all(owners.get(i.key) == source for i in items):
        lines.append(f"- 아래 항목은 {josa(source, '이', '가')} 자체 서비스를 위해 직접 받아 "
                     "스스로 관리해 온 정보입니다"
                     + (f" ({controller}의 위탁 업무와 별개)." if controller else "."))
    lines.append("")
    return lines


def render_consent(*, plan: TransferPlan, subject_kind: str, items: list[NoticeItem]) -> str:
    """The Art. 17(2) notice: five numbered items, required and optional stated apart."""
    to, source = plan.to_operator, plan.from_operator
    required = [i for i in items if i.required]
    optional = [i for i in items if not i.required]
    contact = " / ".join(p for p in (to.address, to.phone) if p)
    lines = [
        "개인정보 제3자 제공 동의 안내 (개인정보 보호법 제17조제2항)",
        *roles_lines(plan=plan, items=items),
        f"현재 운영사 {josa(source.name, '이', '가')} 보유한 {_subject_noun(subject_kind)}의 "
        "개인정보 중 "
        f"아래 항목을 새 운영사 {to.name}에 제공하기 위해 동의를 요청합니다.",
        "",
        f"1. 제공받는 자: {to.name}" + (f" (연락처: {contact})" if contact else ""),
        f"2. 제공받는 자의 이용 목적: {plan.purpose}",
        "3. 제공하는 개인정보 항목:",
        f"   - 필수: {_labels(required)}",
        f"   - 선택: {_labels(optional)}",
        f"4. 제공받는 자의 보유·이용 기간: {plan.retention}",
        "5. 동의를 거부할 권리 및 거부 시 불이익:",
        "   - 귀하는 동의를 거부할 권리가 있으며, 동의한 후에도 언제든지 철회할 수 있습니다.",
    ]
    if optional:
        lines.append("   - 선택 항목은 동의하지 않으셔도 아무런 불이익이 없습니다. "
                     "해당 항목만 이전되지 않습니다.")
    if required:
        lines.append(
            f"   - 필수 항목({_labels(required)})에 동의하지 않으시면 그 항목은 {to.name}에 "
            f"이전되지 않습니다. 이 경우 전환 일시({_when(plan.cutover_at)}) 이후 {to.name}에 "
            "해당 정보를 직접 다시 등록하셔야 그 정보가 필요한 서비스(예: 결제 대금 정산)를 "
            "이용하실 수 있습니다. 가맹 자격과 지금까지의 거래에는 영향이 없습니다.")
    lines.append(f"문의: 콜센터 {settings.CALL_CENTRE_PHONE}")
    return "\n".join(lines)


def render_transfer(*, plan: TransferPlan, subject_kind: str, items: list[NoticeItem]) -> str:
    """The Art. 27 notice: who receives, what moves, when, how to object, what objecting does."""
    to, source = plan.to_operator, plan.from_operator
    contact = " / ".join(p for p in (to.address, to.phone) if p)
    lines = [
        "영업양도 등에 따른 개인정보 이전 안내 (개인정보 보호법 제27조)",
        *roles_lines(plan=plan, items=items),
        f"서울사랑상품권 운영사 변경에 따라 현재 운영사 {josa(source.name, '이', '가')} 보유한 "
        f"{_subject_noun(subject_kind)}의 개인정보가 아래와 같이 새 운영사로 이전됩니다.",
        "",
        f"1. 개인정보를 이전받는 자: {to.name}" + (f" (연락처: {contact})" if contact else ""),
        f"2. 이전되는 개인정보 항목: {_labels(items)}",
        f"3. 이전 시기: 이 안내를 받으신 때부터 {plan.notice_period_days}일이 지난 후, "
        f"전환 일시({_when(plan.cutover_at)})까지 (원하시면 지금 바로 이전을 요청하실 수 "
        "있습니다)",
        "4. 이전을 원하지 않는 경우: 이 화면의 [이전 거부] 버튼을 누르시거나 "
        f"콜센터({settings.CALL_CENTRE_PHONE})로 알려 주십시오.",
        f"5. 이전을 거부하시면 위 항목은 {to.name}에 이전되지 않으며, "
        f"{josa(source.name, '이', '가')} 관계 법령에 따라 처리합니다 (상품권 잔액은 환불을 "
        "신청하실 수 있습니다).",
        f"이전받는 자의 이용 목적: {plan.purpose}",
        f"이전받는 자의 보유·이용 기간: {plan.retention}",
    ]
    return "\n".join(lines)


def render(*, plan: TransferPlan, subject_kind: str, kind: str) -> tuple[str, list[NoticeItem]]:
    items = notice_items(plan=plan, subject_kind=subject_kind, kind=kind)
    if kind == Notice.Kind.CONSENT:
        return render_consent(plan=plan, subject_kind=subject_kind, items=items), items
    if kind == Notice.Kind.TRANSFER:
        return render_transfer(plan=plan, subject_kind=subject_kind, items=items), items
    raise ValueError(f"unknown notice kind {kind!r}")


def notice_current(*, plan: TransferPlan, subject_kind: str, kind: str,
                   for_page: bool = False) -> Notice:
    """The stored Notice whose text is what the plan renders now; a new version if none is.

    Race-safe: two processes storing the same new text both end with the same row (the unique
    (plan, kind of subject, kind, hash) constraint lets one win; the other reads its row), and
    two different texts cannot take the same version number. ``for_page``: this process's
    copy, `notice_for_page`, at most ``PAGE_SECONDS`` old.
    """
    if for_page:
        return notice_for_page(plan.pk, subject_kind, kind)
    text, items = render(plan=plan, subject_kind=subject_kind, kind=kind)
    digest = text_hash(text)
    lookup = dict(plan=plan, subject_kind=subject_kind, kind=kind)
    for _attempt in range(5):
        notice = Notice.objects.filter(**lookup, text_hash=digest).first()
        if notice is not None:
            break
        latest = Notice.objects.filter(**lookup).aggregate(v=Max("version"))["v"] or 0
        try:
            with transaction.atomic():
                notice = Notice.objects.create(**lookup, version=latest + 1, text=text,
                                               text_hash=digest,
                                               items=[item.key for item in items])
            break
        except IntegrityError:
            continue  # someone stored this text, or took that version number: look again
    else:  # pragma: no cover - five lost races in a row
        raise RuntimeError("could not store the notice version")
    return notice


@memoize(seconds=PAGE_SECONDS)
def notice_for_page(plan_id: int, subject_kind: str, kind: str) -> Notice:
    """`notice_current` for the page: this process's copy, at most ``PAGE_SECONDS`` old (a
    change of the catalogue's labels, the operators' details or the call-centre number shows
    within that), rendered from the page's copy of the plan."""
    return notice_current(plan=plan_for_page(plan_id), subject_kind=subject_kind, kind=kind)
