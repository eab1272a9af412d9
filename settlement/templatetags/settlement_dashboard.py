"""The dashboard's refund card: open refund cases, the won owed and the oldest case's age
(aggregates only; no subject is named)."""

from django import template
from django.utils import timezone

from settlement.models import RefundCase

register = template.Library()

# An open case older than this is shown as an alert (the operator should have refunded it).
OVERDUE_DAYS = 7


@register.inclusion_tag("settlement/_dashboard_refunds.html")
def refund_card() -> dict:
    open_cases = RefundCase.objects.filter(status=RefundCase.Status.REQUESTED)
    amounts = list(open_cases.values_list("amount", "requested_at"))
    oldest = min((at for _a, at in amounts), default=None)
    age_days = (timezone.now() - oldest).days if oldest else None
    return {"count": len(amounts), "won": sum(a for a, _at in amounts), "age_days": age_days,
            "overdue": age_days is not None and age_days >= OVERDUE_DAYS}
