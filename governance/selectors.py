"""Reads: current keys, plan versions, and the policy decisions for a whole plan.

`plan_decisions` builds the policy inputs for hundreds of thousands of subjects with a
handful of queries: the plan's rules and the unsettled disputes once, the answers given to
older versions of the plan once, then one server-side cursor over the subjects joined with
their consent state for this version and their notice evidence for the plan's lineage.
Decisions are memoised per input shape (subject kind × consent state × notice stage), since a
whole plan has only a few hundred distinct shapes.
"""

from __future__ import annotations

import bisect
import itertools
import json
import sys
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from django.db import connection
from django.db.models import (
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from governance.cursors import streamed
from governance.models import (
    DataSubject,
    Field,
    FieldOwnership,
    FieldRule,
    Operator,
    OperatorKey,
    OwnershipDispute,
    SubjectConsentState,
    SubjectNotice,
    TransferPlan,
)
from governance.policy import (
    NO_ANSWER,
    NOT_NOTIFIED,
    Consent,
    ConsentTerms,
    Decision,
    NoticeStage,
    Notified,
    Ownership,
    Parties,
    Reason,
    Rule,
    Timing,
    consent_terms_kept,
    decide,
    notice_stage,
    role_fits,
)

# --- Operators ----------------------------------------------------------------------------


def operator_current_key(operator: Operator, purpose: str, at: datetime | None = None
                         ) -> OperatorKey | None:
    """The operator's key for ``purpose`` valid at ``at`` (now by default), newest first."""
    at = at or timezone.now()
    return (OperatorKey.objects.filter(operator=operator, purpose=purpose, valid_from__lte=at)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
            .order_by("-valid_from", "-id").first())


# --- Plans --------------------------------------------------------------------------------


def plan_versions(plan: TransferPlan) -> QuerySet[TransferPlan]:
    return TransferPlan.objects.filter(lineage=plan.lineage).order_by("version")


def plan_latest_version(plan: TransferPlan) -> TransferPlan:
    return plan_versions(plan).last()


def plan_rules(plan: TransferPlan) -> list[FieldRule]:
    return list(plan.rules.select_related("field").order_by("field__subject_kind",
                                                              "field__position", "field__key"))


@dataclass(frozen=True)
class PlanRoles:
    """Who is who in a plan (PIPA Arts. 17, 26): the ``controller`` on whose behalf the
    operators process the programme's data (None while the plan names none), the
    ``outgoing_processor`` (the plan's `from_operator`), the ``incoming_processor`` (its
    `to_operator`) and the outgoing processor's ``subcontractor`` (None when it has none).

    ``field_controllers``: field key -> the operator that controls that field of the plan
    now, by the catalogue's ownership and rulings (absent: nobody recorded). A field the
    outgoing operator controls itself (its own data) is provided to the incoming operator as
    a third party; a field the plan's controller controls moves between its processors."""

    controller: Operator | None
    outgoing_processor: Operator
    incoming_processor: Operator
    subcontractor: Operator | None
    field_controllers: Mapping[str, Operator]

    @property
    def processors(self) -> tuple[Operator, ...]:
        """The parties acting on the controller's behalf, outgoing first."""
        return tuple(p for p in (self.outgoing_processor, self.subcontractor,
                                 self.incoming_processor) if p is not None)

    def controls_itself(self, field_key: str) -> bool:
        """Whether the outgoing operator controls ``field_key`` itself (its own data)."""
        owner = self.field_controllers.get(field_key)
        return owner is not None and owner.pk == self.outgoing_processor.pk


def plan_roles(plan: TransferPlan) -> PlanRoles:
    """The parties of ``plan`` and the controller of each of its fields (a few queries)."""
    ids = {plan.controller_id, plan.from_operator_id, plan.to_operator_id,
           plan.subcontractor_id} - {None}
    owners = field_current_owners(plan.rules.values_list("field_id", flat=True))
    ids |= {owner for owner, _ in owners.values() if owner is not None}
    by_id = Operator.objects.in_bulk(ids)
    keys = dict(plan.rules.values_list("field_id", "field__key"))
    return PlanRoles(
        controller=by_id.get(plan.controller_id),
        outgoing_processor=by_id[plan.from_operator_id],
        incoming_processor=by_id[plan.to_operator_id],
        subcontractor=by_id.get(plan.subcontractor_id),
        field_controllers=MappingProxyType({
            keys[field_id]: by_id[owner] for field_id, (owner, _) in owners.items()
            if owner is not None}))


def field_current_owners(field_ids: Iterable[int]) -> dict[int, tuple[int | None, int | None]]:
    """Field id -> (its controller's operator id, its processor's operator id) as the
    catalogue's ownership (and the rulings it cites) records them now; None: not recorded."""
    owners: dict[int, list[int | None]] = {pk: [None, None] for pk in field_ids}
    rows = (FieldOwnership.objects.filter(field_id__in=list(owners), until__isnull=True)
            .order_by("since", "id").values_list("field_id", "role", "operator_id"))
    for field_id, role, operator_id in rows:
        owners[field_id][0 if role == Operator.Role.CONTROLLER else 1] = operator_id
    return {pk: (controller, processor) for pk, (controller, processor) in owners.items()}


def plan_in_force_for(from_operator: Operator, to_operator: Operator) -> TransferPlan | None:
    return (TransferPlan.objects.filter(from_operator=from_operator, to_operator=to_operator,
                                        status__in=TransferPlan.IN_FORCE)
            .order_by("-approved_at").first())


def subjects_known(*, operator_id: int, kind: str, external_ids: list[str]
                   ) -> dict[str, tuple[int, str]]:
    """External id -> (subject id, public id) for those of ``external_ids`` that ``operator``
    already holds as subjects of ``kind``: one array lookup on PostgreSQL, chunks elsewhere."""
    table = DataSubject._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT external_id, id, public_id FROM {table} "  # noqa: S608
                           "WHERE source_operator_id = %s AND kind = %s "
                           "AND external_id = ANY(%s)", [operator_id, kind, external_ids])
            return {external_id: (pk, public_id)
                    for external_id, pk, public_id in cursor.fetchall()}
    known = {}
    for start in range(0, len(external_ids), 5000):
        known.update((external_id, (pk, public_id)) for external_id, pk, public_id
                     in DataSubject.objects.filter(
                         source_operator_id=operator_id, kind=kind,
                         external_id__in=external_ids[start:start + 5000])
                     .values_list("external_id", "id", "public_id"))
    return known


