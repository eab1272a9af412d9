"""A user on a phone (Debian's headless Chromium, Playwright): opens the SMS link, reads the
Art. 27 notice without any identity check, verifies, and asks to move now ("지금 이전하기");
the receipt, on the page and downloaded, says so. Screenshots go to CONSENT_SCREENSHOT_DIR
(or the test's tmp dir)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.browser.test_consent_page import CHROMIUM_ARGS, PHONE, shots  # noqa: F401
from tests.consent.conftest import (  # noqa: F401
    _empty_rate_limits,
    user_campaign,
    user_link,
    user_request,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits_the_phone(page) -> None:
    """Nothing wider than the screen, and every button a thumb can hit."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"
    heights = page.evaluate(
        "[...document.querySelectorAll('main .button')].map(b => b.getBoundingClientRect()"
        ".height)")
    assert all(h >= 48 for h in heights), heights


def test_a_user_reads_the_notice_verifies_and_moves_now_on_a_phone(
        live_server, user_link, user_request, user, approved_plan, shots):  # noqa: F811
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from playwright.sync_api import expect, sync_playwright

    from audit.signing import service_public_key_bytes
    from consent.models import ConsentRecord
    from governance.models import NoticeEvidence, SubjectConsentState
    from tests.consent.conftest import USER_PHONE_LAST4

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2,
                                          is_mobile=True, has_touch=True,
                                          accept_downloads=True, locale="ko-KR")
            page = context.new_page()
            page.goto(f"{live_server.url}/c/{user_link.token}")
            # The notice, before any identity check.
            expect(page.get_by_role("heading", name="개인정보 이전 안내", exact=True)) \
                .to_be_visible()
            expect(page.get_by_text("1. 개인정보를 이전받는 자: 신한카드 컨소시엄")).to_be_visible()
            expect(page.get_by_text("4. 이전을 원하지 않는 경우")).to_be_visible()
            _fits_the_phone(page)
            page.screenshot(path=shots / "early-1-notice.png", full_page=True)

            page.get_by_label("휴대전화 번호 뒤 4자리").fill(USER_PHONE_LAST4)
            # The button under the notice: the identity check, then straight on.
            page.get_by_role("button", name="본인 확인 후 지금 이전하기").click()

            expect(page.get_by_role("heading", name="지금 이전을 요청하시겠습니까?")) \
                .to_be_visible()
            expect(page.get_by_text("이용자 전화번호", exact=True)).to_be_visible()
            _fits_the_phone(page)
            page.screenshot(path=shots / "early-2-confirm.png", full_page=True)
            page.get_by_role("button", name="지금 이전하기").click()

            expect(page.get_by_role("heading", name="조기 이전 요청 확인서")).to_be_visible()
            expect(page.get_by_text("이전해 달라고 요청했습니다")).to_be_visible()
            _fits_the_phone(page)
            page.screenshot(path=shots / "early-3-receipt.png", full_page=True)

            with page.expect_download() as download_info:
                page.get_by_role("link", name="확인서 내려받기 (JSON, 전자서명)").click()
            document = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
            receipt = document["receipt"]
            Ed25519PublicKey.from_public_bytes(service_public_key_bytes()).verify(
                base64.b64decode(document["signature"]["value"]),
                json.dumps(receipt, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode("utf-8"))
            assert receipt["eventType"] == "early_request"
            assert "지금 신한카드 컨소시엄(으)로 이전해 달라고 요청했습니다" in receipt["statement"]
            assert [i["label"] for i in receipt["itemsAgreed"]] == [
                "상품권 잔액", "이용자 이름", "이용자 전화번호"]

            page.get_by_role("link", name="현재 응답 내용 보기 · 동의 철회").click()
            expect(page.get_by_role("heading", name="현재 응답 내용")).to_be_visible()
            expect(page.get_by_text("이 링크에서 안내문 열람")).to_be_visible()
            expect(page.get_by_role("link", name="조기 이전 요청 철회하기")).to_be_visible()
            _fits_the_phone(page)
            page.screenshot(path=shots / "early-4-status.png", full_page=True)
        finally:
            browser.close()

    # (The database is read here: Playwright's event loop runs in the test's thread.)
    # The notice was shown, and recorded as reaching the user, before the identity check.
    user_request.refresh_from_db()
    [evidence] = NoticeEvidence.objects.filter(subject=user, channel="link")
    assert evidence.notified_at == user_request.opened_at < user_request.verified_at
    [record] = ConsentRecord.objects.all()
    assert record.action == "early_request" and record.identity_factor == "phone_last4"
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.early_requested_at == record.created_at
