from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "정산 (settlement: refunds and the disposition of every won)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A refunded user (or one whose refund is open) never moves, whatever the policy says
        # of its fields: the release path asks this app which subjects to withhold.
        from settlement.selectors import refund_withheld_subject_ids
        from transfers.services.release_lines import RELEASE_WITHHOLD

        if refund_withheld_subject_ids not in RELEASE_WITHHOLD:
            RELEASE_WITHHOLD.append(refund_withheld_subject_ids)
        # The co-signed settlement statements travel in the commission's audit bundle.
        from audit.export import BUNDLE_ATTACHMENTS
        from settlement.bundle import statement_bundle_files

        if statement_bundle_files not in BUNDLE_ATTACHMENTS:
            BUNDLE_ATTACHMENTS.append(statement_bundle_files)
