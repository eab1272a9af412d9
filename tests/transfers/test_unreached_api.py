"""The source operator's list of subjects the Art. 27 notice has not been shown to reach."""

from __future__ import annotations

import pytest

from governance.models import DataSubject
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from transfers import synthetic

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreached(approved_plan):
    """KEPF uploaded three merchants and six users; the notice reached users 1 and 4. The
    unreached: users 2, 3, 5 and 6 (merchants have no Art. 27 fields in this plan)."""
    upload_rows(approved_plan, list(synthetic.rows("merchant", 1, 3))
                + list(synthetic.rows("user", 1, 6)))
    users = list(DataSubject.objects.filter(kind="user").order_by("id"))
    notified_long_ago(approved_plan, [users[0], users[3]])
    return [users[i] for i in (1, 2, 4, 5)]


def _url(plan) -> str:
    return f"/api/plans/{plan.pk}/notices"


def test_the_source_sees_the_users_no_evidence_shows_the_notice_reached(
        kepf_api, approved_plan, unreached):
    response = kepf_api.get(_url(approved_plan))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "plan": approved_plan.pk, "next_after": None,
        "subjects": [{"external_id": s.external_id, "subject": s.public_id, "kind": "user"}
                     for s in unreached]}


def test_the_list_is_paged_in_subject_order(kepf_api, approved_plan, unreached):
    first = kepf_api.get(_url(approved_plan), limit=3).json()
    second = kepf_api.get(_url(approved_plan), limit=3, after=first["next_after"]).json()

    assert [s["external_id"] for s in first["subjects"]] == [
        s.external_id for s in unreached[:3]]
    assert first["next_after"] == unreached[2].pk
    assert [s["external_id"] for s in second["subjects"]] == [unreached[3].external_id]
    assert second["next_after"] is None


def test_a_subject_reached_since_drops_off_the_list(kepf_api, approved_plan, unreached):
    from django.utils import timezone

    from governance.services import Evidence, notice_evidence_record

    notice_evidence_record(plan=approved_plan, by=None, evidence=[
        Evidence(unreached[0], "link", timezone.now(), "link-opened-1")])

    listed = [s["external_id"] for s in kepf_api.get(_url(approved_plan)).json()["subjects"]]

    assert listed == [s.external_id for s in unreached[1:]]


def test_a_subject_without_a_record_under_the_plan_is_not_listed(
        kepf_api, outgoing_operator, approved_plan, unreached):
    from governance.services import subjects_upsert

    subjects_upsert(operator=outgoing_operator.operator, kind="user", by=None,
                    rows=[{"external_id": "U-NO-RECORD"}])

    listed = [s["external_id"] for s in kepf_api.get(_url(approved_plan)).json()["subjects"]]

    assert "U-NO-RECORD" not in listed and len(listed) == 4


@pytest.mark.parametrize("params, code", [
    ({"limit": "0"}, "invalid_limit"), ({"limit": "1001"}, "invalid_limit"),
    ({"limit": "ten"}, "invalid_limit"), ({"after": "-1"}, "invalid_after"),
    ({"after": "9" * 19}, "invalid_after"), ({"after": "１２"}, "invalid_after"),
])
def test_a_bad_cursor_or_limit_is_a_documented_400(kepf_api, approved_plan, unreached,
                                                   params, code):
    response = kepf_api.get(_url(approved_plan), **params)

    assert (response.status_code, response.json()["error"]) == (400, code)


def test_the_recipient_and_an_unrelated_operator_get_404(
        shinhan_api, bizplay_api, approved_plan, unreached):
    for api in (shinhan_api, bizplay_api):
        response = api.get(_url(approved_plan))

        assert response.status_code == 404
        assert unreached[0].external_id not in response.content.decode()


def test_a_token_without_the_upload_scope_is_refused(outgoing_operator, approved_plan,
                                                     unreached):
    from tests.transfers.conftest import make_api

    reader = make_api(outgoing_operator, scope="release:read")

    assert reader.get(_url(approved_plan)).status_code == 403
