"""Releases to the recipient: request, list, status, manifest, signature, chunks, records."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from officers.access import access_record, client_address
from transfers import format as fmt
from transfers.apis.base import (
    CHUNK_PARAMETER,
    E401,
    E403,
    E404,
    ERROR,
    LIMIT_PARAMETER,
    OperatorApi,
    query_int,
    query_limit,
)
from transfers.models import Release
from transfers.permissions import SCOPE_RELEASE_READ
from transfers.selectors import latest_acknowledgement, release_records_page, releases_of
from transfers.serializers import (
    ManifestSerializer,
    ReleaseListSerializer,
    ReleaseRecordsPageSerializer,
    ReleaseSerializer,
)
from transfers.services import release_path, release_request


def _release_data(release: Release, request) -> dict:
    ack = latest_acknowledgement(release)
    links: dict = {}
    if release.status == Release.Status.READY:
        def url(suffix: str) -> str:
            return request.build_absolute_uri(f"/api/releases/{release.public_id}/{suffix}")

        links = {"manifest": url("manifest.json"), "signature": url("manifest.sig"),
                 "chunks": [url(f"chunks/{n}") for n in range(1, release.chunk_count + 1)],
                 "records": url("records"), "acknowledgements": url("acknowledgements"),
                 "apply_reports": url("apply-reports")}
    return {"id": release.public_id, "plan": release.plan_id, "number": release.number,
            "status": release.status, "rehearsal": release.rehearsal,
            "as_of": release.as_of, "records": release.record_count,
            "chunks": release.chunk_count, "manifest_sha256": release.manifest_sha256,
            "recipient_key_id": release.recipient_key.key_id,
            "suite": fmt.suite_name(bytes(release.recipient_key.public_key)),
            "links": links,
            "acknowledged": None if ack is None else {"matches": ack.matches,
                                                     "mismatches": ack.mismatches,
                                                     "received_at": ack.received_at}}


class ReleaseListApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseListSerializer

    @extend_schema(operation_id="releases_list",
                   summary="Releases of a plan addressed to this operator",
                   description="Scope `release:read`, the plan's recipient only. Newest "
                               "first. Errors: 401, 403, 404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        return Response(self.OutputSerializer(
            {"releases": [_release_data(r, request) for r in releases_of(plan)]}).data)

    @extend_schema(
        operation_id="releases_request",
        summary="Ask for the next (incremental) release; an export job builds it",
        description="Scope `release:read`, the plan's recipient. While one is being built, "
                    "asking again answers that one. Poll `GET /api/releases/{id}` until "
                    "`status` is `ready`. Errors: 409 plan_not_in_force, no_key.",
        request=None,
        responses={202: OpenApiResponse(ReleaseSerializer, description="queued or already "
                                        "being built: poll the release"),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="plan_not_in_force, no_key")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        release = release_request(plan=plan, by=self.actor)
        release.refresh_from_db()
        return Response(ReleaseSerializer(_release_data(release, request)).data,
                        status=status.HTTP_202_ACCEPTED)


class ReleaseDetailApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseSerializer

    @extend_schema(operation_id="releases_retrieve", summary="A release's status and links",
                   description="Scope `release:read`, the recipient. `links` (absolute URLs) "
                               "appear once the release is ready. Errors: 401, 403, 404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        return Response(self.OutputSerializer(
            _release_data(self.release_of(release_id), request)).data)


class ReleaseManifestApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_manifest",
        summary="manifest.json of a ready release, byte for byte as signed",
        description="Scope `release:read`. Served as `application/json`, exactly the bytes "
                    "`manifest.sig` signs (sorted keys, no spaces, UTF-8). Verify the "
                    "signature over the **response body's bytes**, never over a parsed and "
                    "re-serialised object (a generated client's `response.content`). The "
                    "schema below documents the fields (docs/release-format.md). Errors: 404 "
                    "(not ready, or not yours).",
        responses={200: OpenApiResponse(ManifestSerializer, description="the exact bytes"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        return HttpResponse(bytes(release.manifest), content_type="application/json")


class ReleaseSignatureApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_signature",
        summary="manifest.sig: the 64-byte Ed25519 signature over manifest.json",
        description="Scope `release:read`. Raw bytes (not base64); verify with the key of "
                    "`GET /api/service-key`. Errors: 404.",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        return HttpResponse(bytes(release.signature), content_type="application/octet-stream")


class ReleaseChunkApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_chunk",
        summary="Chunk n of a ready release (HPKE-encrypted NDJSON)",
        description="Scope `release:read`. `enc || ciphertext` (docs/release-format.md); "
                    "check its SHA-256 and `info` from the manifest before decrypting. Also "
                    "served under the manifest's file name (`chunks/000001.bin`). Errors: "
                    "404 (no such chunk, not ready, not yours).",
        parameters=[CHUNK_PARAMETER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id, n: int):
        return _chunk_response(self.ready_release_of(release_id), n)


class ReleaseChunkFileApi(OperatorApi):
    """The chunk under its manifest file name (chunks/000001.bin), for readers that follow
    the manifest's `file`; the schema documents `chunks/{n}` only."""

    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(exclude=True)
    def get(self, request, release_id, name: str):
        return _chunk_response(self.ready_release_of(release_id), int(name))


def _chunk_response(release: Release, n: int):
    if not 1 <= n <= release.chunk_count:
        raise NotFound("no such chunk in this release")
    path = release_path(release) / fmt.chunk_name(n)
    if not path.is_file():
        raise NotFound("the file is missing on the server")
    return FileResponse(path.open("rb"), content_type="application/octet-stream")


class ReleaseRecordsApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseRecordsPageSerializer

    @extend_schema(
        operation_id="releases_records",
        summary="A release's records as JSON pages (small pulls)",
        description="Scope `release:read`. Cursor pagination in subject order. Each field is "
                    "checked against the policy again at the time of the call: fields denied "
                    "since the release was built are withheld (and counted in `withheld`). "
                    "Each page is written to the access log. Errors: 400 invalid_cursor, "
                    "invalid_limit; 404.",
        parameters=[OpenApiParameter("cursor", {"type": "string", "pattern": "^[0-9]{0,18}$"},
                                     description="from `next_cursor` (empty or absent: "
                                                 "from the start)"),
                    LIMIT_PARAMETER],
        responses={200: OutputSerializer,
                   400: OpenApiResponse(ERROR, description="invalid_cursor, invalid_limit"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        after, limit = query_int(request, "cursor", 0), query_limit(request)
        records, cursor, withheld = release_records_page(release, after=after, limit=limit)
        # The access log (officers): whose values this page decrypted, for which recipient.
        access_record(by=self.actor, address=client_address(request), action="decrypt",
                      subjects=[r["subject"] for r in records],
                      fields={key for r in records for key in r["fields"]},
                      target_type="transfers.release", target_id=str(release.public_id),
                      extra={"cursor": after})
        return Response(self.OutputSerializer({
            "release": release.public_id, "records": records,
            "next_cursor": None if cursor is None else str(cursor), "withheld": withheld}).data)
