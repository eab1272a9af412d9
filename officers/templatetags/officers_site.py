"""The officers' site's names for pages rendered outside an admin view (axes' lock-out page
is rendered by axes, without the admin's context)."""

from django import template
from django.contrib import admin

register = template.Library()


@register.simple_tag
def officers_site_header() -> str:
    return admin.site.site_header


@register.simple_tag
def officers_site_title() -> str:
    return admin.site.site_title
