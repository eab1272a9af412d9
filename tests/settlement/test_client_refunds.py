"""The reference client's `refunds`: the outgoing operator lists what it owes and confirms it,
signed, against a live server."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from settlement.models import RefundCase
from tests.settlement.conftest import refund_for
from tests.transfers.test_client import _files
from transfers import client as reference

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_client_lists_the_refunds_owed_and_confirms_them_signed(
        live_server, tmp_path, approved_plan, users, outgoing_operator, capsys):
    cases = [refund_for(approved_plan, u) for u in users[:2]]
    creds, keys = _files(tmp_path, outgoing_operator)
    args = ["--base-url", live_server.url, "--credentials", creds, "--keys", keys,
            "--plan", str(approved_plan.pk)]

    assert reference.main(args + ["refunds"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    done = tmp_path / "refunded.ndjson"
    done.write_text("".join(json.dumps({
        "case": case["id"], "amount": case["amount"], "refunded_at": timezone.now().isoformat(),
        "reference": f"KEPF-RF-{n}"}) + "\n" for n, case in enumerate(listed)))
    assert reference.main(args + ["refunds", "--confirm", str(done)]) == 0

    assert sorted(c["id"] for c in listed) == sorted(str(c.public_id) for c in cases)
    assert json.loads(capsys.readouterr().out) == {"plan": approved_plan.pk, "confirmed": 2,
                                                   "won": 3_000}
    assert set(RefundCase.objects.values_list("status", flat=True)) == {"refunded"}


def test_the_client_reports_a_refused_amount_and_stops(
        live_server, tmp_path, approved_plan, users, outgoing_operator, capsys):
    case = refund_for(approved_plan, users[0])
    creds, keys = _files(tmp_path, outgoing_operator)
    done = tmp_path / "refunded.ndjson"
    done.write_text(json.dumps({"case": str(case.public_id), "amount": case.amount + 10,
                                "refunded_at": timezone.now().isoformat(),
                                "reference": "KEPF-RF-9"}) + "\n")

    status = reference.main(["--base-url", live_server.url, "--credentials", creds,
                             "--keys", keys, "refunds", "--confirm", str(done)])

    assert status == 2 and "wrong_amount" in capsys.readouterr().err
    case.refresh_from_db()
    assert case.status == "requested"
