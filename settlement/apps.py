from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "정산 (settlement: refunds and the disposition of every won)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A refunded user (or one whose refund is open) never moves, whatever the policy says
        # of its fields: the release path and the plan's summary ask this app who they are.
        from governance.selectors import withholding_register
        from settlement.selectors import refund_withheld_subject_ids

        withholding_register(reason="환불 (refunded instead of moved)",
                             subject_ids=refund_withheld_subject_ids)
        # The co-signed settlement statements travel in the commission's audit bundle.
        from audit.export import BUNDLE_ATTACHMENTS
        from settlement.bundle import statement_bundle_files

        if statement_bundle_files not in BUNDLE_ATTACHMENTS:
            BUNDLE_ATTACHMENTS.append(statement_bundle_files)
