"""Writes of the transfers app. Every service records its audit event in its transaction."""

from transfers.services.acknowledgements import acknowledgement_receive
from transfers.services.attestations import notice_attestation_receive
from transfers.services.clients import NewClient, operator_client_create, operator_client_revoke
from transfers.services.common import (
    Conflict,
    LengthRequired,
    NotFound,
    PayloadTooLarge,
    TransferError,
    UnsupportedMediaType,
    operator_actor,
)
from transfers.services.corrections import apply_report_receive
from transfers.services.deletions import (
    deletion_confirm,
    deletion_webhooks_deliver,
    deletions_detect,
)
from transfers.services.releases import (
    release_export,
    release_fail,
    release_path,
    release_request,
    release_retry,
)
from transfers.services.uploads import (
    BatchResult,
    batch_id_check,
    upload_batch_receive,
    upload_complete,
    upload_create,
)

__all__ = [
    "BatchResult", "Conflict", "LengthRequired", "NewClient", "NotFound", "PayloadTooLarge",
    "TransferError", "UnsupportedMediaType", "acknowledgement_receive",
    "apply_report_receive", "batch_id_check", "deletion_confirm", "deletion_webhooks_deliver",
    "deletions_detect", "notice_attestation_receive",
    "operator_actor", "operator_client_create", "operator_client_revoke", "release_export",
    "release_fail", "release_path", "release_request", "release_retry",
    "upload_batch_receive", "upload_complete", "upload_create",
]
