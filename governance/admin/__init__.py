"""The privacy officers' admin: every change goes through a service, so it is audited and the
rules (two-person approval, frozen plans, settled disputes) hold here exactly as in code.

One module per part of the admin; importing them registers their `ModelAdmin` classes.
"""

from governance.admin import (  # noqa: F401 (registers the admins)
    catalogue,
    operators,
    plans,
    registers,
    subjects,
)
from governance.admin.audited import AuditedAdmin
from governance.admin.plans import plan_review_context

__all__ = ["AuditedAdmin", "plan_review_context"]
