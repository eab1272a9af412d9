"""What a subject has said for one plan version (`SubjectConsentState`), changed by intent.

The consent app calls one service per thing a subject does, inside the transaction that
stores its immutable `ConsentRecord` and writes its audit event, so these services write no
audit event of their own. Each one locks the row (creating it on the subject's first act),
guards its transition here and nowhere else, changes only what that act changes, and returns
the row:

- `consent_state_answer`: the granted and declined fields are replaced (``partial``: merged
  with the earlier decisions, for an SMS reply that names some items only) and a withdrawal
  is cleared; ``answered_at`` and ``notice_hash`` are stamped; an objection, an early request
  and the expiry are kept (``expires_at`` sets a new one).
- `consent_state_withdraw`: everything granted becomes declined and ``withdrawn_at`` is set;
  the rest is kept.
- `consent_state_object` (Art. 27): ``objected`` is set; the consent answers, a withdrawal and
  an early request are kept (the policy lets the objection win; nothing is cleared).
- `consent_state_early_request` / `consent_state_early_withdraw`: ``early_requested_at`` is
  set / cleared; nothing else changes.

Guards (raising `GovernanceError`): answers, withdrawals and objections are refused for a
plan that is still a draft or submitted (it has no notice yet); moving early only while the
plan is in force; field keys must be fields the plan has a rule for, for the subject's kind,
and never both granted and declined. Whether there is anything to withdraw, or an objection
already, is the consent app's question (it answers the subject in its own words).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.models import DataSubject, FieldRule, SubjectConsentState, TransferPlan
from governance.services.common import GovernanceError

_NOT_APPROVED = (TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED)


def _check_answerable(plan: TransferPlan) -> None:
    if plan.status in _NOT_APPROVED:
        raise GovernanceError("승인되지 않은 계획에는 동의를 받을 수 없습니다. "
                              "(the plan is not approved yet)")


def _check_in_force(plan: TransferPlan) -> None:
    if plan.status not in TransferPlan.IN_FORCE:
        raise GovernanceError("승인된 계획만 조기 이전을 요청할 수 있습니다. "
                              "(the plan is not in force)")


def _checked_fields(plan: TransferPlan, subject: DataSubject, granted: Iterable[str],
                    declined: Iterable[str]) -> tuple[set[str], set[str]]:
    granted, declined = set(granted), set(declined)
    if granted & declined:
        raise GovernanceError("같은 항목에 동의와 거부가 함께 있습니다. (a field is both granted "
                              "and declined)")
    known = set(FieldRule.objects.filter(plan=plan, field__subject_kind=subject.kind)
                .values_list("field__key", flat=True))
    unknown = (granted | declined) - known
    if unknown:
        raise GovernanceError(f"계획에 없는 항목입니다: {sorted(unknown)} (not in the plan)")
    return granted, declined


def _locked(plan: TransferPlan, subject: DataSubject, **defaults) -> SubjectConsentState:
    state, _ = SubjectConsentState.objects.select_for_update().get_or_create(
        plan=plan, subject=subject, defaults=defaults)
    return state


def _save(state: SubjectConsentState, *fields: str) -> SubjectConsentState:
    state.updated_at = timezone.now()
    state.save(update_fields=[*fields, "updated_at"])
    return state


@transaction.atomic
def consent_state_answer(*, plan: TransferPlan, subject: DataSubject,
                         granted: Iterable[str] = (), declined: Iterable[str] = (),
                         answered_at: datetime | None = None,
                         notice_hash: str | None = None, expires_at: datetime | None = None,
                         partial: bool = False) -> SubjectConsentState:
    """The subject's answer for this plan version (see the module docstring).

    ``notice_hash``: the consent notice the answer was given on (None keeps the stored one:
    an SMS reply saw no notice page). ``expires_at``: None keeps the stored expiry.
    ``partial``: the answer decides only the fields it names; every earlier decision on the
    others stands (a withdrawn consent grants nothing any more).
    """
    _check_answerable(plan)
    granted, declined = _checked_fields(plan, subject, granted, declined)
    state = _locked(plan, subject)
    if partial:
        earlier_granted = set(state.fields_granted) if state.withdrawn_at is None else set()
        granted |= earlier_granted - declined
        declined |= set(state.fields_declined) - granted
    state.fields_granted, state.fields_declined = sorted(granted), sorted(declined)
    state.answered_at = answered_at or state.answered_at or timezone.now()
    state.withdrawn_at = None
    if notice_hash is not None:
        state.notice_hash = notice_hash
    if expires_at is not None:
        state.expires_at = expires_at
    return _save(state, "fields_granted", "fields_declined", "answered_at", "withdrawn_at",
                 "notice_hash", "expires_at")


@transaction.atomic
def consent_state_withdraw(*, plan: TransferPlan, subject: DataSubject,
                           withdrawn_at: datetime | None = None) -> SubjectConsentState:
    """Withdraw everything granted for this plan version: it is declined from now on."""
    _check_answerable(plan)
    state = _locked(plan, subject)
    state.fields_declined = sorted(set(state.fields_declined) | set(state.fields_granted))
    state.fields_granted = []
    state.withdrawn_at = withdrawn_at or timezone.now()
    return _save(state, "fields_granted", "fields_declined", "withdrawn_at")


@transaction.atomic
def consent_state_object(*, plan: TransferPlan, subject: DataSubject,
                         objected_at: datetime | None = None) -> SubjectConsentState:
    """The subject's Art. 27 objection: its notice items do not move. ``objected_at`` is
    stored as the row's ``answered_at`` when the subject had not answered before."""
    _check_answerable(plan)
    state = _locked(plan, subject)
    state.objected = True
    state.answered_at = state.answered_at or objected_at or timezone.now()
    return _save(state, "objected", "answered_at")


