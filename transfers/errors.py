"""The operator API's one exception handler: every refusal becomes `{"error", "detail"}` JSON
with the status its cause names (a service's `TransferError` carries its own; a governance
rule refused is 409; a serializer's reasons are 400 `invalid_request` with `fields`)."""

from __future__ import annotations

from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from governance.services import GovernanceError
from transfers.services import TransferError


def operator_api_exception_handler(exc, context):
    if isinstance(exc, TransferError):
        return Response({"error": exc.code, "detail": exc.message}, status=exc.status)
    if isinstance(exc, GovernanceError):
        return Response({"error": "refused", "detail": str(exc)},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ValidationError):
        return Response(validation_error_body(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = NotFound()
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException) and isinstance(response.data,
                                                                              dict):
        codes = exc.get_codes()
        response.data.setdefault("error", codes if isinstance(codes, str) else "invalid")
    return response


def validation_error_body(detail) -> dict:
    """A serializer's errors as `{"error": "invalid_request", "detail": one line, "fields":
    {path: [messages]}}`; a body that is not an object at all has the path "body"."""
    fields: dict[str, list[str]] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                name = "body" if key == "non_field_errors" and not path else key
                walk(child, f"{path}.{name}" if path else name)
        elif isinstance(node, list) and node and not isinstance(node[0], dict | list):
            fields.setdefault(path or "body", []).extend(str(m) for m in node)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")
        else:
            fields.setdefault(path or "body", []).append(str(node))

    walk(detail, "")
    summary = "; ".join(f"{path}: {' '.join(messages)}" for path, messages in fields.items())
    return {"error": "invalid_request", "detail": summary, "fields": fields}
