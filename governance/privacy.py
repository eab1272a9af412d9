"""The public privacy page (개인정보 처리방침, PIPA Art. 30), rendered from the plans and the
catalogue, versioned by its text like the notices (consent/notices.py).

What it says, from what the service holds: the controller and its privacy officer; each
processor and what it does, the incoming one included (Art. 26(2)); the data the controller
holds and why; what an operator controls itself and how that moves to the incoming operator
(consent, Art. 17; notice, Art. 27); what never moves and why; retention; the subjects'
rights and how to use them; where to complain. The plans read are the real ones (not
rehearsals) that are approved, in force or completed, newest version of each lineage.

The text is plain Korean in blocks separated by a blank line, each block's first line its
heading; the page shows exactly this text and its SHA-256. `privacy_policy_current` returns
the stored version whose hash matches the text rendered now, or stores the next version
(an audit event: a new privacy policy is published).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event
from core.korean import josa
from governance.models import (
    DataSubject,
    Field,
    FieldOwnership,
    FieldRule,
    Operator,
    PrivacyPolicyVersion,
    TransferPlan,
)
from governance.services.common import GOVERNANCE

PATH = "/privacy"
Basis = FieldRule.Basis
PUBLISHED = (TransferPlan.Status.APPROVED, TransferPlan.Status.ACTIVE,
             TransferPlan.Status.COMPLETED)
KIND_NOUNS = {DataSubject.Kind.MERCHANT: "가맹점", DataSubject.Kind.USER: "이용자"}
# Where a subject may complain (public bodies; PIPA Arts. 62, 40).
AUTHORITIES = (
    "개인정보보호위원회 (www.pipc.go.kr)",
    "개인정보침해 신고센터 (한국인터넷진흥원 운영, privacy.kisa.or.kr, 국번 없이 118)",
    "개인정보 분쟁조정위원회 (www.kopico.go.kr, 1833-6972)",
)


@dataclass(frozen=True)
class PrivacyPageRef:
    """How a receipt names the privacy page it was issued under."""

    url: str  # the current page's path ("/privacy")
    permalink: str  # this version's own path ("/privacy/<sha256>")
    version: int
    text_hash: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _published_plans() -> list[TransferPlan]:
    """The newest published version of each real plan's lineage, oldest lineage first."""
    newest: dict = {}
    for plan in (TransferPlan.objects.filter(status__in=PUBLISHED, rehearsal=False)
                 .select_related("controller", "from_operator", "to_operator",
                                 "subcontractor").order_by("created_at", "version")):
        newest[plan.lineage] = plan
    return list(newest.values())


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y년 %m월 %d일") if value else "추후 안내"


def _party(operator: Operator) -> str:
    contact = " / ".join(p for p in (operator.address, operator.phone) if p)
    return f"{operator.name}" + (f" ({contact})" if contact else "")


def _officer(operator: Operator) -> str:
    name = operator.privacy_officer_name or "개인정보 보호책임자"
    contact = operator.privacy_officer_contact or operator.phone or "대표 전화로 문의"
    return f"{name}, 연락처 {contact}"


def _labels(fields) -> str:
    return ", ".join(f.label_ko for f in fields) or "없음"


def _current_controllers() -> dict[int, int]:
    """Field id -> the operator id that controls it now (the catalogue's ownership)."""
    rows = (FieldOwnership.objects.filter(role=Operator.Role.CONTROLLER, until__isnull=True)
            .order_by("since", "id").values_list("field_id", "operator_id"))
    return dict(rows)


