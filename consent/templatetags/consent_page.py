"""Template tags for pages that may render without a request context (the error pages)."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def call_centre_phone() -> str:
    return settings.CALL_CENTRE_PHONE
