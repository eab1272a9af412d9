"""Governance reads (selectors), one module per theme:

- `plans`: operators' current keys, plan versions and rules, who is who in a plan, the
  catalogue's ownership of its fields and whether each basis fits it.
- `subjects`: data subjects by an operator's external ids; whether a plan's notice reached one.
- `consent_carry`: whether consent given to an older plan version still counts.
- `decisions`: the policy decisions for a whole plan (`plan_decisions`) and their summary.
- `notice_stages`: who a plan's notice reached, per stage, without a row per subject.
- `privacy_page`: the public privacy page as it stands now.
- `withheld`: subjects who never move whatever the policy says (registered by other apps).

Every name is re-exported here: import from `governance.selectors`.
"""

from governance.selectors.consent_carry import (
    TERM_LABELS,
    ConsentCarry,
    consent_terms,
    plan_consent_carry,
    plan_consent_kept,
)
from governance.selectors.decisions import (
    FieldSummary,
    OlderAnswer,
    PlanInputs,
    SubjectRef,
    plan_decision_summary,
    plan_decisions,
    plan_default_decisions,
    plan_inputs,
)
from governance.selectors.notice_stages import NoticeStages, plan_notice_stages
from governance.selectors.plans import (
    PlanRoles,
    RoleCheck,
    field_current_owners,
    field_disputed_ids,
    operator_current_key,
    plan_in_force_for,
    plan_latest_version,
    plan_notice_kinds,
    plan_parties,
    plan_role_checks,
    plan_roles,
    plan_rules,
    plan_versions,
)
from governance.selectors.privacy_page import privacy_page_current
from governance.selectors.subjects import subject_notified, subjects_by_external_id, subjects_known
from governance.selectors.withheld import (
    SUBJECTS_WITHHELD,
    Withholding,
    plan_withheld,
    withholding_register,
)

__all__ = [
    "SUBJECTS_WITHHELD",
    "TERM_LABELS",
    "Withholding",
    "ConsentCarry",
    "FieldSummary",
    "NoticeStages",
    "OlderAnswer",
    "PlanInputs",
    "PlanRoles",
    "RoleCheck",
    "SubjectRef",
    "consent_terms",
    "field_current_owners",
    "field_disputed_ids",
    "operator_current_key",
    "plan_consent_carry",
    "plan_consent_kept",
    "plan_decision_summary",
    "plan_decisions",
    "plan_default_decisions",
    "plan_in_force_for",
    "plan_inputs",
    "plan_latest_version",
    "plan_notice_kinds",
    "plan_notice_stages",
    "plan_parties",
    "plan_role_checks",
    "plan_roles",
    "plan_rules",
    "plan_withheld",
    "plan_versions",
    "privacy_page_current",
    "subject_notified",
    "subjects_by_external_id",
    "subjects_known",
    "withholding_register",
]
