"""`manage.py demo`: the transfers part gives the reference client something to pull."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from transfers.models import OperatorClient, Release, Upload

pytestmark = pytest.mark.django_db


def test_the_demo_uploads_releases_and_writes_client_credentials_once(settings, capsys):
    call_command("demo")
    call_command("demo")
    upload = Upload.objects.get()
    assert (upload.accepted_count, upload.rejected_count) == (500, 2)
    release = Release.objects.get()
    assert release.status == Release.Status.READY and release.record_count == 500
    path = settings.VAR_DIR / "operator-clients" / "SHINHAN.json"
    assert path.stat().st_mode & 0o077 == 0
    stored = json.loads(path.read_text())
    client = OperatorClient.objects.get(application__client_id=stored["client_id"])
    assert client.operator.code == "SHINHAN"
    assert client.application.client_secret != stored["client_secret"]  # only the hash
    assert OperatorClient.objects.count() == 2
