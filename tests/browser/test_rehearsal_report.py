"""After a small rehearsal, an officer opens the report and the dashboard in a real browser
and sees the run's figures (screenshots in REPORT_SCREENSHOT_DIR or the test's tmp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_an_officer_reads_the_rehearsal_report_and_the_dashboard(live_server, officer,
                                                                 tmp_path):
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from playwright.sync_api import expect, sync_playwright

    from operations.models import RehearsalRun
    from tests.project.otp_helpers import code_for

    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)

    try:
        call_command("rehearse", merchants=12, users=10, seed=3, out=tmp_path / "run",
                     verbosity=0)
    except CommandError:
        pass  # the report says what failed, and so do the checks below
    run = RehearsalRun.objects.get()
    shots = Path(os.environ.get("REPORT_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    outcomes = {row["label"]: row["value"] for row in run.summary["outcomes"]}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ko-KR")
            page.goto(f"{live_server.url}/admin/login/")
            page.fill("#id_username", "officer-kim")
            page.fill("#id_password", "correct horse battery")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/second-factor/**")
            page.fill("#id_code", code_for(device))  # the second factor every login needs
            page.click("input[type=submit][value='확인']")
            page.wait_for_url(f"{live_server.url}/admin/")
            page.goto(f"{live_server.url}/admin/operations/rehearsalrun/{run.pk}/report/")
            expect(page.locator("#verdict")).to_contain_text("리허설 성공")
            expect(page.locator("#outcomes")).to_contain_text(
                f"{outcomes['업로드 접수 레코드']}")
            # Chart.js drew every chart (a canvas it rendered has a non-zero size).
            for chart in ("chart-funnel", "chart-fields", "chart-reconciliation",
                          "chart-audit"):
                assert page.evaluate(f"Chart.getChart('{chart}') !== undefined")
            page.screenshot(path=shots / "rehearsal-report.png", full_page=True)

            page.goto(f"{live_server.url}/admin/dashboard/")
            merchant_row = page.locator("#dash-campaigns tr", has_text="[리허설] 가맹점")
            expect(merchant_row.locator('[data-step="created"]')).to_have_text("12")
            expect(page.locator("#dash-reconciliation")).to_contain_text("대사 보고서")
            page.screenshot(path=shots / "dashboard.png", full_page=True)
        finally:
            browser.close()
