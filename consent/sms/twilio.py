"""Twilio through its own SDK: a Messaging Service SID and a status-callback URL per message.

``api_base`` points the SDK at another server (the local stand-in in tests and benchmarks):
the SDK's ``api`` domain keeps its base URL in ``client.api.base_url``, and every Messages
call is built from it, so the real request and response code runs unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from consent.sms.base import FoundMessage, LookupUnavailable, OutgoingSms, SendOutcome, SendResult

# The SDK logs every request's parameters at INFO: the number and the body with its live
# token. Only its warnings go to our logs.
_quiet = logging.getLogger("consent.sms.twilio_http")
_quiet.setLevel(logging.WARNING)


class TwilioProvider:
    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, messaging_service_sid: str,
                 api_base: str | None = None, rate_per_second: int = 100,
                 timeout: float = 10.0):
        if not (account_sid and auth_token and messaging_service_sid):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                             "TWILIO_MESSAGING_SERVICE_SID must be set for SMS_PROVIDER=twilio")
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messaging_service_sid = messaging_service_sid
        self.api_base = api_base
        self.rate_per_second = rate_per_second
        self.timeout = timeout
        self._local = threading.local()  # a requests Session per sending thread

    @property
    def client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(self.account_sid, self.auth_token,
                            http_client=TwilioHttpClient(timeout=self.timeout, logger=_quiet))
            if self.api_base:
                client.api.base_url = self.api_base.rstrip("/")
            self._local.client = client
        return client

    def send(self, message: OutgoingSms) -> SendResult:
        kwargs = {"to": message.to, "body": message.body,
                  "messaging_service_sid": self.messaging_service_sid}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            if exc.status == 429:
                return SendResult(SendOutcome.RATE_LIMITED, error_code=code)
            if exc.status >= 500:
                return SendResult(SendOutcome.UNKNOWN, error_code=code)
            return SendResult(SendOutcome.REJECTED, error_code=code)
        except requests.exceptions.RequestException as exc:
            if _never_connected(exc):
                # The connection never opened: the request cannot have reached Twilio.
                return SendResult(SendOutcome.RATE_LIMITED, error_code="connect")
            # Read timeout, reset mid-response: it may have been accepted.
            return SendResult(SendOutcome.UNKNOWN, error_code="timeout")
        return SendResult(SendOutcome.ACCEPTED, sid=created.sid, status=created.status or "")

    def find(self, *, to: str, since: dt.datetime,
             body_matches: Callable[[str], bool]) -> FoundMessage | None:
        try:
            for found in self.client.messages.stream(
                    to=to, date_sent_after=since - dt.timedelta(days=1), page_size=50):
                if found.body and body_matches(found.body):
                    return FoundMessage(sid=found.sid, status=found.status or "")
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise LookupUnavailable(str(exc)) from exc
        return None


def _never_connected(exc: requests.exceptions.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return (isinstance(exc, requests.exceptions.ConnectionError)
            and not isinstance(exc, requests.exceptions.ReadTimeout)
            and "NewConnectionError" in repr(exc.args))
