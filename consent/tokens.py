"""Personal link tokens: random, short enough for an SMS, stored only as a hash.

A token is 16 random bytes (128 bits) in URL-safe base64: 22 characters. The database holds
its SHA-256 only; an unsalted hash is enough because the token itself has 128 bits of
entropy (there is nothing to brute-force), and it lets a lookup use a unique index.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentLink, ConsentRequest

TOKEN_BYTES = 16
# What a well-formed token looks like; anything else is refused before touching the database.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
LINK_PATH_PREFIX = "/c/"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{LINK_PATH_PREFIX}{token}"


@dataclass(frozen=True)
class IssuedLink:
    link: ConsentLink
    token: str  # the only copy: goes into one SMS and is then forgotten

    @property
    def url(self) -> str:
        return link_url(self.token)


@transaction.atomic
def link_issue(*, request: ConsentRequest) -> IssuedLink:
    """A fresh link for ``request``, valid until the request expires."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ConsentLink.objects.create(request=request, token_hash=token_hash(token),
                                      expires_at=request.expires_at)
    return IssuedLink(link=link, token=token)


def link_resolve(token: str) -> ConsentLink | None:
    """The live link for ``token``, or None for a malformed, unknown, revoked or expired one.

    Callers show the same page for every None, so a visitor learns nothing about whether a
    subject or a request exists.
    """
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    link = (ConsentLink.objects.select_related("request__campaign__plan", "request__subject")
            .filter(token_hash=token_hash(token)).first())
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        return None
    return link