def subjects_by_external_id(*, operator_id: int, kinds: Iterable[str], external_ids: list[str]
                            ) -> dict[str, list[DataSubject]]:
    """External id -> the subjects of ``kinds`` that ``operator`` holds under it (one per kind
    at most), for those of ``external_ids`` it holds; looked up 5,000 at a time."""
    found: dict[str, list[DataSubject]] = {}
    for start in range(0, len(external_ids), 5000):
        for subject in (DataSubject.objects
                        .filter(source_operator_id=operator_id, kind__in=list(kinds),
                                external_id__in=external_ids[start:start + 5000])
                        .only("id", "public_id", "kind", "external_id", "source_operator_id")
                        .order_by("id")):
            found.setdefault(subject.external_id, []).append(subject)
    return found


def plan_notice_kinds(plan: TransferPlan) -> set[str]:
    """The subject kinds with Art. 27 (`notice_opt_out`) fields in the plan: whom its notice
    has to reach."""
    return set(plan.rules.filter(basis=FieldRule.Basis.NOTICE_OPT_OUT)
               .values_list("field__subject_kind", flat=True))


def subject_notified(plan: TransferPlan, subject_ref: str = "pk") -> Exists:
    """Whether evidence shows that the Art. 27 notice of ``plan``'s lineage reached the
    subject whose id is ``subject_ref`` of the outer query: a filter for another app's
    querysets (``.exclude(subject_notified(plan, "subject_id"))``)."""
    return Exists(SubjectNotice.objects.filter(lineage=plan.lineage,
                                               subject_id=OuterRef(subject_ref)))


