"""Gives every request an id, echoed in X-Request-ID and stamped on its audit events."""

from __future__ import annotations

import re
import uuid

from audit.context import current_request_id

# A caller's own id is kept only if it is a UUID (with or without hyphens): a free-form id
# of letters, digits and hyphens let a caller write "010-9999-8888" into the permanent log.
_SAFE_REQUEST_ID = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        offered = offered.lower()
        request_id = offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
