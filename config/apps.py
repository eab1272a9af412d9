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
        _register_tasks()


def _register_tasks() -> None:
    """Import every app's ``tasks`` module now, in every process, not only in a worker.

    Celery's ``autodiscover_tasks`` waits for a worker to start; `core.tasks.enqueue_on_commit`
    queues a task by its name from a web process or a shell too, and a name whose module
    nothing has imported yet is not registered (``NotRegistered``).
    """
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")


def _refresh_roles(sender, **kwargs) -> None:
    from config.roles import ensure_role_groups

    ensure_role_groups()
