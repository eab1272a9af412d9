"""The SMS stand-in answers `undelivered` for a configurable share of messages, the same ones
on every run, posting Twilio's signed status callback."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from consent.sms import OutgoingSms
from consent.sms.standin import StandinServer, server_from_args, undeliverable
from consent.sms.twilio import TwilioProvider

SID, TOKEN = "AC" + "7" * 32, "standin-test-token"
NUMBERS = [f"+8210{i:08d}" for i in range(40)]


class _Receiver:
    """Collects the status callbacks posted to it, with whether their signature holds."""

    def __init__(self):
        self.posts: list[tuple[dict, bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = {k: v[0] for k, v in parse_qs(body).items()}
                url = f"{receiver.url}{self.path}"
                valid = RequestValidator(TOKEN).validate(
                    url, params, self.headers.get("X-Twilio-Signature", ""))
                receiver.posts.append((params, valid))
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def final_status(self) -> dict[str, tuple[str, str]]:
        """to -> (final status, error code) of the latest message to each number."""
        return {p["To"]: (p["MessageStatus"], p.get("ErrorCode", ""))
                for p, _ok in self.posts if p["MessageStatus"] != "sent"}


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.httpd.shutdown()


def _send_all(receiver, numbers, **standin_options) -> dict:
    with StandinServer(account_sid=SID, auth_token=TOKEN, callbacks=True,
                       **standin_options) as server:
        sms = TwilioProvider(account_sid=SID, auth_token=TOKEN,
                             messaging_service_sid="MG" + "7" * 32, api_base=server.url)
        for n, to in enumerate(numbers):
            sms.send(OutgoingSms(to=to, body="[서울사랑상품권] 안내", reference=str(n),
                                 status_callback=f"{receiver.url}/status?m={n}"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(receiver.posts) < 2 * len(numbers):
            time.sleep(0.05)
        stats = server.state.stats()
    assert len(receiver.posts) == 2 * len(numbers)
    return stats


def test_the_chosen_share_is_undelivered_with_a_signed_callback_and_the_rest_delivered(
        receiver):
    stats = _send_all(receiver, NUMBERS, undelivered_share=0.5)

    final = receiver.final_status()
    undelivered = {to for to, (status, _code) in final.items() if status == "undelivered"}
    assert undelivered == {to for to in NUMBERS if undeliverable(to, share=0.5)}
    assert 5 <= len(undelivered) <= 35  # a share, not all or none
    assert {final[to] for to in undelivered} == {("undelivered", "30003")}
    assert {final[to][0] for to in set(NUMBERS) - undelivered} == {"delivered"}
    assert all(valid for _params, valid in receiver.posts)
    assert stats["undelivered"] == len(undelivered)


def test_the_same_numbers_are_undelivered_on_every_run_and_a_seed_picks_others():
    first = {to for to in NUMBERS if undeliverable(to, share=0.3)}
    assert first == {to for to in NUMBERS if undeliverable(to, share=0.3)}
    assert first != {to for to in NUMBERS if undeliverable(to, share=0.3, seed="other")}
    assert not any(undeliverable(to, share=0) for to in NUMBERS)
    assert all(undeliverable(to, share=1) for to in NUMBERS)


def test_by_number_a_retry_to_a_dead_handset_is_undelivered_again(receiver):
    dead = next(to for to in NUMBERS if undeliverable(to, share=0.5))
    _send_all(receiver, [dead, dead], undelivered_share=0.5)
    assert [p["MessageStatus"] for p, _ in receiver.posts
            if p["MessageStatus"] != "sent"] == ["undelivered", "undelivered"]


def test_by_attempt_each_message_to_a_number_is_decided_on_its_own(receiver):
    to = next(n for n in NUMBERS if undeliverable(f"{n}#1", share=0.5)
              and not undeliverable(f"{n}#2", share=0.5))
    _send_all(receiver, [to, to], undelivered_share=0.5, undelivered_by="attempt")
    finals = [p["MessageStatus"] for p, _ in receiver.posts if p["MessageStatus"] != "sent"]
    assert sorted(finals) == ["delivered", "undelivered"]


def test_the_command_line_and_the_environment_set_the_share(monkeypatch):
    server = server_from_args(["--port", "0", "--callbacks", "--undelivered-share", "0.25",
                               "--undelivered-seed", "rehearsal"])
    try:
        state = server.state
        assert (state.undelivered_share, state.undelivered_seed, state.callbacks) == (
            0.25, "rehearsal", True)
    finally:
        server.httpd.server_close()

    monkeypatch.setenv("STANDIN_UNDELIVERED_SHARE", "0.1")
    server = server_from_args(["--port", "0"])
    try:
        assert server.state.undelivered_share == 0.1
    finally:
        server.httpd.server_close()

    with pytest.raises(SystemExit):
        server_from_args(["--port", "0", "--undelivered-share", "1.5"])
