from django import template

register = template.Library()


@register.filter
def won(value) -> str:
    """12345678 -> "12,345,678" (no locale lookup: amounts are always won)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "-"
