"""The policy decision point: may this field of this subject move under this plan, and why?

A pure function over frozen dataclasses: no database, no clock of its own (the caller passes
``now``), so it can be property-tested exhaustively. Deny by default: every path that does not
end in an explicit ``allowed_*`` reason denies. The table of outcomes is in
docs/governance.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Basis(StrEnum):
    # Same values as governance.models.FieldRule.Basis (kept Django-free here).
    NOT_PERSONAL = "not_personal"
    ENTRUSTMENT_RETURN = "entrustment_return"
    LEGAL_OBLIGATION = "legal_obligation"
    NOTICE_OPT_OUT = "notice_opt_out"
    CONSENT = "consent"
    PROHIBITED = "prohibited"


class Reason(StrEnum):
    ALLOWED_NOT_PERSONAL = "allowed_not_personal"
    ALLOWED_ENTRUSTMENT_RETURN = "allowed_entrustment_return"
    ALLOWED_LEGAL_OBLIGATION = "allowed_legal_obligation"
    ALLOWED_NOTICE_ELAPSED = "allowed_notice_elapsed"
    ALLOWED_EARLY_REQUEST = "allowed_early_request"
    ALLOWED_CONSENT = "allowed_consent"
    DENIED_NO_BASIS = "denied_no_basis"
    DENIED_PROHIBITED = "denied_prohibited"
    DENIED_DISPUTED = "denied_disputed"
    DENIED_CONSENT_PENDING = "denied_consent_pending"
    DENIED_CONSENT_DECLINED = "denied_consent_declined"
    DENIED_CONSENT_WITHDRAWN = "denied_consent_withdrawn"
    DENIED_CONSENT_EXPIRED = "denied_consent_expired"
    DENIED_CONSENT_STALE_VERSION = "denied_consent_stale_version"
    DENIED_OBJECTED = "denied_objected"
    DENIED_NOTICE_PERIOD = "denied_notice_period"
    DENIED_NOT_NOTIFIED = "denied_not_notified"
    DENIED_PLAN_NOT_ACTIVE = "denied_plan_not_active"
    DENIED_ROLE_MISMATCH = "denied_role_mismatch"

    @property
    def allowed(self) -> bool:
        return self.value.startswith("allowed_")


# Short Korean explanations (shown to privacy officers), with the English gist.
EXPLANATIONS: dict[Reason, str] = {
    Reason.ALLOWED_NOT_PERSONAL: "개인정보가 아닌 항목 (not personal data)",
    Reason.ALLOWED_ENTRUSTMENT_RETURN: "위탁 업무 반환 — 제26조 (entrustment return)",
    Reason.ALLOWED_LEGAL_OBLIGATION: "법령상 의무 (legal obligation)",
    Reason.ALLOWED_NOTICE_ELAPSED: "고지 기간 경과, 이의 없음 — 제27조 (notice elapsed)",
    Reason.ALLOWED_EARLY_REQUEST: "정보주체의 조기 이전 요청 (the subject asked to move now)",
    Reason.ALLOWED_CONSENT: "유효한 동의 — 제17조 (live consent)",
    Reason.DENIED_NO_BASIS: "이전 근거 없음 (no legal basis)",
    Reason.DENIED_PROHIBITED: "이전 금지 항목 (prohibited)",
    Reason.DENIED_DISPUTED: "관리 주체 분쟁 중, 동의 없음 (ownership disputed, no consent)",
    Reason.DENIED_CONSENT_PENDING: "동의 대기 중 (consent pending)",
    Reason.DENIED_CONSENT_DECLINED: "동의 거부 (consent declined)",
    Reason.DENIED_CONSENT_WITHDRAWN: "동의 철회 (consent withdrawn)",
    Reason.DENIED_CONSENT_EXPIRED: "동의 만료 (consent expired)",
    Reason.DENIED_CONSENT_STALE_VERSION: "이전 버전 계획에 대한 동의 (consent to an older plan "
                                         "version)",
    Reason.DENIED_OBJECTED: "이전에 이의 제기 — 제27조 (objected)",
    Reason.DENIED_NOTICE_PERIOD: "고지 기간 진행 중 (notice period not ended)",
    Reason.DENIED_NOT_NOTIFIED: "고지 도달 증거 없음 (no evidence the notice reached them)",
    Reason.DENIED_PLAN_NOT_ACTIVE: "계획이 승인·시행 상태가 아님 (plan not in force)",
    Reason.DENIED_ROLE_MISMATCH: "이전 근거가 당사자의 역할과 맞지 않음 (the basis does not fit "
                                 "who controls the field)",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """The plan's rule for one field, with the catalogue facts the decision needs."""

    field_key: str
    personal: bool
    basis: str | None  # None or an unknown value: no basis, denied
    required: bool = False
    # Older plan versions whose consent still counts for this field: their notice said the
    # same of it as this version's does (`consent_terms_kept`).
    consent_kept_from: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who controls the field (operator ids, from the catalogue's ownership and rulings;
    None: nobody recorded), who processes it for that controller now, and whether its
    control is under an unsettled dispute (no ruling yet)."""

    disputed: bool = False
    controller: int | None = None
    processor: int | None = None


@dataclass(frozen=True, slots=True)
class Parties:
    """The plan's parties (operator ids): the controller it names (None: none), the outgoing
    operator and the incoming one."""

    controller: int | None
    outgoing: int
    incoming: int


class Standing(StrEnum):
    """Where the plan's operators stand towards a field's controller."""

    OWN = "own"  # the outgoing operator controls the field itself
    RETURN_TO_CONTROLLER = "return_to_controller"  # its processor hands it back
    TO_NEXT_PROCESSOR = "to_next_processor"  # its processor hands it to its next processor
    MISMATCH = "mismatch"  # anything else, or nothing recorded


def standing(ownership: Ownership, parties: Parties | None) -> Standing:
    """A processor works for its controller (Art. 26): it may hand the controller's data
    back, or on to the processor the controller appointed next, which is the plan's incoming
    operator when the plan names that controller. Only a controller may provide its own
    data to a third party (Art. 17) or pass it on with its business (Art. 27)."""
    if parties is None or ownership.controller is None:
        return Standing.MISMATCH
    if parties.outgoing == ownership.controller:
        return Standing.OWN
    if ownership.processor != parties.outgoing or parties.controller != ownership.controller:
        return Standing.MISMATCH
    if parties.incoming == ownership.controller:
        return Standing.RETURN_TO_CONTROLLER
    return Standing.TO_NEXT_PROCESSOR


# The standings under which each basis may carry a field; the other bases (not personal,
# legal obligation, prohibited) do not depend on who controls the field.
BASIS_STANDINGS: dict[str, frozenset[Standing]] = {
    Basis.ENTRUSTMENT_RETURN: frozenset({Standing.RETURN_TO_CONTROLLER,
                                         Standing.TO_NEXT_PROCESSOR}),
    Basis.CONSENT: frozenset({Standing.OWN}),
    Basis.NOTICE_OPT_OUT: frozenset({Standing.OWN}),
}


def role_fits(basis: str | None, ownership: Ownership, parties: Parties | None) -> bool:
    """Whether ``basis`` fits who controls the field under these parties."""
    allowed = BASIS_STANDINGS.get(basis)
    return allowed is None or standing(ownership, parties) in allowed


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """What a consent notice (Art. 17(2)) tells a subject about one field: who provides it
    (and for which controller) and to whom, why, for how long, whether it is an item at
    all, and what refusing it costs (a required item's refusal costs the service that needs
    it, an optional item's nothing). The cut-over date is not a term: postponing it changes
    when the data moves, not what moves, to whom or why."""

    provider: int
    controller: int | None
    recipient: int
    purpose: str
    retention: str
    basis: str | None
    required: bool


def consent_terms_kept(old: ConsentTerms | None, new: ConsentTerms | None) -> bool:
    """Whether consent given on ``old`` terms still counts under ``new`` ones: both ask
    consent for the field and say the same of it. Anything changed needs fresh consent."""
    return (old is not None and new is not None and old.basis == Basis.CONSENT
            and old == new)


@dataclass(frozen=True, slots=True)
class Consent:
    """What the subject has said, as of the newest plan version they answered.

    ``plan_version`` is the version of the plan their answer was given to; ``None`` means they
    have not answered any version. An objection (Art. 27) counts whatever version it was
    given to.
    """

    plan_version: int | None = None
    granted: frozenset[str] = field(default_factory=frozenset)
    declined: frozenset[str] = field(default_factory=frozenset)
    objected: bool = False
    withdrawn: bool = False
    expires_at: datetime | None = None
    # Asked to move now (Art. 27 items before the notice period ends), not withdrawn.
    early_requested: bool = False
    # The subject's answer to the newest older version, when this one is to the current
    # version: it still decides a field this answer says nothing of, if the field keeps it.
    earlier: Consent | None = None


NO_ANSWER = Consent()


@dataclass(frozen=True, slots=True)
class Notified:
    """When the Art. 27 notice reached this subject, by the subject's own evidence (a
    delivered LMS, an opened notice link, an operator's signed attestation, an officer's
    record of a call); ``None``: no evidence at all. Never the plan's announced date."""

    at: datetime | None = None


