"""Load the demo data: each app's `demo.load()` in layer order, idempotently."""

from importlib import import_module

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Load demo data (the Seoul scenario). Safe to run again: nothing is duplicated."

    def handle(self, *args, **options) -> None:
        for app_config in apps.get_app_configs():  # INSTALLED_APPS order = layer order
            loader = _demo_module(app_config.name)
            if loader is None:
                continue
            with transaction.atomic():
                summary = loader.load(stdout=self.stdout)
            self.stdout.write(f"{app_config.label}: {summary or 'ready'}")


def _demo_module(app_name: str):
    try:
        return import_module(f"{app_name}.demo")
    except ModuleNotFoundError as exc:
        if exc.name == f"{app_name}.demo":
            return None
        raise