def field_disputed_ids() -> set[int]:
    """Ids of fields under a dispute that no ruling has settled yet."""
    return set(OwnershipDispute.fields.through.objects.filter(
        ownershipdispute__status__in=OwnershipDispute.UNSETTLED).values_list("field_id",
                                                                             flat=True))


# --- Decisions for a whole plan -----------------------------------------------------------


class SubjectRef(NamedTuple):
    """The subject a batch of decisions is about (no personal values)."""

    id: int
    public_id: str
    kind: str
    external_id: str


@dataclass(frozen=True, slots=True)
class PlanInputs:
    plan_id: int
    timing: Timing
    rules_by_kind: Mapping[str, tuple[tuple[Rule, Ownership], ...]]


def plan_parties(plan: TransferPlan) -> Parties:
    """The plan's controller, outgoing and incoming operators, as the policy reads them."""
    return Parties(controller=plan.controller_id, outgoing=plan.from_operator_id,
                   incoming=plan.to_operator_id)


def plan_inputs(plan: TransferPlan) -> PlanInputs:
    """The parts of the policy input that are the same for every subject of the plan."""
    disputed = field_disputed_ids()
    rules = plan_rules(plan)
    owners = field_current_owners(r.field_id for r in rules)
    kept = plan_consent_kept(plan)
    by_kind: dict[str, list[tuple[Rule, Ownership]]] = defaultdict(list)
    for rule in rules:
        controller, processor = owners[rule.field_id]
        by_kind[rule.field.subject_kind].append((
            Rule(field_key=rule.field.key, personal=rule.field.personal, basis=rule.basis,
                 required=rule.required,
                 consent_kept_from=kept.get(rule.field.key, frozenset())),
            Ownership(disputed=rule.field_id in disputed, controller=controller,
                      processor=processor),
        ))
    return PlanInputs(
        plan_id=plan.pk,
        timing=Timing(plan_version=plan.version, plan_in_force=plan.in_force,
                      notice_period=plan.notice_period, parties=plan_parties(plan)),
        rules_by_kind={k: tuple(v) for k, v in by_kind.items()},
    )


# --- Consent across plan versions ---------------------------------------------------------


def consent_terms(plan: TransferPlan, rule: FieldRule | None) -> ConsentTerms | None:
    """What ``plan``'s consent notice says of ``rule``'s field (None: the field is not in
    the plan)."""
    if rule is None:
        return None
    return ConsentTerms(
        provider=plan.from_operator_id, controller=plan.controller_id,
        recipient=plan.to_operator_id, purpose=plan.purpose, retention=plan.retention,
        basis=rule.basis, required=rule.required and rule.basis == FieldRule.Basis.CONSENT)


def _lineage_terms(plan: TransferPlan) -> dict[int, dict[str, ConsentTerms]]:
    """Version -> field key -> its consent terms, for ``plan`` and every older version."""
    versions = {p.pk: p for p in TransferPlan.objects.filter(lineage=plan.lineage,
                                                             version__lte=plan.version)}
    terms: dict[int, dict[str, ConsentTerms]] = {p.version: {} for p in versions.values()}
    for rule in (FieldRule.objects.filter(plan_id__in=list(versions))
                 .select_related("field").only("plan_id", "basis", "required", "field__key")):
        version = versions[rule.plan_id]
        terms[version.version][rule.field.key] = consent_terms(version, rule)
    return terms


def plan_consent_kept(plan: TransferPlan) -> dict[str, frozenset[int]]:
    """Field key -> the older versions of the plan whose consent still counts for that field
    under ``plan``: their notice said the same of it (`policy.consent_terms_kept`)."""
    if plan.previous_id is None:
        return {}
    terms = _lineage_terms(plan)
    kept: dict[str, frozenset[int]] = {}
    for key, new in terms.get(plan.version, {}).items():
        versions = frozenset(v for v, old in terms.items()
                             if v < plan.version and consent_terms_kept(old.get(key), new))
        if versions:
            kept[key] = versions
    return kept