def render() -> str:
    """The privacy page's text as the plans and the catalogue stand now."""
    plans = _published_plans()
    controllers = _current_controllers()
    fields = list(Field.objects.filter(personal=True).order_by("subject_kind", "position"))
    rules = defaultdict(dict)  # plan id -> field id -> rule
    for rule in FieldRule.objects.filter(plan__in=plans).select_related("field"):
        rules[rule.plan_id][rule.field_id] = rule
    controller = next((p.controller for p in reversed(plans) if p.controller is not None),
                      None)
    if controller is None:
        controller = Operator.objects.filter(role=Operator.Role.CONTROLLER).first()
    blocks: list[list[str]] = []

    who = controller.name if controller else "개인정보처리자"
    blocks.append(["개인정보 처리방침 (개인정보 보호법 제30조)",
                   f"{josa(who, '은', '는')} 아래 사업의 개인정보를 이 처리방침에 따라 "
                   "처리합니다.",
                   *[f"- {p.title}" for p in plans]])

    block = ["1. 개인정보처리자와 개인정보 보호책임자"]
    if controller is not None:
        block += [f"개인정보처리자: {_party(controller)}",
                  f"개인정보 보호책임자: {_officer(controller)}"]
    else:
        block.append("개인정보처리자가 아직 등록되지 않았습니다.")
    blocks.append(block)

    own = [f for f in fields if controller is not None
           and controllers.get(f.pk) == controller.pk]
    block = ["2. 처리하는 개인정보와 처리 목적"]
    for kind, noun in KIND_NOUNS.items():
        of_kind = [f for f in own if f.subject_kind == kind]
        if of_kind:
            block.append(f"{noun}: {_labels(of_kind)}")
    block.append("처리 목적: 위 사업의 운영 (가맹점 결제·정산, 이용자 상품권 관리)과 그 운영사 "
                 "변경" if plans else "처리 목적: 등록된 이전 계획이 없습니다.")
    blocks.append(block)

    block = ["3. 개인정보 처리의 위탁 (제26조)",
             "아래 사업자가 개인정보처리자를 위하여 개인정보를 처리합니다 (수탁자)."]
    for plan in plans:
        moved = [r.field for r in rules[plan.pk].values()
                 if r.basis in (Basis.ENTRUSTMENT_RETURN, Basis.LEGAL_OBLIGATION)
                 and r.field.personal and plan.controller_id is not None
                 and controllers.get(r.field_id) == plan.controller_id]
        block.append(f"- {plan.from_operator.name}: 위 사업의 운영 업무를 처리하는 현재 수탁자 "
                     f"(전환 일시 {_when(plan.cutover_at)}까지)")
        if plan.subcontractor is not None:
            block.append(f"- {plan.subcontractor.name}: {plan.from_operator.name}의 업무 일부를 "
                         "다시 위탁받아 처리 (재수탁자)")
        block.append(f"- {plan.to_operator.name}: 전환 일시({_when(plan.cutover_at)})부터 같은 "
                     f"업무를 맡는 새 수탁자 (변경 목적: {plan.purpose}). 넘겨받는 개인정보: "
                     f"{_labels(moved)}")
        block.append(f"  수탁자 연락처: {_party(plan.to_operator)}; 개인정보 보호책임자 "
                     f"{_officer(plan.to_operator)}")
    blocks.append(block)

    block = ["4. 운영사가 직접 관리하는 개인정보와 새 운영사로의 제공"]
    any_own = False
    for plan in plans:
        theirs = [r for r in rules[plan.pk].values()
                  if r.field.personal and controllers.get(r.field_id) == plan.from_operator_id
                  and plan.from_operator_id != plan.controller_id]
        if not theirs:
            continue
        any_own = True
        consent = [r.field for r in theirs if r.basis == Basis.CONSENT]
        notice = [r.field for r in theirs if r.basis == Basis.NOTICE_OPT_OUT]
        source = plan.from_operator.name
        block.append(f"{josa(source, '이', '가')} 자신의 서비스를 위해 직접 받은 다음 정보는 "
                     f"{josa(source, '이', '가')} 스스로 개인정보처리자로서 관리합니다: "
                     f"{_labels(r.field for r in theirs)}")
        block.append(f"  {source}의 연락처: {_party(plan.from_operator)}; 개인정보 보호책임자 "
                     f"{_officer(plan.from_operator)}")
        if consent:
            block.append(f"- 동의를 받아 {plan.to_operator.name}에 제공 (제17조, 동의하지 않으면 "
                         f"제공하지 않음): {_labels(consent)}")
        if notice:
            block.append(f"- 미리 알린 뒤 {plan.to_operator.name}에 이전 (제27조, 이전을 거부하면 "
                         f"이전하지 않음): {_labels(notice)}")
    if not any_own:
        block.append("해당 없음")
    blocks.append(block)

    block = ["5. 옮기지 않는 개인정보"]
    not_moved = {}
    for plan in plans:
        for r in rules[plan.pk].values():
            if r.basis == Basis.PROHIBITED and r.field.personal:
                not_moved.setdefault(r.field.key, (r.field, r.note))
    for _key, (field, note) in sorted(not_moved.items()):
        block.append(f"- {field.label_ko}: {note or '새 운영사로 옮기지 않습니다.'}")
    if not not_moved:
        block.append("해당 없음")
    blocks.append(block)

    blocks.append(["6. 보유·이용 기간",
                   *[f"- {p.title}: {p.retention}" for p in plans]] if plans else
                  ["6. 보유·이용 기간", "등록된 이전 계획이 없습니다."])

    base = settings.PUBLIC_BASE_URL
    block = ["7. 정보주체의 권리와 행사 방법",
             "정보주체는 자신의 개인정보의 열람, 정정·삭제, 처리정지를 요구하고 동의를 철회할 수 "
             "있습니다 (제35조, 제36조, 제37조).",
             "- 문자로 받은 개인 링크의 '이전 진행 상황' 화면에서: 동의 철회, 이전 거부, 지금 "
             "이전하기, 동의 영수증 내려받기",
             f"- 링크가 만료되었거나 없으시면 {base}/c/ 에서 휴대전화 번호로 일회용 코드를 받아 "
             "같은 화면으로 들어오실 수 있습니다.",
             f"- 콜센터 {settings.CALL_CENTRE_PHONE}"]
    if any(r.basis == Basis.NOTICE_OPT_OUT and r.field.data_type == "money"
           for plan in plans for r in rules[plan.pk].values()):
        # Issue 16: whoever objects to the move may have the balance refunded instead.
        block.insert(3, "- 이전을 거부하신 이용자는 같은 화면에서 상품권 잔액의 환불을 요청하실 수 "
                        "있습니다 (기존 운영사가 환불하며, 환불을 요청하신 분의 정보는 새 운영사로 "
                        "옮기지 않습니다).")
    if controller is not None:
        block.append(f"- 개인정보 보호책임자: {_officer(controller)}")
    blocks.append(block)

    blocks.append(["8. 권익침해 구제 방법",
                   "개인정보 침해에 대한 신고나 상담, 분쟁 조정은 아래 기관에 하실 수 있습니다.",
                   *[f"- {authority}" for authority in AUTHORITIES]])

    blocks.append(["9. 처리방침의 변경",
                   "이 처리방침은 이전 계획과 항목 카탈로그에서 만들어지며, 내용이 바뀌면 새 "
                   "판으로 게시합니다. 각 판은 본문의 SHA-256으로 식별되며 이전 판도 그 값으로 "
                   "볼 수 있습니다."])
    return "\n\n".join("\n".join(lines) for lines in blocks)


