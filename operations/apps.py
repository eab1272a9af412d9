from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """The top layer: the officers' dashboard, the rehearsal of a whole move and its report.

    It reads every other app and nothing imports it.
    """

    name = "operations"
    verbose_name = "운영 현황 (Operations)"
