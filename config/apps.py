from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConfigAppConfig(AppConfig):
    """The project itself: start-up checks, staff roles, /healthz and the `demo` command."""

    name = "config"
    label = "project"
    verbose_name = "Consent broker"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(_refresh_roles, dispatch_uid="refresh_role_groups")


def _refresh_roles(sender, **kwargs) -> None:
    from config.roles import ensure_role_groups

    ensure_role_groups()
