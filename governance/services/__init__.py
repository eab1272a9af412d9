"""Writes of the governance app. Every service records its audit event in its transaction."""

from governance.services.catalogue import (
    catalogue_object_delete,
    catalogue_object_save,
    operator_key_register,
)
from governance.services.common import (
    GovernanceError,
    InvalidTransition,
    PlanFrozen,
    TwoPersonRuleViolation,
)
from governance.services.consent_states import (
    consent_state_answer,
    consent_state_early_request,
    consent_state_early_withdraw,
    consent_state_object,
    consent_state_withdraw,
    subject_consent_state_set,
)
from governance.services.notices import (
    Evidence,
    notice_evidence_record,
    subject_notified_at,
)
from governance.services.ownership import (
    dispute_open,
    dispute_refer,
    dispute_withdraw,
    ownership_set,
    ruling_record,
)
from governance.services.plans import (
    plan_activate,
    plan_approve,
    plan_cancel,
    plan_complete,
    plan_create,
    plan_new_version,
    plan_reject,
    plan_rule_remove,
    plan_rule_set,
    plan_submit,
    plan_update,
)
from governance.services.register import (
    ReleaseRegistered,
    provision_record,
    release_register,
)
from governance.services.subjects import (
    SubjectsUpsertResult,
    subjects_upsert,
)

__all__ = [
    "Evidence", "notice_evidence_record", "subject_notified_at",
    "GovernanceError", "InvalidTransition", "PlanFrozen", "SubjectsUpsertResult",
    "TwoPersonRuleViolation", "catalogue_object_delete", "catalogue_object_save",
    "dispute_open", "dispute_refer", "dispute_withdraw", "operator_key_register",
    "ownership_set", "plan_activate", "plan_approve", "plan_cancel", "plan_complete",
    "plan_create", "plan_new_version", "plan_reject", "plan_rule_remove", "plan_rule_set",
    "plan_submit", "plan_update", "provision_record", "release_register",
    "ReleaseRegistered", "ruling_record",
    "subjects_upsert",
    "consent_state_answer", "consent_state_early_request", "consent_state_early_withdraw",
    "consent_state_object", "consent_state_withdraw", "subject_consent_state_set",
]
