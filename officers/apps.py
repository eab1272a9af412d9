from django.apps import AppConfig


class OfficersConfig(AppConfig):
    """Officers' access to personal data, as the PIPC's safeguards standard asks: the access
    log, its monthly review, the second factor's pages and the history of permissions.

    Sits between audit and governance: it writes to the audit log and knows nothing of the
    apps above it, so governance, consent and transfers can all log access through it."""

    name = "officers"
    verbose_name = "담당자 접근 관리 (Officers' access)"

    def ready(self) -> None:
        from officers import permission_history

        permission_history.connect()
