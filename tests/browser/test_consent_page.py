"""The merchant's page in a real browser (Debian's headless Chromium, Playwright), at a phone's
size: open the SMS link, confirm identity, agree to some items, see and download the signed
receipt, withdraw. Screenshots go to CONSENT_SCREENSHOT_DIR (or the test's tmp dir)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

# The page's fixtures (campaign, request, link built from the models) live with its tests.
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


def test_a_merchant_agrees_downloads_the_receipt_and_withdraws_on_a_phone(
        live_server, merchant_link, merchant, approved_plan, shots):  # noqa: F811
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from playwright.sync_api import expect, sync_playwright

    from audit.signing import service_public_key_bytes
    from consent.models import ConsentRecord
    from governance.models import SubjectConsentState
    from tests.consent.conftest import MERCHANT_BRN

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2,
                                          is_mobile=True, has_touch=True,
                                          accept_downloads=True, locale="ko-KR")
            page = context.new_page()
            page.goto(f"{live_server.url}/c/{merchant_link.token}")
            expect(page.get_by_role("heading", name="본인 확인")).to_be_visible()
            page.screenshot(path=shots / "1-identity.png", full_page=True)

            page.get_by_label("사업자등록번호 (10자리)").fill(MERCHANT_BRN)
            page.get_by_role("button", name="확인").click()
            expect(page.get_by_role("heading", name="개인정보 제공 동의")).to_be_visible()
            required = page.get_by_role("group", name="필수 항목: 정산 계좌")
            required.get_by_label("동의합니다").check()
            page.get_by_role("group", name="선택 항목: 이메일").get_by_label(
                "동의하지 않습니다").check()
            # Marketing opt-in is not offered: the new operator asks for it afresh.
            expect(page.get_by_role("group", name="선택 항목: 마케팅 수신 동의")).to_have_count(0)
            assert "마케팅" not in page.inner_text("main")
            page.screenshot(path=shots / "2-notice.png", full_page=True)
            page.get_by_role("button", name="선택 내용 확인하기").click()

            expect(page.get_by_role("heading", name="선택 내용을 확인해 주세요")).to_be_visible()
            stays = page.inner_text("main").split("옮겨지지 않는 항목")[1]
            assert "이메일 — 동의하지 않음" in stays
            assert "마케팅 수신 동의 — 마케팅 수신 동의는 그 동의를 받은 운영사가" in stays
            assert "새 운영사가 따로 묻는 동의에 답해 주십시오" in stays
            page.screenshot(path=shots / "2b-confirm.png", full_page=True)
            page.get_by_role("button", name="이대로 제출하기").click()
            expect(page.get_by_text("접수되었습니다")).to_be_visible()
            page.screenshot(path=shots / "3-receipt.png", full_page=True)

            with page.expect_download() as download_info:
                page.get_by_role("link", name="확인서 내려받기 (JSON, 전자서명)").click()
            download = download_info.value
            assert download.suggested_filename.endswith(".json")
            document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
            receipt = document["receipt"]
            canonical = json.dumps(receipt, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False).encode("utf-8")
            Ed25519PublicKey.from_public_bytes(service_public_key_bytes()).verify(
                base64.b64decode(document["signature"]["value"]), canonical)
            assert [i["label"] for i in receipt["itemsAgreed"]] == ["정산 계좌"]
            assert [i["label"] for i in receipt["itemsDeclined"]] == ["이메일"]
            because = {i["key"]: i["staysBecause"] for i in receipt["stays"]}
            assert "새 운영사가 따로 묻는 동의" in because["merchant.marketing_opt_in"]

            # Later: the current decision, and withdrawal in as many steps as consenting.
            page.get_by_role("link", name="현재 응답 내용 보기 · 동의 철회").click()
            expect(page.get_by_role("heading", name="현재 응답 내용")).to_be_visible()
            page.screenshot(path=shots / "4-status.png", full_page=True)
            page.get_by_role("link", name="동의 철회하기").click()
            page.get_by_role("button", name="동의 철회하기").click()
            expect(page.get_by_role("heading", name="동의 철회 확인서")).to_be_visible()
            page.screenshot(path=shots / "5-withdrawn.png", full_page=True)

            # Large-text mode, without JavaScript: a link and a cookie.
            page.get_by_role("link", name="큰 글씨로 보기").click()
            expect(page.get_by_role("link", name="보통 글씨로 보기")).to_be_visible()
            size = page.evaluate("getComputedStyle(document.body).fontSize")
            assert float(size.rstrip("px")) >= 22
            page.screenshot(path=shots / "6-large-text.png", full_page=False)
        finally:
            browser.close()

    assert list(ConsentRecord.objects.order_by("created_at").values_list("action", flat=True)) \
        == ["answer", "withdraw"]
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.withdrawn_at is not None and state.fields_granted == []


def test_a_bad_link_shows_the_call_centre_in_a_browser(live_server, shots):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            response = page.goto(f"{live_server.url}/c/AAAAAAAAAAAAAAAAAAAAAA")
            assert response.status == 404
            assert "이 링크로는 안내를 열 수 없습니다" in page.content()
            assert "02-120" in page.inner_text("main")
            page.screenshot(path=shots / "0-bad-link.png", full_page=True)
        finally:
            browser.close()
