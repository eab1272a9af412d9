from django import template

register = template.Library()


@register.filter
def won(value) -> str:
    """12345678 -> "12,345,678" (no locale lookup: amounts are always won)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "-"


# Reports name roles, metrics and kinds of difference in Korean, as the admin pages do.
DIFFERENCE_KINDS = {"differs": "금액 다름", "only_accepted": "수락 레코드에만",
                    "only_listed": "목록에만"}


@register.filter
def party_label(role) -> str:
    """"subcontractor" -> "이전 운영사의 재수탁자 (subcontractor)"."""
    from settlement.models import PartyRole

    try:
        return PartyRole(role).label
    except ValueError:
        return str(role)


@register.filter
def metric_label(metric) -> str:
    from settlement.selectors import METRIC_LABELS

    return METRIC_LABELS.get(metric, metric)


@register.filter
def difference_kind(kind) -> str:
    return DIFFERENCE_KINDS.get(kind, kind)