NOT_NOTIFIED = Notified()


class NoticeStage(StrEnum):
    """Where a subject stands in its own notice period; the only way `decide` reads
    `Notified`, so callers may memoise decisions per stage."""

    NOT_NOTIFIED = "not_notified"  # no evidence, or evidence dated after now
    IN_PERIOD = "in_period"
    ELAPSED = "elapsed"


def notice_stage(notified: Notified, timing: Timing, now: datetime) -> NoticeStage:
    if notified.at is None or notified.at > now:
        return NoticeStage.NOT_NOTIFIED
    if now < notified.at + timing.notice_period:
        return NoticeStage.IN_PERIOD
    return NoticeStage.ELAPSED


@dataclass(frozen=True, slots=True)
class Timing:
    """Facts about the plan version the decision is for."""

    plan_version: int
    plan_in_force: bool
    # How long after its notice reached a subject its Art. 27 items may move (the plan's).
    notice_period: timedelta = timedelta(days=30)
    # Who the plan's controller, outgoing and incoming operators are (None: not named, and
    # no basis that depends on roles fits).
    parties: Parties | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    explanation: str

    def __bool__(self) -> bool:
        return self.allowed


_DECISIONS = {r: Decision(r.allowed, r, EXPLANATIONS[r]) for r in Reason}


