"""Reference client for the operators (`python -m transfers.client`, usage in `cli`): the
incoming operator pulls, verifies, decrypts and acknowledges a release (`recipient`); the
outgoing operator attests the notices it sent itself and confirms refunds (`source`); `api`
holds the HTTP calls and the token.

It needs only the standard library and `cryptography` (no Django), and its modules import
each other relatively, so an operator can copy the directory as it is."""

from .api import Api, ClientError, load_json, read_ndjson
from .cli import main
from .recipient import (
    BALANCE_FIELD,
    FORMAT,
    HYBRID_SUITE,
    KEM_HYBRID,
    KEM_X25519,
    SUITE,
    apply_report,
    deletions,
    hybrid_keys_new,
    pull,
    release_key,
)
from .source import ATTEST_BATCH, attest, refunds

__all__ = [
    "ATTEST_BATCH", "BALANCE_FIELD", "FORMAT", "HYBRID_SUITE", "KEM_HYBRID", "KEM_X25519",
    "SUITE", "Api", "ClientError", "apply_report", "attest", "deletions", "hybrid_keys_new",
    "load_json", "main", "pull", "read_ndjson", "refunds", "release_key",
]
