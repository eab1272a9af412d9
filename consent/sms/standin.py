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

A share of messages can be made undeliverable (``undelivered_share``, ``--undelivered-share``
or ``STANDIN_UNDELIVERED_SHARE``, 0-1): those get ``sent`` then ``undelivered`` (error 30003,
unreachable handset) instead of ``delivered``. Which ones is decided by a hash, not at random,
so a run can be repeated: by default of the recipient's number (a dead handset stays dead, its
reminders are undelivered too), or with ``undelivered_by="attempt"`` of the number and how
many messages it has had (a retry may get through); ``undelivered_seed`` picks another set.

It counts what it accepted (``/_standin/stats``: accepted, rate-limited, the raw rate between
its first and last acceptance) and lists every message it holds (``/_standin/messages``), so
tests count sends here, not in our database.

Run alone: ``python -m consent.sms.standin --port 8201 --rate 500 [--callbacks
--undelivered-share 0.1]``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import email.utils
import hashlib
import json
import os
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


UNDELIVERED_ERROR = "30003"  # Twilio: unreachable destination handset
UNDELIVERED_BY = ("number", "attempt")


def undeliverable(key: str, *, share: float, seed: str = "") -> bool:
    """Whether the message keyed ``key`` is one of the ``share`` that cannot be delivered:
    the first 64 bits of SHA-256 over seed and key, as a fraction of 2**64."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


class StandinState:
    def __init__(self, *, account_sid: str, auth_token: str, rate: float | None,
                 callbacks: bool, undelivered_share: float = 0.0, undelivered_seed: str = "",
                 undelivered_by: str = "number"):
        if not 0 <= undelivered_share <= 1:
            raise ValueError("undelivered_share is a fraction between 0 and 1")
        if undelivered_by not in UNDELIVERED_BY:
            raise ValueError(f"undelivered_by is one of {UNDELIVERED_BY}")
        self.account_sid, self.auth_token = account_sid, auth_token
        self.rate = rate
        self.callbacks = callbacks
        self.undelivered_share = undelivered_share
        self.undelivered_seed = undelivered_seed
        self.undelivered_by = undelivered_by
        self.sent_to: collections.Counter = collections.Counter()  # messages per number
        self.undelivered = 0
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
                    "held": len(self.messages), "undelivered": self.undelivered,
                    "span_seconds": span,
                    "raw_rate": (self.accepted - 1) / span if span > 0 else 0.0}

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.faults.clear()
            self.sent_to.clear()
            self.accepted = self.rate_limited = self.undelivered = 0
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
            "direction": "outbound-api", "error_code": msg.get("error_code"),
            "error_message": None,
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
            to = msg["to"]
            state.sent_to[to] += 1
            key = to if state.undelivered_by == "number" else f"{to}#{state.sent_to[to]}"
            msg["fate"] = ("undelivered" if undeliverable(
                key, share=state.undelivered_share, seed=state.undelivered_seed)
                else "delivered")
            state.undelivered += msg["fate"] == "undelivered"
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
        for status in ("sent", msg.get("fate", "delivered")):
            params = {"MessageSid": msg["sid"], "SmsSid": msg["sid"], "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": state.account_sid, "To": msg["to"],
                      "MessagingServiceSid": msg["messaging_service_sid"] or "",
                      "ApiVersion": "2010-04-01"}
            if status == "undelivered":
                params["ErrorCode"] = msg["error_code"] = UNDELIVERED_ERROR
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
                 rate: float | None = None, callbacks: bool = False,
                 undelivered_share: float = 0.0, undelivered_seed: str = "",
                 undelivered_by: str = "number"):
        self.state = StandinState(account_sid=account_sid, auth_token=auth_token, rate=rate,
                                  callbacks=callbacks, undelivered_share=undelivered_share,
                                  undelivered_seed=undelivered_seed,
                                  undelivered_by=undelivered_by)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8201)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="standin-token")
    parser.add_argument("--rate", type=float, default=None,
                        help="messages/s accepted before answering 429 (default: no limit)")
    parser.add_argument("--callbacks", action="store_true",
                        help="post signed status callbacks (sent, then delivered or "
                             "undelivered)")
    parser.add_argument("--undelivered-share", type=float,
                        default=float(os.environ.get("STANDIN_UNDELIVERED_SHARE") or 0),
                        help="fraction 0-1 of messages answered 'undelivered' instead of "
                             "'delivered' (env STANDIN_UNDELIVERED_SHARE; default 0)")
    parser.add_argument("--undelivered-seed",
                        default=os.environ.get("STANDIN_UNDELIVERED_SEED", ""),
                        help="picks another reproducible set (env STANDIN_UNDELIVERED_SEED)")
    parser.add_argument("--undelivered-by", choices=UNDELIVERED_BY,
                        default=os.environ.get("STANDIN_UNDELIVERED_BY", "number"),
                        help="number: a number is always or never reached (default); "
                             "attempt: each message to a number decided on its own")
    return parser


def server_from_args(argv: list[str] | None = None) -> StandinServer:
    """The stand-in the command line (and the STANDIN_* environment) describes, not started."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.undelivered_share <= 1:
        parser.error("--undelivered-share is a fraction between 0 and 1")
    return StandinServer(host=args.host, port=args.port, account_sid=args.account_sid,
                         auth_token=args.auth_token, rate=args.rate, callbacks=args.callbacks,
                         undelivered_share=args.undelivered_share,
                         undelivered_seed=args.undelivered_seed,
                         undelivered_by=args.undelivered_by)


def main(argv: list[str] | None = None) -> None:
    server = server_from_args(argv).start()
    share = server.state.undelivered_share
    print(f"twilio stand-in on {server.url}"
          + (f", {share:.0%} undelivered" if share else ""), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
