"""A local stand-in for Twilio's Messages REST API, for tests and benchmarks.

The real `twilio` SDK is pointed at it (``TWILIO_API_BASE``) and talks to it over HTTP, so the
SDK's request building, authentication and error handling all run. It answers like Twilio:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded ``To``, ``Body``,
  ``MessagingServiceSid``, ``StatusCallback``) -> 201 with the Message resource (JSON);
  400 with Twilio's error body for a bad number (21211) or an empty body (21602); 401 for a
  wrong account or token (20003); 429 (20429) above its rate (a token bucket, like a
  Messaging Service's throughput limit).
- ``GET .../Messages/{Sid}.json`` (404, 20404, when unknown) and ``GET .../Messages.json``
  filtered by ``To`` and ``DateSent>`` / ``DateSent<`` / ``DateSent``.

It can be told to misbehave, one request at a time, in the order given (``add_faults``, or
``POST /_standin/faults`` with ``{"faults": [...]}``): ``{"status": 429}`` / ``500`` / ``503``
(``"accept": true`` stores the message anyway, as a 5xx after Twilio queued it would),
``{"status": 400}`` (21610, a recipient who unsubscribed: refused for good),
``{"delay": 3.0, "accept": true}`` (answers late: a client timeout). With ``callbacks`` it
posts ``sent`` then ``delivered`` to each message's StatusCallback, signed like Twilio
(``X-Twilio-Signature``, computed by the SDK's own RequestValidator).

It counts what it accepted (``/_standin/stats``: accepted, rate-limited, the raw rate between
its first and last acceptance) and lists every message it holds (``/_standin/messages``), so
tests count sends here, not in our database.

Run alone: ``python -m consent.sms.standin --port 8201 --rate 500``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import email.utils
import json
import queue
import re
import threading
import time
import uuid
from base64 import b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

API = "/2010-04-01/Accounts/"
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class StandinState:
    def __init__(self, *, account_sid: str, auth_token: str, rate: float | None,
                 callbacks: bool):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.rate = rate
        self.callbacks = callbacks
        self.lock = threading.Lock()
        self.messages: dict[str, dict] = {}
        self.faults: collections.deque = collections.deque()
        self.accepted = 0
        self.rate_limited = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        # A burst of a tenth of a second at most, so the rate it reports is its steady rate.
        self._capacity = max(1.0, (rate or 0) / 10)
        self._tokens = self._capacity
        self._refilled = time.monotonic()
        self.callback_queue: queue.Queue = queue.Queue()

    def take_token(self) -> bool:
        if not self.rate:
            return True
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def stats(self) -> dict:
        with self.lock:
            span = (self.last_at - self.first_at) if self.first_at and self.last_at else 0
            return {"accepted": self.accepted, "rate_limited": self.rate_limited,
                    "held": len(self.messages), "span_seconds": span,
                    "raw_rate": (self.accepted - 1) / span if span > 0 else 0.0}

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.faults.clear()
            self.accepted = self.rate_limited = 0
            self.first_at = self.last_at = None


def _rfc2822(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=False).replace("-0000", "+0000")


def _twilio_error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stalls
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    # --- plumbing ---

    def _send(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self, account_sid: str) -> bool:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == state.account_sid == account_sid and password == state.auth_token

    def _resource(self, msg: dict) -> dict:
        state = self.server.state
        uri = f"{API}{state.account_sid}/Messages/{msg['sid']}.json"
        return {
            "account_sid": state.account_sid, "api_version": "2010-04-01",
            "body": msg["body"], "date_created": _rfc2822(msg["created"]),
            "date_sent": _rfc2822(msg["created"]), "date_updated": _rfc2822(msg["updated"]),
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": None, "messaging_service_sid": msg["messaging_service_sid"],
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": msg["sid"], "status": msg["status"], "subresource_uris": {},
            "to": msg["to"], "uri": uri,
        }

    # --- routes ---

    def do_GET(self) -> None:  # noqa: N802
        state = self.server.state
        parts = urlsplit(self.path)
        if parts.path == "/_standin/stats":
            return self._send(200, state.stats())
        if parts.path == "/_standin/messages":
            with state.lock:
                return self._send(200, {"messages": list(state.messages.values())})
        match = re.fullmatch(API + r"([^/]+)/Messages(?:/([^/]+))?\.json", parts.path)
        if not match:
            return self._send(404, _twilio_error(404, 20404, "Not found"))
        if not self._authorised(match.group(1)):
            return self._send(401, _twilio_error(401, 20003, "Authenticate"))
        if match.group(2):
            with state.lock:
                msg = state.messages.get(match.group(2))
            if msg is None:
                return self._send(404, _twilio_error(
                    404, 20404, f"The requested resource {parts.path} was not found"))
            return self._send(200, self._resource(msg))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        after = _date_filter(query.get("DateSent>"))
        before = _date_filter(query.get("DateSent<"))
        on = _date_filter(query.get("DateSent"))
        with state.lock:
            found = [m for m in state.messages.values()
                     if ("To" not in query or m["to"] == query["To"])
                     and (after is None or m["created"] >= after)
                     and (before is None or m["created"] < before + 86400)
                     and (on is None or on <= m["created"] < on + 86400)]
        page_size = int(query.get("PageSize", 50))
        uri = f"{API}{match.group(1)}/Messages.json"
        self._send(200, {
            "messages": [self._resource(m) for m in found[:page_size]],
            "end": max(0, min(len(found), page_size) - 1), "first_page_uri": uri,
            "next_page_uri": None, "page": 0, "page_size": page_size,
            "previous_page_uri": None, "start": 0, "uri": uri,
        })

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        parts = urlsplit(self.path)
        raw = self._body()
        if parts.path == "/_standin/faults":
            faults = json.loads(raw or b"{}").get("faults", [])
            with state.lock:
                state.faults.extend(faults)
            return self._send(200, {"queued_faults": len(state.faults)})
        if parts.path == "/_standin/reset":
            state.reset()
            return self._send(200, {"reset": True})
        match = re.fullmatch(API + r"([^/]+)/Messages\.json", parts.path)
        if not match:
            return self._send(404, _twilio_error(404, 20404, "Not found"))
        if not self._authorised(match.group(1)):
            return self._send(401, _twilio_error(401, 20003, "Authenticate"))
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        with state.lock:
            fault = state.faults.popleft() if state.faults else None
            limited = fault is None and not state.take_token()
            if limited:
                state.rate_limited += 1
        if limited:
            return self._send(429, _twilio_error(429, 20429, "Too Many Requests"))
        to, body = form.get("To", ""), form.get("Body", "")
        if not _E164.match(to):
            return self._send(400, _twilio_error(
                400, 21211, f"The 'To' number {to} is not a valid phone number."))
        if not body:
            return self._send(400, _twilio_error(400, 21602, "Message body is required."))
        status = fault.get("status") if fault else None
        if status == 429:
            with state.lock:
                state.rate_limited += 1
            return self._send(429, _twilio_error(429, 20429, "Too Many Requests"))
        if status and 400 <= status < 500:
            return self._send(status, _twilio_error(
                status, 21610, "Attempt to send to unsubscribed recipient"))
        msg = None
        if fault is None or fault.get("accept"):
            msg = self._store(form)
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))  # the client gives up first: a timeout
        if status and status >= 500:
            return self._send(status, _twilio_error(status, 20500, "Internal Server Error"))
        if msg is None:  # a fault that drops the message and still answers: not used
            return self._send(503, _twilio_error(503, 20503, "Service Unavailable"))
        self._send(201, self._resource(msg))

    def _store(self, form: dict) -> dict:
        state = self.server.state
        now = time.time()
        msg = {"sid": "SM" + uuid.uuid4().hex, "to": form.get("To", ""),
               "body": form.get("Body", ""), "status": "accepted",
               "messaging_service_sid": form.get("MessagingServiceSid"),
               "status_callback": form.get("StatusCallback", ""), "created": now,
               "updated": now}
        with state.lock:
            state.messages[msg["sid"]] = msg
            state.accepted += 1
            state.first_at = state.first_at or time.monotonic()
            state.last_at = time.monotonic()
        if state.callbacks and msg["status_callback"]:
            state.callback_queue.put(msg)
        return msg


def _date_filter(value: str | None) -> float | None:
    if not value:
        return None
    day = dt.date.fromisoformat(value[:10])
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    state: StandinState

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up
            super().handle_error(request, client_address)


def signed_headers(url: str, params: dict, auth_token: str) -> dict:
    """The headers of a POST of ``params`` to ``url`` signed as Twilio signs its webhooks."""
    return {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded"}


def _callback_loop(state: StandinState) -> None:
    while True:
        msg = state.callback_queue.get()
        if msg is None:
            return
        for status in ("sent", "delivered"):
            params = {"MessageSid": msg["sid"], "SmsSid": msg["sid"], "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": state.account_sid, "To": msg["to"],
                      "MessagingServiceSid": msg["messaging_service_sid"] or "",
                      "ApiVersion": "2010-04-01"}
            msg["status"] = status
            url = msg["status_callback"]
            if not url.startswith(("http://", "https://")):
                continue
            try:
                requests.post(url, data=urlencode(params), timeout=5,
                              headers=signed_headers(url, params, state.auth_token))
            except requests.RequestException:
                pass  # Twilio gives up too; the lookup settles what a callback did not


class StandinServer:
    """The stand-in in a background thread: ``with StandinServer() as standin: standin.url``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 account_sid: str = "AC" + "0" * 32,
                 auth_token: str = "standin-token",  # noqa: S107 - the stand-in's own, not a secret
                 rate: float | None = None, callbacks: bool = False):
        self.state = StandinState(account_sid=account_sid, auth_token=auth_token, rate=rate,
                                  callbacks=callbacks)
        self.httpd = _Server((host, port), _Handler)
        self.httpd.state = self.state
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.messages.values())

    def add_faults(self, *faults: dict) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def start(self) -> StandinServer:
        self.threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True),
                        threading.Thread(target=_callback_loop, args=(self.state,),
                                         daemon=True)]
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.state.callback_queue.put(None)
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8201)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="standin-token")
    parser.add_argument("--rate", type=float, default=None,
                        help="messages/s accepted before answering 429 (default: no limit)")
    parser.add_argument("--callbacks", action="store_true",
                        help="post signed status callbacks (sent, delivered)")
    args = parser.parse_args(argv)
    server = StandinServer(host=args.host, port=args.port, account_sid=args.account_sid,
                           auth_token=args.auth_token, rate=args.rate, callbacks=args.callbacks)
    server.start()
    print(f"twilio stand-in on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
