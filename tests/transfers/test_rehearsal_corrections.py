"""The rehearsal's corrections stage (operations/rehearsal/corrections.py) against a live
server: merchants the recipient could not apply come back corrected in the next release."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from operations.rehearsal.corrections import stage_corrections
from operations.rehearsal.runner import Progress
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from tests.transfers.test_client import _files
from transfers import client as reference
from transfers import synthetic
from transfers.models import Correction

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_stage_follows_unapplied_merchants_to_corrected_and_carried(
        live_server, tmp_path, approved_plan, outgoing_operator, incoming_operator):
    upload_rows(approved_plan, list(synthetic.rows("merchant", 1, 8)))
    notified_long_ago(approved_plan)
    creds, keys = _files(tmp_path, incoming_operator)
    (tmp_path / "kepf").mkdir()
    kepf_creds, _ = _files(tmp_path / "kepf", outgoing_operator)
    shinhan, kepf = (json.loads(open(path).read()) for path in (creds, kepf_creds))
    out = tmp_path / "out"
    api = reference.Api(live_server.url, shinhan["client_id"], shinhan["client_secret"])
    summary = reference.pull(api, json.loads(open(keys).read()), out / "shinhan",
                             plan_id=approved_plan.pk, log=lambda *_: None)
    ctx = SimpleNamespace(
        plan=approved_plan, base_url=live_server.url, out=out,
        shinhan_client=(shinhan["client_id"], shinhan["client_secret"]),
        kepf_client=(kepf["client_id"], kepf["client_secret"]),
        shinhan_keys=json.loads(open(keys).read()), releases=[summary],
        progress=Progress(quiet=True), facts={})
    stage_corrections(ctx, planted=5)
    facts = ctx.facts["corrections"]
    assert (facts["reported"], facts["corrected"], facts["carried"], facts["open"]) == (
        5, 5, 5, 0)
    assert set(facts["reasons"]) == {"qr_unknown", "qr_duplicate", "account_invalid",
                                     "phone_unreachable", "other"}
    assert ctx.releases[-1]["records"] == 5 and ctx.releases[-1]["acknowledged"]
    assert set(Correction.objects.values_list("status", flat=True)) == {"carried"}