@transaction.atomic
def consent_state_early_request(*, plan: TransferPlan, subject: DataSubject,
                                requested_at: datetime | None = None) -> SubjectConsentState:
    """The subject asks for its Art. 27 items to move now, before its notice period ends."""
    _check_in_force(plan)
    requested_at = requested_at or timezone.now()
    state = _locked(plan, subject, answered_at=requested_at)
    state.early_requested_at = requested_at
    return _save(state, "early_requested_at")


@transaction.atomic
def consent_state_early_withdraw(*, plan: TransferPlan, subject: DataSubject
                                 ) -> SubjectConsentState:
    """The subject takes its early request back: its Art. 27 items wait for the notice
    period again."""
    _check_in_force(plan)
    state = _locked(plan, subject, answered_at=timezone.now())
    state.early_requested_at = None
    return _save(state, "early_requested_at")


@transaction.atomic
def subject_consent_state_set(*, plan: TransferPlan, subject: DataSubject,
                              fields_granted: Iterable[str] = (),
                              fields_declined: Iterable[str] = (), objected: bool = False,
                              answered_at: datetime | None = None,
                              withdrawn_at: datetime | None = None,
                              expires_at: datetime | None = None,
                              notice_hash: str = "") -> SubjectConsentState:
    """Set the whole state at once (not a delta), with the same guards as an answer.

    Not for the consent app, which changes the state by intent (above): this is for tests
    that need a state as a whole, including ones no sequence of acts leaves (the policy's
    property test: consent granted and withdrawn at once).
    """
    _check_answerable(plan)
    granted, declined = _checked_fields(plan, subject, fields_granted, fields_declined)
    state = _locked(plan, subject)
    state.fields_granted, state.fields_declined = sorted(granted), sorted(declined)
    state.objected = objected
    state.answered_at = answered_at or state.answered_at or timezone.now()
    state.withdrawn_at, state.expires_at = withdrawn_at, expires_at
    state.notice_hash = notice_hash
    return _save(state, "fields_granted", "fields_declined", "objected", "answered_at",
                 "withdrawn_at", "expires_at", "notice_hash")
