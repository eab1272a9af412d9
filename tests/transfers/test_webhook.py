"""Deletion notices also reach the recipient's webhook, when its client has one."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from governance.models import DataSubject
from governance.services import consent_state_object
from transfers.models import DeletionNotice
from transfers.services import (
    deletions_detect,
    operator_client_create,
    release_export,
    release_request,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/deletions", received
    server.shutdown()


def test_a_new_deletion_notice_is_posted_to_the_webhook_once(
        receiver, approved_plan, uploaded, incoming_operator,
        django_capture_on_commit_callbacks):
    url, received = receiver
    operator_client_create(operator=incoming_operator.operator, by=None, webhook_url=url)
    release_export(release_id=release_request(plan=approved_plan,
                                              by=("operator", "operator:SHINHAN")).pk)
    user = DataSubject.objects.get(external_id="U-0000003")
    consent_state_object(plan=approved_plan, subject=user, objected_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        deletions_detect(plan=approved_plan)
    with django_capture_on_commit_callbacks(execute=True):
        deletions_detect(plan=approved_plan)  # nothing new: nothing sent again
    assert len(received) == 1
    [notice] = received[0]["deletions"]
    assert notice["subject"] == user.public_id and notice["reason"] == "objected"
    assert "external_id" not in notice  # pseudonymous id only
    assert DeletionNotice.objects.get().webhook_sent_at is not None
