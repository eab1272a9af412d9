"""Who sees what: an unrelated operator reads nothing through any endpoint; the source
cannot read releases, the recipient cannot upload, list unreached subjects or attest."""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from tests.transfers.conftest import make_api, ndjson
from transfers import synthetic
from transfers.services import deletions_detect, release_export, release_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(approved_plan, uploaded, incoming_operator):
    """A plan with an upload, a ready release and a deletion notice."""
    from django.utils import timezone

    from governance.models import DataSubject
    from governance.services import consent_state_object
    from transfers.selectors import release_subjects

    upload, batch = uploaded
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=release.pk)
    subject = DataSubject.objects.filter(id__in=dict(release_subjects(release.pk)),
                                         kind="user").first()
    consent_state_object(plan=approved_plan, subject=subject, objected_at=timezone.now())
    notice = deletions_detect(plan=approved_plan)[0]
    return {"plan": approved_plan, "upload": upload, "batch": batch, "release": release,
            "notice": notice}


def _calls(o):
    p, u, r = o["plan"].pk, o["upload"].public_id, o["release"].public_id
    return [
        ("get", f"/api/plans/{p}"), ("post", f"/api/plans/{p}/uploads"),
        ("get", f"/api/plans/{p}/releases"), ("post", f"/api/plans/{p}/releases"),
        ("get", f"/api/plans/{p}/deletions"),
        ("get", f"/api/plans/{p}/notices"), ("post", f"/api/plans/{p}/notice-attestations"),
        ("get", f"/api/plans/{p}/corrections"),
        ("post", f"/api/releases/{r}/apply-reports"),
        ("get", f"/api/uploads/{u}"), ("post", f"/api/uploads/{u}/complete"),
        ("put", f"/api/uploads/{u}/batches/b9"), ("get", f"/api/uploads/{u}/batches/b1"),
        ("get", f"/api/releases/{r}"), ("get", f"/api/releases/{r}/records"),
        ("get", f"/api/releases/{r}/manifest.json"), ("get", f"/api/releases/{r}/manifest.sig"),
        ("get", f"/api/releases/{r}/chunks/000001.bin"), ("get", f"/api/releases/{r}/chunks/1"),
        ("post", f"/api/releases/{r}/acknowledgements"),
        ("post", f"/api/deletions/{o['notice'].pk}/confirm"),
    ]


def _call(api, method, path):
    if method == "put":
        return api.put(path, ndjson([synthetic.user_row(99)]))
    return getattr(api, method)(path)


def test_every_operator_endpoint_is_covered_here(everything):
    from transfers import urls

    named = {p.name for p in urls.urlpatterns} - {"service-key", "plans"}
    covered = set()
    for _method, path in _calls(everything):
        match = get_resolver().resolve(path)
        covered.add(match.url_name)
    assert covered == named


def test_an_unrelated_operator_reads_nothing_through_any_endpoint(bizplay_api, everything):
    for method, path in _calls(everything):
        response = _call(bizplay_api, method, path)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "M-0000" not in response.content.decode()
    assert bizplay_api.get("/api/plans").json() == {"plans": []}


def test_the_source_cannot_read_releases_and_the_recipient_cannot_upload(
        kepf_api, shinhan_api, everything):
    p, r = everything["plan"].pk, everything["release"].public_id
    assert kepf_api.get(f"/api/releases/{r}/manifest.json").status_code == 404
    assert kepf_api.post(f"/api/plans/{p}/releases").status_code == 404
    assert kepf_api.get(f"/api/plans/{p}/deletions").status_code == 404
    assert shinhan_api.post(f"/api/plans/{p}/uploads").status_code == 404
    assert shinhan_api.get(f"/api/plans/{p}/notices").status_code == 404
    assert shinhan_api.post(f"/api/plans/{p}/notice-attestations").status_code == 404
    u = everything["upload"].public_id
    assert shinhan_api.get(f"/api/uploads/{u}").status_code == 404


def test_without_a_token_or_with_a_revoked_client_nothing_answers(
        client, incoming_operator, everything):
    from transfers.models import OperatorClient
    from transfers.services import operator_client_revoke

    r = everything["release"].public_id
    assert client.get(f"/api/releases/{r}/manifest.json").status_code == 401
    api = make_api(incoming_operator)
    assert api.get(f"/api/releases/{r}").status_code == 200
    operator_client_revoke(client=OperatorClient.objects.get(
        application__client_id=api.client_id), by=None)
    assert api.get(f"/api/releases/{r}").status_code == 401


def test_a_token_with_only_the_read_scope_cannot_acknowledge(incoming_operator, everything):
    reader = make_api(incoming_operator, scope="release:read")
    r = everything["release"].public_id
    assert reader.get(f"/api/releases/{r}").status_code == 200
    assert reader.post(f"/api/releases/{r}/acknowledgements").status_code == 403
