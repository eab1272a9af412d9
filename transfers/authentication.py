"""OAuth2 bearer tokens for the operator API, without DRF parsing the body first.

django-oauth-toolkit reads ``request.POST`` to look for a token in a form body; on a DRF
request that runs the parsers, which refuses NDJSON/CSV batches (415) and would read a large
body before its size is checked. Handing it the plain Django request avoids both: Django
reads no body for a non-form content type, and a bearer header is all we accept anyway.
"""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class OperatorOAuth2Authentication(OAuth2Authentication):
    def authenticate(self, request):
        return super().authenticate(getattr(request, "_request", request))