@dataclass(frozen=True)
class ConsentCarry:
    """Whether consent given to a plan's previous version still counts for one field."""

    field_key: str
    label: str
    kept: bool
    changed: tuple[str, ...]  # the terms that differ (names of `ConsentTerms` attributes)
    was_consent: bool = True  # a consent item of the previous version
    is_consent: bool = True  # a consent item of this version

    @property
    def outcome(self) -> str:
        """What the officer approving this version is told: kept, void and to be asked
        again, no longer a consent item (the field moves, or not, on this version's basis),
        or a new consent item that nobody has been asked yet."""
        if self.kept:
            return "kept"
        if not self.is_consent:
            return "no_longer_consent"
        if not self.was_consent:
            return "new_consent"
        return "void"

    @property
    def changed_labels(self) -> list[str]:
        return [TERM_LABELS.get(name, name) for name in self.changed]


TERM_LABELS = {
    "provider": "제공하는 자", "controller": "개인정보처리자", "recipient": "제공받는 자",
    "purpose": "이용 목적", "retention": "보유·이용 기간", "basis": "동의 항목 여부",
    "required": "필수·선택 (거부 시 불이익)",
}


def plan_consent_carry(plan: TransferPlan) -> list[ConsentCarry]:
    """For each consent field of ``plan`` or of its previous version: whether consent given
    to the previous version keeps counting under ``plan`` (nothing its notice said of the
    field changed) or is void, and which terms changed. Empty for a first version."""
    previous = plan.previous
    if previous is None:
        return []
    terms = _lineage_terms(plan)
    old_terms, new_terms = terms.get(previous.version, {}), terms.get(plan.version, {})
    labels = dict(Field.objects.filter(key__in=set(old_terms) | set(new_terms))
                  .values_list("key", "label_ko"))
    rows = []
    for key in sorted(set(old_terms) | set(new_terms)):
        old, new = old_terms.get(key), new_terms.get(key)
        if all(t is None or t.basis != FieldRule.Basis.CONSENT for t in (old, new)):
            continue
        if old is None or new is None:
            changed: tuple[str, ...] = ("basis",)
        else:
            changed = tuple(name for name in TERM_LABELS
                            if getattr(old, name) != getattr(new, name))
        consent = FieldRule.Basis.CONSENT
        rows.append(ConsentCarry(key, labels.get(key, key), consent_terms_kept(old, new),
                                 changed, was_consent=old is not None and old.basis == consent,
                                 is_consent=new is not None and new.basis == consent))
    return rows


# --- Role fit, per field, before approval --------------------------------------------------


@dataclass(frozen=True)
class RoleCheck:
    field_key: str
    label: str
    basis: str
    controller: str  # the field's controller as the catalogue records it ("" if none)
    fits: bool
    ground: str = ""  # why that operator controls it (the ownership row's ground)

    @property
    def basis_label(self) -> str:
        """"entrustment_return" -> "위탁 반환 (PIPA Art. 26)", as the rules' table says it."""
        try:
            return FieldRule.Basis(self.basis).label
        except ValueError:
            return self.basis


def plan_role_checks(plan: TransferPlan) -> list[RoleCheck]:
    """Per field of the plan: whether its basis fits who controls the field
    (`policy.role_fits`); a misfit is refused with `denied_role_mismatch`."""
    rules = plan_rules(plan)
    owners = field_current_owners(r.field_id for r in rules)
    names = dict(Operator.objects.filter(
        pk__in={c for c, _ in owners.values() if c is not None}).values_list("pk", "name"))
    grounds = dict(FieldOwnership.objects.filter(
        field_id__in=list(owners), role=Operator.Role.CONTROLLER, until__isnull=True)
        .order_by("since", "id").values_list("field_id", "ground"))
    parties = plan_parties(plan)
    checks = []
    for rule in rules:
        controller, processor = owners[rule.field_id]
        ownership = Ownership(controller=controller, processor=processor)
        checks.append(RoleCheck(rule.field.key, rule.field.label_ko, rule.basis,
                                names.get(controller, ""),
                                role_fits(rule.basis, ownership, parties),
                                grounds.get(rule.field_id, "")))
    return checks


class OlderAnswer(NamedTuple):
    """A subject's answer to the newest older version of the plan it answered."""

    version: int
    objected: bool  # to any older version
    granted_json: str | None
    declined_json: str | None
    withdrawn_at: datetime | None
    expires_at: datetime | None


