"""Consent across plan versions: what each version's consent notice says of a field, and
whether consent given to an older version still counts under a newer one."""

from __future__ import annotations

from dataclasses import dataclass

from governance.models import Field, FieldRule, TransferPlan
from governance.policy import ConsentTerms, consent_terms_kept

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
