from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "transfers"
    verbose_name = "이전 (Transfers)"

    def ready(self) -> None:
        from transfers import schema  # noqa: F401 - registers the OpenAPI auth extension
