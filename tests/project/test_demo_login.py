"""`make run` still lets a newcomer in within a minute: the demo's accounts come enrolled,
and `demo_login_hint` prints the password and a code that works."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _hint_for(output: str, username: str) -> dict[str, str]:
    block = output.split(f"   {username} ", 1)[1]
    return {"password": block.split()[0],
            "code": re.search(r"code now: (\d{6})", block).group(1),
            "recovery": re.search(r"recovery code \(once\): (\w+)", block).group(1),
            "uri": re.search(r"authenticator app: (otpauth://\S+)", block).group(1)}


def test_the_printed_password_and_code_log_the_demo_officer_in(tmp_path, settings, client,
                                                                capsys):
    from tests.project.otp_helpers import password_login

    settings.VAR_DIR = tmp_path
    call_command("demo")
    capsys.readouterr()
    call_command("demo_login_hint")
    hint = _hint_for(capsys.readouterr().out, "officer")

    assert hint["uri"].startswith("otpauth://totp/") and "secret=" in hint["uri"]
    assert password_login(client, "officer", hint["password"]).status_code == 302
    assert client.post("/admin/second-factor/", {"code": hint["code"]}).status_code == 302
    assert client.get("/admin/governance/transferplan/").status_code == 200


def test_a_printed_recovery_code_works_too(tmp_path, settings, client, capsys):
    from tests.project.otp_helpers import password_login

    settings.VAR_DIR = tmp_path
    call_command("demo")
    call_command("demo_login_hint")
    hint = _hint_for(capsys.readouterr().out, "pipc")

    password_login(client, "pipc", hint["password"])
    assert client.post("/admin/second-factor/", {"code": hint["recovery"]}).status_code == 302
    assert client.get("/admin/").status_code == 200