def _older_answers(plan: TransferPlan, *, whole: bool) -> dict[int, OlderAnswer]:
    """subject id -> its answer to the newest older version it answered, and whether it
    objected to any older version. ``whole``: with what that answer granted and declined and
    when it was withdrawn or expires (read only when some field keeps older consents)."""
    answers: dict[int, OlderAnswer] = {}
    columns = ["subject_id", "plan__version", "objected"]
    rows = (SubjectConsentState.objects
            .filter(plan__lineage=plan.lineage, plan__version__lt=plan.version)
            .order_by("plan__version"))
    if whole:
        rows = rows.annotate(granted_json=Cast("fields_granted", TextField()),
                             declined_json=Cast("fields_declined", TextField()))
        columns += ["granted_json", "declined_json", "withdrawn_at", "expires_at"]
    for subject_id, version, objected, *state in rows.values_list(*columns).iterator(
            chunk_size=10_000):
        seen = answers.get(subject_id)
        objected = bool(objected) or (seen is not None and seen.objected)
        answers[subject_id] = OlderAnswer(version, objected, *(state or (None,) * 4))
    return answers


# The granted/declined lists are read as their JSON text: decisions are memoised on that text,
# so a list is decoded once per distinct answer instead of once per subject.
_SUBJECT_COLUMNS = ("id", "public_id", "kind", "external_id", "cs__id", "granted_json",
                    "declined_json", "cs__objected", "cs__withdrawn_at", "cs__expires_at",
                    "cs__early_requested_at", "notified_at")


def _subject_rows(plan: TransferPlan, kinds: Iterable[str], subject_ids, chunk_size: int,
                  answered_only: bool):
    kinds = list(kinds)
    if answered_only:
        subject_ids = _answered_subject_ids(plan)
        # Few, large chunks, each streamed: one query per 50,000 answered subjects.
        chunk_size = max(chunk_size, 50_000)
    elif subject_ids is None:
        yield from streamed(_rows_query(plan, kinds), chunk_size)
        return
    else:
        subject_ids = sorted(set(subject_ids))
    # Ascending ids, a chunk at a time: each chunk's rows come in id order after the last's.
    ids = iter(subject_ids)
    while chunk := list(itertools.islice(ids, chunk_size)):
        yield from streamed(_rows_query(plan, kinds, within=(chunk[0], chunk[-1])).filter(
            id__in=_id_list(chunk)), 5000)


def _rows_query(plan: TransferPlan, kinds: list[str], within: tuple[int, int] | None = None):
    """The subjects of ``kinds`` joined with their consent state for the plan and their
    notice for its lineage. ``within``: only subject ids in that range (the caller filters
    them further), with the consent states read along their subject index for that range and
    each subject's notice probed by its (lineage, subject) key, instead of hashing or merging
    the whole plan's two million notices for every chunk of a few thousand subjects."""
    states = Q(consent_states__plan_id=plan.pk)
    if within is None:
        notified_at = F("nt__notified_at")
    else:
        first, last = within
        states &= Q(consent_states__subject_id__gte=first, consent_states__subject_id__lte=last)
        notified_at = Subquery(SubjectNotice.objects.filter(
            lineage=plan.lineage, subject_id=OuterRef("id")).values("notified_at")[:1])
    rows = DataSubject.objects.filter(source_operator_id=plan.from_operator_id,
                                      kind__in=kinds)
    if within is None:
        rows = rows.annotate(nt=FilteredRelation("notices",
                                                 condition=Q(notices__lineage=plan.lineage)))
    return (rows.annotate(cs=FilteredRelation("consent_states", condition=states))
            .annotate(granted_json=Cast("cs__fields_granted", TextField()),
                      declined_json=Cast("cs__fields_declined", TextField()),
                      notified_at=notified_at)
            .order_by("id").values_list(*_SUBJECT_COLUMNS))