def privacy_policy_current() -> PrivacyPolicyVersion:
    """The stored version whose text is what the page renders now; the next version (and an
    audit event) if none is. Race-safe like `consent.notices.notice_current`: the unique
    hash and version let one of two writers win and the other read its row."""
    text = render()
    digest = text_hash(text)
    for _attempt in range(5):
        found = PrivacyPolicyVersion.objects.filter(text_hash=digest).first()
        if found is not None:
            return found
        latest = PrivacyPolicyVersion.objects.aggregate(v=Max("version"))["v"] or 0
        try:
            with transaction.atomic():
                row = PrivacyPolicyVersion.objects.create(version=latest + 1, text=text,
                                                          text_hash=digest)
                audit_event(by=GOVERNANCE, action="privacy_policy.published", target=row,
                            details={"version": row.version, "text_hash": digest})
            return row
        except IntegrityError:
            continue
    raise RuntimeError("could not store the privacy policy version")  # pragma: no cover


def privacy_page_ref(row: PrivacyPolicyVersion) -> PrivacyPageRef:
    return PrivacyPageRef(url=PATH, permalink=f"{PATH}/{row.text_hash}", version=row.version,
                          text_hash=row.text_hash)


def blocks_of(text: str) -> list[tuple[str, list[str]]]:
    """The page's blocks: (heading, lines), as `render` wrote them."""
    blocks = []
    for chunk in text.split("\n\n"):
        heading, *lines = chunk.split("\n")
        blocks.append((heading, lines))
    return blocks
