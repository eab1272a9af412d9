"""The way back in, in a real browser at a phone's size: the link the SMS carried has expired;
the bad-link page offers a new link; the merchant types its number, reads the one-time code
from the SMS (the console provider's outbox), reaches its status page, withdraws and
downloads the receipt. Screenshots go to CONSENT_SCREENSHOT_DIR (or the test's tmp dir)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from tests.consent.conftest import (  # noqa: F401
    _empty_rate_limits,
    merchant_campaign,
    merchant_link,
    merchant_request,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path) -> Path:
    target = Path(os.environ.get("CONSENT_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_a_merchant_whose_link_expired_gets_back_in_with_a_code_and_withdraws(
        live_server, merchant_link, merchant_request, merchant,  # noqa: F811
        settings, tmp_path, shots):
    from django.utils import timezone
    from playwright.sync_api import expect, sync_playwright

    from consent.models import ConsentLink, ConsentRecord, ConsentRequest
    from consent.services.decisions import consent_answer
    from governance.models import SubjectConsentState
    from governance.seoul import synthetic_phone

    settings.SMS_PROVIDER = "console"
    settings.SMS_OUTBOX_FILE = outbox = tmp_path / "sms-outbox.jsonl"
    consent_answer(request=merchant_request, agreed=["merchant.settlement_bank_account"],
                   declined=["merchant.email"], channel="web", identity_factor="brn")
    past = timezone.now() - dt.timedelta(minutes=1)  # the answer period is over
    ConsentRequest.objects.filter(pk=merchant_request.pk).update(expires_at=past,
                                                                 status="expired")
    ConsentLink.objects.filter(request=merchant_request).update(expires_at=past)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2,
                                          is_mobile=True, has_touch=True,
                                          accept_downloads=True, locale="ko-KR")
            page = context.new_page()
            page.goto(f"{live_server.url}/c/{merchant_link.token}")
            expect(page.get_by_role("heading", name="이 링크로는 안내를 열 수 없습니다")
                   ).to_be_visible()
            page.screenshot(path=shots / "return-1-expired.png", full_page=True)
            page.get_by_role("link", name="휴대전화 번호로 새 링크 받기").click()

            expect(page.get_by_role("heading", name="새 링크 받기")).to_be_visible()
            page.get_by_label("휴대전화 번호").fill(synthetic_phone(1))
            page.screenshot(path=shots / "return-2-number.png", full_page=True)
            page.get_by_role("button", name="인증번호 받기").click()

            expect(page.get_by_role("heading", name="인증번호 입력")).to_be_visible()
            (sms,) = [json.loads(line) for line in outbox.read_text().splitlines()]
            code = re.search(r"인증번호 ([0-9]{6})", sms["body"]).group(1)
            page.get_by_label("인증번호 (6자리)").fill(code)
            page.screenshot(path=shots / "return-3-code.png", full_page=True)
            page.get_by_role("button", name="확인").click()

            expect(page.get_by_role("heading", name="확인되었습니다")).to_be_visible()
            page.screenshot(path=shots / "return-4-choose.png", full_page=True)
            page.get_by_role("button", name="현재 상태 보기").click()

            expect(page.get_by_role("heading", name="현재 응답 내용")).to_be_visible()
            expect(page.get_by_text("응답 기간이 지나 새로 동의하실 수는 없습니다")).to_be_visible()
            page.screenshot(path=shots / "return-5-status.png", full_page=True)
            page.get_by_role("link", name="동의 철회하기").click()
            page.get_by_role("button", name="동의 철회하기").click()
            expect(page.get_by_text("접수되었습니다")).to_be_visible()
            page.screenshot(path=shots / "return-6-withdrawn.png", full_page=True)

            with page.expect_download() as download_info:
                page.get_by_role("link", name="확인서 내려받기 (JSON, 전자서명)").click()
            receipt = json.loads(Path(download_info.value.path()).read_text(
                encoding="utf-8"))["receipt"]
        finally:
            browser.close()

    withdrawal = ConsentRecord.objects.get(action="withdraw")
    assert withdrawal.identity_factor == "sms_code"
    assert receipt["eventState"] == "withdrawn"
    assert receipt["changesReceiptID"] == str(
        ConsentRecord.objects.get(action="answer").receipt_id)
    assert SubjectConsentState.objects.get(subject=merchant).fields_granted == []