def decision_for(reason: Reason) -> Decision:
    return _DECISIONS[reason]


def consent_reason(rule: Rule, consent: Consent, timing: Timing, now: datetime) -> Reason:
    """Whether the subject's consent covers this field for this plan version now."""
    if consent.plan_version is None:
        return Reason.DENIED_CONSENT_PENDING
    if (consent.plan_version != timing.plan_version
            and consent.plan_version not in rule.consent_kept_from):
        return Reason.DENIED_CONSENT_STALE_VERSION
    if consent.withdrawn:
        return Reason.DENIED_CONSENT_WITHDRAWN
    earlier = consent.earlier
    if (earlier is not None and earlier.plan_version in rule.consent_kept_from
            and rule.field_key not in consent.declined
            and rule.field_key not in consent.granted):
        # Not asked again in this version (an objection or an early request made the row):
        # the older consent, whose terms this version kept, still speaks for the field.
        return consent_reason(rule, earlier, timing, now)
    if consent.expires_at is not None and now >= consent.expires_at:
        return Reason.DENIED_CONSENT_EXPIRED
    if rule.field_key in consent.declined:
        return Reason.DENIED_CONSENT_DECLINED
    if rule.field_key in consent.granted:
        return Reason.ALLOWED_CONSENT
    return Reason.DENIED_CONSENT_PENDING


