"""`manage.py rehearse` at small scale: the story's outcomes, read from what Shinhan received.

A rehearsal takes tens of seconds, so one test runs it and checks each outcome of the story in
turn (each check is a function named for what it shows).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from operations.rehearsal.story import Options, _cast
from tests.staff import login_verified

pytestmark = pytest.mark.django_db(transaction=True)

MERCHANTS, USERS, SEED = 30, 40, 7
# A quarter of the users' LMS undeliverable, so that some are surely never reached; a rehearsal
# day long enough that release 1 comes before the LMS users' period has run, on a loaded machine.
UNDELIVERED, DAY_SECONDS = 0.25, 45
CONSENT_FIELDS = ("merchant.settlement_bank_account", "merchant.email")
# Never moved, whatever anyone answered (the incoming operator asks for marketing afresh).
PROHIBITED = ("merchant.internal_risk_score", "merchant.marketing_opt_in", "user.device_id")
DISPUTED = ("merchant.representative_name", "merchant.representative_phone")
USER_NOTICE_FIELDS = ("user.phone", "user.name", "user.certificate_balance")


def _rehearse(tmp_path):
    from operations.models import RehearsalRun

    try:
        call_command("rehearse", merchants=MERCHANTS, users=USERS, seed=SEED, out=tmp_path,
                     undelivered_share=UNDELIVERED, day_seconds=DAY_SECONDS, verbosity=0)
    except CommandError:
        pass  # the checks below say what failed
    run = RehearsalRun.objects.get()
    releases = sorted((json.loads((d / "manifest.json").read_text())["release"]["number"], d)
                      for d in (tmp_path / "shinhan").iterdir())
    run.as_of = [json.loads((d / "manifest.json").read_text())["release"]["as_of"]
                 for _, d in releases]
    records = [{r["external_id"]: r for r in map(json.loads, (d / "records.ndjson")
                                                 .read_text().splitlines())}
               for _, d in releases]
    cast = _cast(type("Ctx", (), {"options": Options(merchants=MERCHANTS, users=USERS,
                                                     seed=SEED)})())
    return run, records, cast


def _merchants(cast, *profiles):
    return [f"M-{i:07d}" for i, p in cast.merchant_profile.items() if p in profiles]


def the_rehearsal_passes_with_every_total_reconciled_and_the_audit_verified(rehearsal):
    run, _records, _cast = rehearsal

    assert run.status == run.Status.PASSED, run.summary.get("error")
    assert run.summary["reconciliation"] and all(r["match"] for r in run.summary[
        "reconciliation"])
    assert run.summary["audit"]["verified"] and run.summary["audit"]["bundle_verified"]
    assert Path(run.report_path).read_text().count("리허설 성공") == 1


def disputed_fields_wait_for_the_ruling_then_move_at_cut_over(rehearsal):
    _run, releases, _cast = rehearsal
    early, bulk = releases[:2]

    merchants_early = [r for r in early.values() if r["kind"] == "merchant"]
    assert len(merchants_early) == MERCHANTS
    assert not any(k in r["fields"] for r in merchants_early for k in DISPUTED)
    assert all(all(k in bulk[f"M-{i:07d}"]["fields"] for k in DISPUTED)
               for i in range(1, MERCHANTS + 1))


def consent_items_move_only_for_merchants_who_agreed(rehearsal):
    _run, releases, cast = rehearsal
    early, bulk = releases[:2]

    agreed = _merchants(cast, "agree_all")
    refused = _merchants(cast, "required_only", "decline", "opened_only", "never")
    kept = [m for m in agreed if int(m[2:]) not in cast.withdrawing]
    assert kept and all(all(k in bulk[m]["fields"] for k in CONSENT_FIELDS) for m in kept)
    assert not any("merchant.marketing_opt_in" in bulk[m]["fields"] for m in kept)
    for release in (early, bulk):
        assert not any("merchant.email" in release.get(m, {"fields": {}})["fields"]
                       for m in refused)


def a_merchant_who_withdrew_is_deleted_at_shinhan_and_not_sent_again(rehearsal):
    from transfers.models import DeletionNotice

    run, releases, cast = rehearsal
    early, bulk = releases[:2]

    withdrawn = [f"M-{i:07d}" for i in sorted(cast.withdrawing)]
    assert withdrawn
    for m in withdrawn:
        assert not any(k in early[m]["fields"] for k in CONSENT_FIELDS)  # deleted locally
        assert not any(k in bulk[m]["fields"] for k in CONSENT_FIELDS)
    notices = DeletionNotice.objects.filter(plan_id=run.summary["parameters"]["plan_id"])
    assert notices.count() == len(withdrawn)
    assert all(n.confirmed_at is not None for n in notices)


def objecting_users_are_not_moved_and_nothing_prohibited_ever_is(rehearsal):
    _run, releases, cast = rehearsal

    objecting = [f"U-{i:07d}" for i in cast.objecting_users]
    for release in releases:
        for u in objecting:
            assert not any(k in release.get(u, {"fields": {}})["fields"]
                           for k in USER_NOTICE_FIELDS)
        for record in release.values():
            assert not any(k in record["fields"] for k in PROHIBITED)


def users_move_on_their_own_notice_evidence_or_their_early_request(rehearsal):
    """From the database and Shinhan's files, independently of the report's own checks."""
    from datetime import datetime

    from governance.models import SubjectConsentState, SubjectNotice, TransferPlan

    run, releases, cast = rehearsal
    plan = TransferPlan.objects.get(pk=run.summary["parameters"]["plan_id"])
    notified = dict(SubjectNotice.objects.filter(lineage=plan.lineage).values_list(
        "subject__external_id", "notified_at"))
    states = SubjectConsentState.objects.filter(plan=plan, subject__kind="user")
    early = set(states.exclude(early_requested_at=None).values_list("subject__external_id",
                                                                    flat=True))
    users = [f"U-{i:07d}" for i in range(1, USERS + 1)]
    unreached = [u for u in users if u not in notified and u not in early]

    def carried(release, u):
        return any(k in release.get(u, {"fields": {}})["fields"] for k in USER_NOTICE_FIELDS)

    assert plan.rehearsal and unreached and early
    assert all(f"U-{i:07d}" in notified for i in cast.app_users)  # attested by KEPF
    assert not any(carried(r, u) for r in releases for u in unreached)
    assert all(carried(releases[0], u) for u in early)
    first_as_of = datetime.fromisoformat(run.as_of[0].replace("Z", "+00:00"))
    for u in set(users) - early:
        if carried(releases[0], u):
            assert notified[u] + plan.notice_period <= first_as_of
    waiting = [u for u in notified if u.startswith("U-") and u not in early
               and notified[u] + plan.notice_period > first_as_of]
    assert waiting, "release 1 came after every period had run: the early story is not told"
    objecting = {f"U-{i:07d}" for i in cast.objecting_users}
    assert all(carried(releases[1], u) for u in waiting if u not in objecting)
    notice = run.summary["notice"]
    channels = {c["channel"]: c["count"] for c in notice["reached_by_channel"]}
    assert channels.get("operator") == len(cast.app_users) and channels.get("lms")
    assert notice["unreached"] == len(unreached) and notice["early_requested"] == len(early)
    assert notice["passed"], [c for c in notice["checks"] if not c["ok"]]


def every_won_of_the_balance_is_accounted_for_and_the_statement_co_signed(rehearsal):
    run, releases, cast = rehearsal
    money = run.summary["money"]
    balance = money["disposition"]["balance"]

    assert money["disposition"]["clean"] and balance["unaccounted"] == 0
    assert balance["accepted"] == (balance["moved"] + balance["refunded"]
                                   + balance["refund_requested"] + sum(balance["held"].values()))
    carried = {u: r["fields"]["user.certificate_balance"] for release in releases
               for u, r in release.items() if "user.certificate_balance" in r["fields"]}
    assert balance["moved"] == sum(carried.values())  # each user's balance moves once
    # The report's field table agrees: a user with a refund case is held back, not "moved".
    field = next(f for f in run.summary["fields"] if f["key"] == "user.certificate_balance")
    assert field["moved"] == len(carried)
    assert any(r["reason"] == "refund_requested" for r in field["reasons"])
    assert money["refunds"]["asked"] >= 1 and money["refunds"]["confirmed"] >= 1
    listed = money["subcontractor_list"]["summary"]
    assert listed["differing"] > 0 and listed["only_accepted"] > 0 and listed["only_listed"] > 0
    assert sorted(money["statement"]["signed_by"]) == ["city", "recipient", "source",
                                                       "subcontractor"]
    balance_row = next(r for r in run.summary["reconciliation"]
                       if r["key"] == "certificate_balance_sum")
    assert balance_row["match"] and "환불" in balance_row["note"]


def records_shinhan_could_not_apply_come_back_corrected_in_the_next_release(rehearsal):
    run, releases, _cast = rehearsal
    corrections = run.summary["corrections"]

    assert corrections["reported"] == MERCHANTS  # every merchant of release 2, at this size
    assert corrections["corrected"] == corrections["carried"] == corrections["reported"]
    assert corrections["open"] == 0 and corrections["rejected"] == 0
    assert len(releases) == 3
    assert sum(1 for r in releases[2].values() if r["kind"] == "merchant") == MERCHANTS


def the_report_opens_in_the_admin_with_the_run_s_figures(rehearsal, client, officer):
    run, _records, _cast = rehearsal
    login_verified(client, officer)

    page = client.get(f"/admin/operations/rehearsalrun/{run.pk}/report/")

    html = page.content.decode()
    assert page.status_code == 200
    answered = next(r["value"] for r in run.summary["outcomes"]
                    if r["label"] == "가맹점: 모든 항목 동의")
    assert f"<th scope=\"row\">가맹점: 모든 항목 동의</th><td class=\"num\">{answered}</td>" in html
    assert "vendor/chart.js/chart.umd.min.js" in html


def test_the_seoul_rehearsal_tells_the_whole_story(tmp_path, client, officer):
    rehearsal = _rehearse(tmp_path)

    the_rehearsal_passes_with_every_total_reconciled_and_the_audit_verified(rehearsal)
    disputed_fields_wait_for_the_ruling_then_move_at_cut_over(rehearsal)
    consent_items_move_only_for_merchants_who_agreed(rehearsal)
    a_merchant_who_withdrew_is_deleted_at_shinhan_and_not_sent_again(rehearsal)
    objecting_users_are_not_moved_and_nothing_prohibited_ever_is(rehearsal)
    users_move_on_their_own_notice_evidence_or_their_early_request(rehearsal)
    every_won_of_the_balance_is_accounted_for_and_the_statement_co_signed(rehearsal)
    records_shinhan_could_not_apply_come_back_corrected_in_the_next_release(rehearsal)
    the_report_opens_in_the_admin_with_the_run_s_figures(rehearsal, client, officer)
