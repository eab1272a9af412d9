"""The officers' dashboard card of transfers: records recipients could not apply that their
sources have not corrected yet, per reason (counts only, no subject)."""

from __future__ import annotations

from django import template

from transfers.selectors import corrections_open_by_reason

register = template.Library()


@register.inclusion_tag("transfers/corrections_card.html")
def corrections_card():
    by_reason = corrections_open_by_reason()
    return {"by_reason": by_reason, "total": sum(n for _code, _label, n in by_reason)}
