"""The client's HTTP side: a client-credentials token kept fresh, JSON calls and raw
bodies, and reading the JSON and NDJSON files the commands take."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


class ClientError(Exception):
    pass


class Api:
    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 scope: str = "release:read release:ack"):
        self.base_url = base_url.rstrip("/")
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.token = ""
        self.token_expires = 0.0  # time.monotonic() after which we ask for a new token

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, bytes]:
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"not an http(s) URL: {url}")
        request = urllib.request.Request(url, data=body, method=method,  # noqa: S310
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def authenticate(self) -> None:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "scope": self.scope}).encode()
        status, data = self._request("POST", "/o/token/", body, {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise ClientError(f"token request refused ({status}): {data[:200]!r}")
        answer = json.loads(data)
        self.token = answer["access_token"]
        # Tokens are short-lived (10 minutes by default); a long upload or a wait for a bulk
        # export outlives several. Renew a minute early: a request refused half-way through
        # a large body ends in a broken pipe, not in a clean 401.
        self.token_expires = time.monotonic() + max(30, int(answer.get("expires_in", 600)) - 60)

    def bearer(self) -> dict[str, str]:
        """The Authorization header, with a token renewed first if it is about to expire."""
        if not self.token or time.monotonic() >= self.token_expires:
            self.authenticate()
        return {"Authorization": f"Bearer {self.token}"}

    def send(self, method: str, path: str, body: bytes, content_type: str,
             expect=(200, 201)) -> Any:
        """Send a raw body (an upload batch: NDJSON or CSV) and return the JSON answer."""
        status, data = self._request(method, path, body, {**self.bearer(),
                                                          "Content-Type": content_type})
        if status not in expect:
            raise ClientError(f"{method} {path} answered {status}: {data[:300]!r}")
        return json.loads(data)

    def call(self, method: str, path: str, payload: Any = None, expect=(200,)) -> bytes:
        headers = self.bearer()
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        status, data = self._request(method, path, body, headers)
        if status not in expect:
            raise ClientError(f"{method} {path} answered {status}: {data[:300]!r}")
        return data

    def json(self, method: str, path: str, payload: Any = None, expect=(200,)) -> Any:
        return json.loads(self.call(method, path, payload, expect))


def load_json(path: str) -> dict:
    return json.loads(Path(path).read_text())



def read_ndjson(path: Path):
    """The objects of an NDJSON file, one per non-blank line."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ClientError(f"{path}:{number}: not a JSON object") from exc