def _id_list(ids: list[int]):
    """``ids`` for an ``id__in`` filter: on PostgreSQL one array parameter instead of one
    parameter per id (Django and psycopg spend a few microseconds on each of thousands)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return ids


def _answered_subject_ids(plan: TransferPlan) -> Iterator[int]:
    """The ids of the subjects with a consent state for some version of the plan, ascending,
    each once, streamed: looked up from those rows, not by scanning every subject."""
    return (SubjectConsentState.objects.filter(plan__lineage=plan.lineage)
            .order_by("subject_id").values_list("subject_id", flat=True).distinct()
            .iterator(chunk_size=10_000))


def plan_decisions(plan: TransferPlan, *, now: datetime, subject_ids: Iterable[int] | None = None,
                   chunk_size: int = 5000, answered_only: bool = False
                   ) -> Iterator[tuple[SubjectRef, Mapping[str, Decision]]]:
    """For every subject of the plan's outgoing operator (or only ``subject_ids``), yield
    ``(SubjectRef, {field_key: Decision})`` for the fields of that subject's kind, in subject
    id order.

    ``answered_only``: only the subjects with a consent state for some version of the plan;
    every other subject's decisions are those of its notice stage (`plan_notice_stages`) or
    `plan_default_decisions` for its kind.
    The decision mappings are shared between subjects with the same inputs: read-only.
    """
    inputs = plan_inputs(plan)
    if not inputs.rules_by_kind:
        return
    # Older answers are read whole only where some field keeps the consent given to an
    # older version (nothing its notice said of the field changed).
    keeps = any(rule.consent_kept_from for rules in inputs.rules_by_kind.values()
                for rule, _ in rules)
    older = _older_answers(plan, whole=keeps)
    cache: dict[tuple, Mapping[str, Decision]] = {}
    timing = inputs.timing
    for (sid, public_id, kind, external_id, cs_id, granted, declined, objected, withdrawn_at,
         expires_at, early_at, notified_at) in _subject_rows(
            plan, inputs.rules_by_kind, subject_ids, chunk_size, answered_only):
        old = older.get(sid)
        early, earlier = False, None
        if cs_id is not None:
            version = timing.plan_version
            is_objected = bool(objected) or (old is not None and old.objected)
            early = early_at is not None and early_at <= now
            if keeps and old is not None:
                earlier = (old.version, old.granted_json, old.declined_json,
                           old.withdrawn_at is not None and old.withdrawn_at <= now,
                           old.expires_at is not None and now >= old.expires_at)
        elif old is not None:
            version, is_objected = old.version, old.objected
            granted, declined = old.granted_json, old.declined_json
            withdrawn_at, expires_at = old.withdrawn_at, old.expires_at
        else:
            version, is_objected = None, False
            granted = declined = withdrawn_at = expires_at = None
        withdrawn = withdrawn_at is not None and withdrawn_at <= now
        expired = expires_at is not None and now >= expires_at
        notified = Notified(notified_at) if notified_at is not None else NOT_NOTIFIED
        # The policy reads `notified` only through its stage (policy.notice_stage).
        key = (kind, version, granted, declined, is_objected, withdrawn, expired, early,
               notice_stage(notified, timing, now), earlier)
        decisions = cache.get(key)
        if decisions is None:
            consent = Consent(plan_version=version, granted=_key_set(granted),
                              declined=_key_set(declined), objected=is_objected,
                              withdrawn=withdrawn, expires_at=now if expired else None,
                              early_requested=early, earlier=_earlier(earlier, now))
            decisions = cache[key] = _decided(inputs, kind, consent, notified, now)
        yield SubjectRef(sid, public_id, kind, external_id), decisions


def _earlier(state: tuple | None, now: datetime) -> Consent | None:
    """The older answer `plan_decisions` keeps beside this version's, as the policy reads it."""
    if state is None:
        return None
    version, granted, declined, withdrawn, expired = state
    return Consent(plan_version=version, granted=_key_set(granted),
                   declined=_key_set(declined), withdrawn=withdrawn,
                   expires_at=now if expired else None)


def _decided(inputs: PlanInputs, kind: str, consent: Consent, notified: Notified,
             now: datetime) -> Mapping[str, Decision]:
    return MappingProxyType({
        rule.field_key: decide(rule, ownership, consent, notified, inputs.timing, now)
        for rule, ownership in inputs.rules_by_kind[kind]})


