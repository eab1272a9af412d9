"""Django's admin app with the officers' site as `admin.site` (listed in INSTALLED_APPS
instead of django.contrib.admin)."""

from django.contrib.admin.apps import AdminConfig


class OfficerAdminConfig(AdminConfig):
    """Every app's `@admin.register` lands on the officers' site: a second factor required."""

    default_site = "officers.sites.OfficerAdminSite"
