"""The data map: operators and their keys, data subjects, the field catalogue, ownership,
disputes and rulings, transfer plans with a legal basis per field, the per-plan-version
consent state of each subject, and the Decree Art. 15 provision register.

Business rules live in `governance.services` (writes), `governance.selectors` (reads) and
`governance.policy` (the pure decision); models only hold data and small derived properties.

One module per theme (zulip `zerver/models/`); every name is re-exported here, so import from
`governance.models` (migrations name `governance.models.new_public_id` and `EqualityIndex`).
"""

from governance.models.catalogue import Field, FieldOwnership, OwnershipDispute, Ruling
from governance.models.common import EqualityIndex, new_public_id
from governance.models.consent_states import SubjectConsentState
from governance.models.notices import NoticeChannel, NoticeEvidence, SubjectNotice
from governance.models.operators import Operator, OperatorKey
from governance.models.plans import FieldRule, TransferPlan
from governance.models.registers import EntrustmentRecord, PrivacyPolicyVersion, ProvisionRecord
from governance.models.subjects import DataSubject

__all__ = [
    "DataSubject",
    "EntrustmentRecord",
    "EqualityIndex",
    "Field",
    "FieldOwnership",
    "FieldRule",
    "NoticeChannel",
    "NoticeEvidence",
    "Operator",
    "OperatorKey",
    "OwnershipDispute",
    "PrivacyPolicyVersion",
    "ProvisionRecord",
    "Ruling",
    "SubjectConsentState",
    "SubjectNotice",
    "TransferPlan",
    "new_public_id",
]
