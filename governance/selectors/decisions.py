"""The policy decisions for a whole plan (`plan_decisions`), and their summary per field.

`plan_decisions` builds the policy inputs for hundreds of thousands of subjects with a
handful of queries: the plan's rules and the unsettled disputes once, the answers given to
older versions of the plan once, then one server-side cursor over the subjects joined with
their consent state for this version and their notice evidence for the plan's lineage.
Decisions are memoised per input shape (subject kind × consent state × notice stage), since a
whole plan has only a few hundred distinct shapes.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery, TextField
from django.db.models.functions import Cast

from governance.bulk import id_in, streamed
from governance.models import DataSubject, SubjectConsentState, SubjectNotice, TransferPlan
from governance.policy import (
    NO_ANSWER,
    NOT_NOTIFIED,
    Consent,
    Decision,
    Notified,
    Ownership,
    Reason,
    Rule,
    Timing,
    decide,
    notice_stage,
)
from governance.selectors.consent_carry import plan_consent_kept
from governance.selectors.plans import (
    field_current_owners,
    field_disputed_ids,
    plan_parties,
    plan_rules,
)
from governance.selectors.withheld import plan_withheld

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
            id__in=id_in(chunk)), 5000)


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


def _key_set(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    value = json.loads(raw)
    return frozenset(value) if isinstance(value, list) else frozenset()


@dataclass
class FieldSummary:
    """One field of a plan: its subjects' decisions counted by reason, and apart from them
    the subjects of its kind who never move whatever the policy says (`withheld`: by why)."""

    field_key: str
    label: str
    subject_kind: str
    basis: str
    disputed: bool
    counts: Counter
    withheld: Counter = field(default_factory=Counter)

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
    """Per field of the plan: how many subjects may move now, how many wait and why, and how
    many never move whatever the policy says (`governance.selectors.withheld`).

    Counts decisions per input shape first, so the per-field tally is done once per shape
    instead of once per subject.
    """
    withheld = plan_withheld(plan)
    shapes: Counter = Counter()
    withheld_kinds: Counter = Counter()  # (kind, why) -> subjects
    by_id: dict[int, Mapping[str, Decision]] = {}
    for subject, decisions in plan_decisions(plan, now=now):
        if subject.id in withheld:
            withheld_kinds[subject.kind, withheld[subject.id]] += 1
            continue
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
    for summary in summaries.values():
        for (kind, why), n in withheld_kinds.items():
            if kind == summary.subject_kind:
                summary.withheld[why] += n
    return list(summaries.values())
