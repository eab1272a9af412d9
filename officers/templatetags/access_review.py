"""The dashboard's card: the last monthly access review and whether one is overdue."""

from django import template

from officers.review import review_status

register = template.Library()


@register.inclusion_tag("officers/review_card.html")
def access_review_card():
    return {"status": review_status()}