def notice_reason(consent: Consent, notified: Notified, timing: Timing, now: datetime
                  ) -> Reason:
    """An Art. 27 item: an objection holds it back; the subject's own request to move now
    lets it go; otherwise it waits for evidence that the notice reached this subject, and
    then for the notice period counted from that moment."""
    if consent.objected:
        return Reason.DENIED_OBJECTED
    if consent.early_requested:
        return Reason.ALLOWED_EARLY_REQUEST
    stage = notice_stage(notified, timing, now)
    if stage is NoticeStage.NOT_NOTIFIED:
        return Reason.DENIED_NOT_NOTIFIED
    if stage is NoticeStage.IN_PERIOD:
        return Reason.DENIED_NOTICE_PERIOD
    return Reason.ALLOWED_NOTICE_ELAPSED


def decide(rule: Rule, ownership: Ownership, consent: Consent, notified: Notified,
           timing: Timing, now: datetime) -> Decision:
    """May ``rule.field_key`` of this subject move now? Deny unless a basis clearly allows."""
    return _DECISIONS[_reason(rule, ownership, consent, notified, timing, now)]


def _reason(rule: Rule, ownership: Ownership, consent: Consent, notified: Notified,
            timing: Timing, now: datetime) -> Reason:
    if not timing.plan_in_force:
        return Reason.DENIED_PLAN_NOT_ACTIVE
    basis = rule.basis
    if basis == Basis.PROHIBITED:
        return Reason.DENIED_PROHIBITED
    if ownership.disputed:
        # Until a ruling settles who controls the field, only the subject's own consent (where
        # the plan asks for it) lets it move.
        if basis == Basis.CONSENT and (
                consent_reason(rule, consent, timing, now) is Reason.ALLOWED_CONSENT):
            return Reason.ALLOWED_CONSENT
        return Reason.DENIED_DISPUTED
    if not role_fits(basis, ownership, timing.parties):
        return Reason.DENIED_ROLE_MISMATCH
    if basis == Basis.NOT_PERSONAL:
        return Reason.DENIED_NO_BASIS if rule.personal else Reason.ALLOWED_NOT_PERSONAL
    if basis == Basis.ENTRUSTMENT_RETURN:
        return Reason.ALLOWED_ENTRUSTMENT_RETURN
    if basis == Basis.LEGAL_OBLIGATION:
        return Reason.ALLOWED_LEGAL_OBLIGATION
    if basis == Basis.NOTICE_OPT_OUT:
        return notice_reason(consent, notified, timing, now)
    if basis == Basis.CONSENT:
        return consent_reason(rule, consent, timing, now)
    return Reason.DENIED_NO_BASIS


class Register(StrEnum):
    """Which register a moved item belongs in."""

    PROVISION = "provision"  # Art. 17 (with Art. 27, or a law): the Decree Art. 15 register
    ENTRUSTMENT = "entrustment"  # Art. 26: a change of the controller's processor
    NONE = "none"  # not personal data: no register


def register_for(rule: Rule, ownership: Ownership, parties: Parties | None) -> Register:
    """Where an item that moved under ``rule`` is recorded: a move between a controller's
    processors (or back to the controller) is an entrustment change, whatever the basis
    that let it move; anything else personal is a provision. ``ValueError`` for an item
    that cannot have moved (prohibited, or a basis that does not fit the roles)."""
    if ownership.disputed:
        # Only on the subject's own consent, whoever turns out to control it.
        if rule.basis != Basis.CONSENT:
            raise ValueError(f"{rule.field_key} cannot have moved under this plan")
        return Register.PROVISION if rule.personal else Register.NONE
    known = rule.basis in Basis.__members__.values() and rule.basis != Basis.PROHIBITED
    if (not known or (rule.personal and rule.basis == Basis.NOT_PERSONAL)
            or not role_fits(rule.basis, ownership, parties)):
        raise ValueError(f"{rule.field_key} cannot have moved under this plan")
    if not rule.personal:
        return Register.NONE
    if standing(ownership, parties) in (Standing.RETURN_TO_CONTROLLER,
                                        Standing.TO_NEXT_PROCESSOR):
        return Register.ENTRUSTMENT
    return Register.PROVISION
