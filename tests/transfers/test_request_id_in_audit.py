"""A caller's X-Request-ID is stamped on the audit events of its call only if it is a UUID."""

import pytest

from audit.models import AuditEvent


@pytest.mark.django_db
def test_a_phone_offered_as_request_id_never_reaches_the_audit_log(kepf_api, approved_plan):
    response = kepf_api.http.get("/api/plans", HTTP_X_REQUEST_ID="010-9999-8888",
                                 **kepf_api._headers())
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action="api.call").latest("id")
    assert event.request_id == response["X-Request-ID"]
    assert "9999" not in event.request_id and "8888" not in event.request_id