def plan_default_decisions(plan: TransferPlan, *, now: datetime
                           ) -> dict[str, Mapping[str, Decision]]:
    """Subject kind -> the decisions for a subject of that kind who has answered no version of
    the plan and whom no notice is known to have reached: what `plan_decisions` yields for
    each of them."""
    inputs = plan_inputs(plan)
    return {kind: _decided(inputs, kind, NO_ANSWER, NOT_NOTIFIED, now)
            for kind in inputs.rules_by_kind}


@dataclass(frozen=True)
class NoticeStages:
    """Which subjects the plan's Art. 27 notice reached by ``now``, per notice stage (their
    ids ascending, 8 bytes each), and the decisions a subject of each kind who has answered
    no version of the plan gets at each stage: what `plan_decisions` yields for such a
    subject, without a row per subject. A bulk release decides the subjects who answered from
    their own rows (`plan_decisions(answered_only=True)`) and looks everyone else up here:
    the ids include the subjects who answered, so look those up there first. Reading a row
    for each of two million notified users cost more than the rest of a release's work for
    them."""

    in_period: Mapping[str, Mapping[str, Decision]]
    elapsed: Mapping[str, Mapping[str, Decision]]
    in_period_ids: array
    elapsed_ids: array

    def between(self, kind: str, first: int, last: int) -> dict[int, Mapping[str, Decision]]:
        """Subject id -> the decisions of an unanswered subject of ``kind`` at its stage, for
        the reached subjects with ids from ``first`` to ``last`` (the caller knows the kind
        of the records it holds)."""
        found: dict[int, Mapping[str, Decision]] = {}
        for ids, decided in ((self.in_period_ids, self.in_period),
                             (self.elapsed_ids, self.elapsed)):
            lo, hi = bisect.bisect_left(ids, first), bisect.bisect_right(ids, last)
            if lo < hi and kind in decided:
                found.update(dict.fromkeys(ids[lo:hi], decided[kind]))
        return found


_TICK = timedelta(microseconds=1)  # the resolution of both datetime and PostgreSQL


def _notice_cut(timing: Timing, now: datetime) -> datetime:
    """The latest notice time whose period has run by ``now``: notices up to it are
    `ELAPSED`, later ones up to ``now`` `IN_PERIOD`, later still `NOT_NOTIFIED`.
    `policy.notice_stage` is monotone in the notice time; checking it at both edges, to the
    microsecond, keeps this bucketing from ever drifting from the policy."""
    cut = now - timing.notice_period
    edges = [(cut, NoticeStage.ELAPSED), (now + _TICK, NoticeStage.NOT_NOTIFIED)]
    if timing.notice_period > timedelta(0):
        edges += [(cut + _TICK, NoticeStage.IN_PERIOD), (now, NoticeStage.IN_PERIOD)]
    for at, stage in edges:
        if notice_stage(Notified(at), timing, now) is not stage:
            raise RuntimeError("policy.notice_stage no longer cuts where "
                               "governance.selectors.plan_notice_stages does")
    return cut


def plan_notice_stages(plan: TransferPlan, *, now: datetime) -> NoticeStages:
    """Who the plan's notice reached by ``now``, per stage (see `NoticeStages`)."""
    inputs = plan_inputs(plan)
    cut = _notice_cut(inputs.timing, now)
    reached = SubjectNotice.objects.filter(lineage=plan.lineage)
    return NoticeStages(
        in_period={kind: _decided(inputs, kind, NO_ANSWER, Notified(now), now)
                   for kind in inputs.rules_by_kind},
        elapsed={kind: _decided(inputs, kind, NO_ANSWER, Notified(cut), now)
                 for kind in inputs.rules_by_kind},
        in_period_ids=_ascending_subject_ids(reached.filter(notified_at__gt=cut,
                                                            notified_at__lte=now)),
        elapsed_ids=_ascending_subject_ids(reached.filter(notified_at__lte=cut)))


# Subject ids per packed query: a few megabytes at a time, never one buffer per plan.
_IDS_PER_QUERY = 500_000


