"""The site administrator's admin index names every section in Korean, the libraries' too
(config.third_party_apps), and those libraries still run as themselves."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def test_every_section_of_the_administrators_index_is_named_in_korean(client,
                                                                      django_user_model):
    administrator = django_user_model.objects.create_superuser("site-admin",
                                                               password="x" * 16)
    login_verified(client, administrator)

    html = client.get("/admin/").content.decode()

    captions = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', html)
    assert len(captions) >= 12
    for caption in captions:
        assert re.search(r"[\uac00-\ud7a3]", caption), f"no Korean in the section {caption!r}"
    for named in ("로그인 시도와 잠금", "사업자 API 인증", "2단계 인증: 인증 앱",
                  "2단계 인증: 복구 코드", "주기 작업"):
        assert named in html


def test_the_renamed_libraries_keep_their_labels():
    assert {label: apps.get_app_config(label).name for label in
            ("axes", "oauth2_provider", "otp_totp", "otp_static", "django_celery_beat")} == {
        "axes": "axes", "oauth2_provider": "oauth2_provider",
        "otp_totp": "django_otp.plugins.otp_totp", "otp_static": "django_otp.plugins.otp_static",
        "django_celery_beat": "django_celery_beat"}
