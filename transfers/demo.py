"""The transfers part of `python manage.py demo` (safe to run again).

For the demo plan (KEPF -> Shinhan): an OAuth2 client for KEPF and for Shinhan, whose
credentials go to ``VAR_DIR/operator-clients/<CODE>.json`` (mode 0600; the database keeps only
the secret's hash); KEPF's upload of the demo subjects' records (with two rows the validation
rejects, to show the report); and a first release to Shinhan that the reference client can
pull, verify, decrypt and acknowledge:

    .venv/bin/python -m transfers.client --credentials var/operator-clients/SHINHAN.json \\
        --keys var/demo-operator-keys/SHINHAN.json pull --out var/shinhan-release
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from governance.demo import MERCHANTS, USERS
from governance.models import Operator, TransferPlan
from governance.seoul import PLAN_VALUES
from transfers import synthetic
from transfers.management.commands.operator_client import write_secret_file
from transfers.models import OperatorClient, Release, Upload
from transfers.services import (
    operator_client_create,
    release_export,
    release_request,
    upload_batch_receive,
    upload_complete,
    upload_create,
)

SYSTEM = ("system", "system:demo")


def clients_dir() -> Path:
    return settings.VAR_DIR / "operator-clients"


def load(stdout=None) -> str:
    plan = (TransferPlan.objects.filter(title=PLAN_VALUES["title"],
                                        status__in=TransferPlan.IN_FORCE)
            .order_by("-version").first())
    if plan is None:
        return "no approved demo plan: nothing to upload or release"
    for code in ("KEPF", "SHINHAN"):
        _ensure_client(Operator.objects.get(code=code))
    if not Upload.objects.filter(plan=plan).exists():
        _upload(plan)
    release = Release.objects.filter(plan=plan).order_by("number").first()
    if release is None:
        release = release_request(plan=plan, by=("operator", "operator:SHINHAN"))
    if release.status != Release.Status.READY:
        release = release_export(release_id=release.pk)
    return (f"upload of {plan.uploads.first().accepted_count} records, release "
            f"#{release.number} ({release.record_count} records); operator API credentials "
            f"in {clients_dir()}")


def _ensure_client(operator: Operator) -> None:
    path = clients_dir() / f"{operator.code}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if OperatorClient.objects.filter(application__client_id=stored.get("client_id"),
                                         active=True).exists():
            return
    new = operator_client_create(operator=operator, by=SYSTEM)
    write_secret_file(path, json.dumps({
        "operator": operator.code, "client_id": new.client_id,
        "client_secret": new.client_secret, "base_url": "http://127.0.0.1:8000"}, indent=2))


DEMO_QR_BASE = 9_000_000_000


def _rows() -> list[dict]:
    """The governance demo's subjects (same ids and phones), every field of the catalogue."""
    # QR ids of their own (a QR id belongs to one merchant, and upload refuses one already
    # held): the rehearsal's merchants take synthetic.merchant_row's from 1 up.
    rows = [synthetic.merchant_row(i) | {"external_id": f"M-{i:06d}",
                                         "merchant.qr_merchant_id": f"SQ{DEMO_QR_BASE + i:010d}"}
            for i in range(1, MERCHANTS + 1)]
    rows += [synthetic.user_row(5000 + i) | {"external_id": f"U-{i:06d}"}
             for i in range(1, USERS + 1)]
    rows.append(synthetic.merchant_row(MERCHANTS + 1) | {
        "external_id": f"M-{MERCHANTS + 1:06d}",
        "merchant.business_registration_number": "123-45-67890"})  # wrong check digit
    rows.append(synthetic.user_row(9999) | {"external_id": f"U-{USERS + 1:06d}",
                                            "user.phone": "02-120"})  # not a mobile
    return rows


def _upload(plan: TransferPlan) -> None:
    by = ("operator", "operator:KEPF")
    rows = _rows()
    valid = rows[:-2]
    declared = {"subjects": {"merchant": MERCHANTS, "user": USERS},
                "certificate_balance_sum": sum(r.get("user.certificate_balance", 0)
                                               for r in valid)}
    upload = upload_create(plan=plan, by=by, declared_totals=declared)
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    upload_batch_receive(upload=upload, batch_id="demo-0001", body=body,
                         content_type="application/x-ndjson", by=by)
    upload_complete(upload=upload, by=by)
