"""In a real browser, the officer's path through the safeguards: a code typed too soon
after a wrong one is explained, a subject's page and an export with its typed reason are
logged, the month's review shows that and is signed off; five wrong passwords lock the
account on a page that says so (screenshots in BROWSER_SHOTS_DIR or the test's tmp dir)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"  # noqa: S105 (the tests' staff fixture password)


@pytest.fixture
def shots(tmp_path) -> Path:
    path = Path(os.environ.get("BROWSER_SHOTS_DIR") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _browser(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def _password(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def _last_month_of_access(officer) -> dt.date:
    """Last month's access entries, as a month of work would have left them (written with
    the clock of that day: the log refuses any later change)."""
    from unittest import mock

    from django.db import transaction

    from officers.access import access_record
    from officers.review import SEOUL

    today = dt.datetime.now(SEOUL).date()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    at = dt.datetime.combine(last_month.replace(day=10), dt.time(14), SEOUL)
    with mock.patch("audit.services.timezone.now", return_value=at), transaction.atomic():
        access_record(by=officer, address="10.1.2.3", action="view",
                      subjects=[f"s{i}" for i in range(30)], fields=["subject.kind"],
                      target_type="governance.datasubject", target_id="changelist")
    return last_month


def test_an_officer_views_exports_and_signs_the_months_review(live_server, officer, merchant,
                                                             shots):
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from playwright.sync_api import expect, sync_playwright

    from audit.models import AuditEvent
    from officers.models import AccessReview
    from tests.project.otp_helpers import code_for

    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)
    last_month = _last_month_of_access(officer)
    base = live_server.url
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900},
                                          locale="ko-KR", accept_downloads=True)
            page = context.new_page()
            _password(page, base, officer.username)
            page.wait_for_url(f"{base}/admin/second-factor/**")
            page.fill("#id_code", "000000")
            page.click("input[type=submit][value='확인']")
            page.fill("#id_code", code_for(device))  # at once: django-otp makes it wait
            page.click("input[type=submit][value='확인']")
            expect(page.locator("#otp-error")).to_contain_text("초 뒤에")
            page.screenshot(path=shots / "officer-code-too-soon.png", full_page=True)
            page.wait_for_timeout(2100)
            page.fill("#id_code", code_for(device))
            page.click("input[type=submit][value='확인']")
            page.wait_for_url(f"{base}/admin/")

            page.goto(f"{base}/admin/governance/datasubject/{merchant.pk}/change/")
            expect(page.locator("#content")).to_contain_text(merchant.public_id)
            page.goto(f"{base}/admin/governance/datasubject/")
            page.check("#result_list tbody tr:first-child input.action-select")
            page.select_option("select[name=action]", "export_csv")
            page.click("button[name=index]")
            page.fill("#id_reason", "   ")  # blank: the browser's own check lets it through
            page.click("input[type=submit][value='사유를 기록하고 내려받기']")
            expect(page.locator("#export-error")).to_contain_text("사유")
            page.fill("#id_reason", "운영사 대체 고지 대상 확인 (공문 2026-118)")
            with page.expect_download() as download:
                page.click("input[type=submit][value='사유를 기록하고 내려받기']")
            assert merchant.public_id in Path(download.value.path()).read_text("utf-8-sig")

            this_month = f"{dt.date.today():%Y-%m}"
            page.goto(f"{base}/admin/officers/accessreview/?month={this_month}")
            row = page.locator(f"#review-accounts tr[data-account='user:{officer.pk}']")
            expect(row).to_contain_text("운영사 대체 고지 대상 확인 (공문 2026-118)")
            expect(page.locator("#review-not-finished")).to_be_visible()
            page.screenshot(path=shots / "officer-review-this-month.png", full_page=True)

            page.goto(f"{base}/admin/officers/accessreview/?month={last_month:%Y-%m}")
            expect(page.locator("#review-summary")).to_contain_text("확인이 필요한 계정")
            flagged = page.locator(f"#review-accounts tr.flagged[data-account='user:{officer.pk}']")
            expect(flagged).to_have_count(1)  # 30 subjects on a first active day: unusual
            page.fill("#id_note", "버스트 1건 확인: 대체 고지 준비 작업")
            page.click("#review-sign input[type=submit]")
            expect(page.locator("#review-signed")).to_contain_text(officer.username)
            page.screenshot(path=shots / "officer-review-signed.png", full_page=True)
        finally:
            browser.close()

    assert AccessReview.objects.get().month == last_month
    actions = list(AuditEvent.objects.filter(actor_id=f"user:{officer.pk}",
                                             action__startswith="access.")
                   .values_list("action", flat=True))
    assert {"access.view", "access.download", "access.review_signed"} <= set(actions)


def test_five_wrong_passwords_lock_the_account_on_a_page_that_says_so(live_server, officer,
                                                                     shots):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ko-KR")
            for attempt in range(5):
                _password(page, base, officer.username, f"wrong {attempt}")
            _password(page, base, officer.username)  # the right one, too late
            expect(page.locator("#locked-out")).to_contain_text("5회 연속 실패")
            expect(page.locator("#locked-out")).to_contain_text(officer.username)
            expect(page.locator("#site-name")).to_contain_text("개인정보 이전 중개 서비스 관리")
            page.screenshot(path=shots / "officer-locked-out.png", full_page=True)
        finally:
            browser.close()
