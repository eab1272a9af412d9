"""A real browser can log into the admin (form POSTs pass the CSRF origin check), with the
second factor every staff login needs."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_an_officer_logs_into_the_admin_in_a_real_browser(live_server, officer):
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from playwright.sync_api import sync_playwright

    from tests.project.otp_helpers import code_for

    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/admin/login/")
            page.fill("#id_username", "officer-kim")
            page.fill("#id_password", "correct horse battery")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/second-factor/**")
            page.fill("#id_code", code_for(device))
            page.click("input[type=submit][value='확인']")
            page.wait_for_url(f"{live_server.url}/admin/")
            assert page.locator("#user-tools").count() == 1
        finally:
            browser.close()