def _ascending_subject_ids(notices: QuerySet[SubjectNotice]) -> array:
    """The subject ids of ``notices``, ascending, as 8-byte integers. On PostgreSQL the
    database sorts and packs them into a bytea (int8send: big-endian) per range of subject
    ids: a row per id through a cursor, or a COPY parsed in Python, cost about a microsecond
    of Python each."""
    ids = array("q")
    ordered = notices.order_by("subject_id").values_list("subject_id", flat=True)
    if connection.vendor != "postgresql":
        ids.extend(ordered.iterator(chunk_size=10_000))
        return ids
    first, last = ordered.first(), ordered.last()
    if first is None:
        return ids
    for start in range(first, last + 1, _IDS_PER_QUERY):
        sql, params = (notices.filter(subject_id__gte=start,
                                      subject_id__lt=start + _IDS_PER_QUERY)
                       .order_by().values_list("subject_id").query.sql_with_params())
        with connection.cursor() as cursor:
            cursor.execute("SELECT string_agg(int8send(n.subject_id), ''::bytea "  # noqa: S608
                           f"ORDER BY n.subject_id) FROM ({sql}) n", params)
            packed = cursor.fetchone()[0]
        if packed:
            part = array("q", bytes(packed))
            if sys.byteorder == "little":
                part.byteswap()
            ids.extend(part)
    return ids


def _key_set(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    value = json.loads(raw)
    return frozenset(value) if isinstance(value, list) else frozenset()


@dataclass
class FieldSummary:
    field_key: str
    label: str
    subject_kind: str
    basis: str
    disputed: bool
    counts: Counter

    @property
    def allowed(self) -> int:
        return sum(n for r, n in self.counts.items() if Reason(r).allowed)

    @property
    def waiting(self) -> int:
        return sum(n for r, n in self.counts.items() if not Reason(r).allowed)

    def waiting_by_reason(self) -> list[tuple[Reason, int]]:
        return sorted(((Reason(r), n) for r, n in self.counts.items() if not Reason(r).allowed),
                      key=lambda item: -item[1])


def plan_decision_summary(plan: TransferPlan, *, now: datetime) -> list[FieldSummary]:
    """Per field of the plan: how many subjects may move now, how many wait and why.

    Counts decisions per input shape first, so the per-field tally is done once per shape
    instead of once per subject.
    """
    shapes: Counter = Counter()
    by_id: dict[int, Mapping[str, Decision]] = {}
    for _subject, decisions in plan_decisions(plan, now=now):
        shapes[id(decisions)] += 1
        by_id[id(decisions)] = decisions
    disputed = field_disputed_ids()
    summaries = {
        rule.field.key: FieldSummary(rule.field.key, rule.field.label_ko, rule.field.subject_kind,
                                     rule.basis, rule.field_id in disputed, Counter())
        for rule in plan_rules(plan)}
    for shape_id, n in shapes.items():
        for field_key, decision in by_id[shape_id].items():
            summaries[field_key].counts[decision.reason.value] += n
    return list(summaries.values())


# --- The public privacy page ----------------------------------------------------------------


def privacy_page_current(*, max_age: float = 0):
    """The privacy page as it stands now: ``PrivacyPageRef(url, permalink, version,
    text_hash)`` (governance.privacy), for receipts to name the page they were issued
    under. Stores the next version when the plans or the catalogue changed what it says.

    Rendering it costs five queries and about 11 ms; ``max_age`` > 0 lets a caller that
    issues many receipts reuse this process's answer for that many seconds (as
    `consent.notices.notice_current` does), at the price of naming the previous version for
    up to that long after a plan or the catalogue changed."""
    from governance.privacy import privacy_page_ref, privacy_policy_current

    cached = _PRIVACY_PAGE.get("ref")
    if max_age > 0 and cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    ref = privacy_page_ref(privacy_policy_current())
    _PRIVACY_PAGE["ref"] = (time.monotonic(), ref)
    return ref


# Process-local: the last answer of privacy_page_current and when it was rendered.
_PRIVACY_PAGE: dict = {}
