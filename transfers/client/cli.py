"""Reference client for the operators: the incoming operator pulls, verifies, decrypts and
acknowledges a release; the outgoing operator attests the notices it sent itself.

    python -m transfers.client --base-url http://127.0.0.1:8000 \\
        --credentials var/operator-clients/SHINHAN.json \\
        --keys var/demo-operator-keys/SHINHAN.json pull --out /tmp/release

It needs only the standard library and `cryptography` (no Django), so an operator can copy it.
Steps: get a client-credentials token; find the plan where we are the recipient; take the
newest release not yet acknowledged (or ask for a new one with --new and wait for it);
download manifest.json and manifest.sig and verify the signature with the service's published
key; download each chunk, check its SHA-256 and its ``info`` (this release, this chunk, our
key), decrypt it with HPKE, count what it holds; check the counts against the manifest; write
the plain records to ``<out>/<release id>/records.ndjson`` (mode 0600); sign our own
totals with our Ed25519 key and post them as the acknowledgement. Exit status 0 only if
every check passed and the service says our totals match.

    python -m transfers.client ... deletions [--confirm]

lists the deletion requests (withdrawals after release) and, with --confirm, confirms them
after removing those subjects' fields from every ``records.ndjson`` under --out.

    python -m transfers.client ... apply-report --release ID --file failed.ndjson

reports, signed, the records of a release we loaded but could not apply, one per line:
``{"subject": public id, "reason": "qr_unknown" | "qr_duplicate" | "account_invalid" |
"phone_unreachable" | "other", "text": "..." (with other)}``; the source receives each as a
correction request and the next release carries the corrected record.

For the outgoing operator, which told its users of the move itself (in its app, by post):

    python -m transfers.client --credentials var/operator-clients/KEPF.json \
        --keys var/demo-operator-keys/KEPF.json attest --file told.ndjson

reads one JSON object per line, ``{"external_id": ..., "channel": "in_app" | "post",
"notified_at": "2026-12-01T09:00:00+09:00"}``, signs each batch (up to --batch lines) with
our Ed25519 key (``signing_private_key`` in --keys) and posts it as a notice attestation;
each batch is accepted whole or refused whole. It prints the counts.

    python -m transfers.client ... refunds [--confirm refunded.ndjson]

lists the refund cases we owe (users who objected and asked for their balance back) as NDJSON
on stdout; with --confirm, reads one object per line, ``{"case": ..., "amount": won,
"refunded_at": "2026-12-01T09:00:00+09:00", "reference": "our own reference"}``, and signs and
posts each as the refund's confirmation (a different amount is refused). It prints the counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .api import Api, ClientError, load_json, read_ndjson
from .recipient import apply_report, deletions, pull
from .source import ATTEST_BATCH, attest, refunds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transfers.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=None,
                        help="service address (default: base_url in the credentials file)")
    parser.add_argument("--credentials", required=True,
                        help="JSON with client_id and client_secret")
    parser.add_argument("--keys", required=True,
                        help="JSON with hpke_private_key and signing_private_key (base64; "
                             "attest needs only signing_private_key)")
    parser.add_argument("--plan", type=int, default=None)
    parser.add_argument("--out", default="release-out")
    commands = parser.add_subparsers(dest="command", required=True)
    pull_cmd = commands.add_parser("pull", help="pull, verify, decrypt and acknowledge")
    pull_cmd.add_argument("--new", action="store_true",
                          help="ask for a new (incremental) release instead of the newest "
                               "unacknowledged one")
    pull_cmd.add_argument("--service-key", default=None,
                          help="pin the service's Ed25519 public key (base64)")
    pull_cmd.add_argument("--wait", type=float, default=600)
    deletions_cmd = commands.add_parser("deletions", help="list (and confirm) deletions")
    deletions_cmd.add_argument("--confirm", action="store_true")
    attest_cmd = commands.add_parser("attest", help="sign and post notice attestations "
                                     "(the outgoing operator's own notices)")
    attest_cmd.add_argument("--file", required=True,
                            help="NDJSON: external_id, channel (in_app|post), notified_at")
    attest_cmd.add_argument("--batch", type=int, default=ATTEST_BATCH,
                            help=f"lines per signed attestation (default {ATTEST_BATCH})")
    refunds_cmd = commands.add_parser("refunds", help="list the refunds we owe (and confirm "
                                      "them, signed)")
    refunds_cmd.add_argument("--confirm", metavar="FILE", default=None,
                             help="NDJSON: case, amount, refunded_at, reference")
    report_cmd = commands.add_parser("apply-report", help="report, signed, the records of a "
                                     "release we could not apply (the source corrects them)")
    report_cmd.add_argument("--release", required=True, help="the release's id")
    report_cmd.add_argument("--file", required=True, help="NDJSON: subject (its public id), "
                            "reason (qr_unknown | qr_duplicate | account_invalid | "
                            "phone_unreachable | other), text (with other)")
    args = parser.parse_args(argv)
    credentials = load_json(args.credentials)
    scope = ("upload" if args.command in ("attest", "refunds")
             else "release:read release:ack")
    api = Api(args.base_url or credentials.get("base_url", "http://127.0.0.1:8000"),
              credentials["client_id"], credentials["client_secret"], scope=scope)
    try:
        api.authenticate()
        if args.command == "attest":
            attest(api, load_json(args.keys), read_ndjson(Path(args.file)),
                   plan_id=args.plan, batch_size=args.batch)
            return 0
        if args.command == "refunds":
            refunds(api, load_json(args.keys) if args.confirm else None,
                    read_ndjson(Path(args.confirm)) if args.confirm else None, plan_id=args.plan)
            return 0
        if args.command == "apply-report":
            apply_report(api, load_json(args.keys), args.release, read_ndjson(Path(args.file)))
            return 0
        if args.command == "pull":
            summary = pull(api, load_json(args.keys), Path(args.out), plan_id=args.plan,
                           new=args.new, wait_seconds=args.wait,
                           service_key_b64=args.service_key)
            return 0 if summary["counts_match_manifest"] and summary["acknowledged"] else 1
        deletions(api, Path(args.out), plan_id=args.plan, confirm=args.confirm)
        return 0
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
