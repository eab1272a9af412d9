"""OAuth2 bearer tokens for the operator API, without DRF parsing the body first.

django-oauth-toolkit reads ``request.POST`` to look for a token in a form body; on a DRF
request that runs the parsers, which refuses NDJSON/CSV batches (415) and would read a large
body before its size is checked. Handing it the plain Django request avoids both: Django
reads no body for a non-form content type, and a bearer header is all we accept anyway; for
a form body the check is shown no body at all (`_HeaderOnly`).
"""

from __future__ import annotations

from django.http import QueryDict
from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class _HeaderOnly:
    """The Django request as the token check sees it: everything but the body. DOT reads
    ``request.POST`` for a token in a form body; on a malformed multipart body that read
    fails (Django's 400) before the API can answer 404 for a plan the caller may not see."""

    POST = QueryDict()

    def __init__(self, request):
        self.__dict__["_wrapped"] = request

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)  # oauth2_error, for the 401's challenge


class OperatorOAuth2Authentication(OAuth2Authentication):
    def authenticate(self, request):
        return super().authenticate(_HeaderOnly(getattr(request, "_request", request)))
