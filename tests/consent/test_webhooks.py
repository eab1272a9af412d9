"""The provider's webhooks: only Twilio's signature gets in, once; status only moves forward."""

import time
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from consent.models import ConsentRequest, InboundSms, SmsMessage
from consent.services.campaigns import campaign_launch
from tests.consent.sms_fixtures import *  # noqa: F403

MessageStatus = SmsMessage.Status
PUBLIC = "https://consent.example.kr"


@pytest.fixture
def signed_post(client, settings):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN  # noqa: F405
    settings.PUBLIC_BASE_URL = PUBLIC

    def post(path: str, params: dict, *, url: str | None = None, token: str = TWILIO_TOKEN,  # noqa: F405
             signature: str | None = None, **headers):
        signed_url = url or PUBLIC + path
        if signature is None:
            signature = RequestValidator(token).compute_signature(signed_url, params)
        # As Twilio posts: form-encoded.
        return client.post(path, urlencode(params),
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature, **headers})
    return post


@pytest.fixture
def sent_message(merchants, campaign_for, standin, settings,
                 django_capture_on_commit_callbacks):
    merchants(1)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign_for())
    return SmsMessage.objects.get()


def _status(msg, status, **extra):
    return {"MessageSid": msg.provider_sid, "MessageStatus": status, "AccountSid": "AC1",
            **extra}


def test_a_signed_delivery_callback_marks_the_message_and_the_request_delivered(
        sent_message, signed_post):
    path = reverse("consent:sms-status") + f"?m={sent_message.pk}"
    assert signed_post(path, _status(sent_message, "delivered")).status_code == 204
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.DELIVERED
    assert sent_message.request.status == ConsentRequest.Status.DELIVERED
    assert sent_message.request.delivered_at is not None


def test_a_forged_signature_is_refused(sent_message, signed_post):
    path = reverse("consent:sms-status")
    assert signed_post(path, _status(sent_message, "failed"), token="not-our-token"
                       ).status_code == 403
    assert signed_post(path, _status(sent_message, "failed"), signature="").status_code == 403
    # Signed over other parameters than those posted: also refused.
    good = RequestValidator(TWILIO_TOKEN).compute_signature(  # noqa: F405
        PUBLIC + path, _status(sent_message, "delivered"))
    assert signed_post(path, _status(sent_message, "failed"), signature=good).status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.SUBMITTED


def test_a_replayed_request_is_refused(sent_message, signed_post):
    path = reverse("consent:sms-status")
    assert signed_post(path, _status(sent_message, "sent")).status_code == 204
    assert signed_post(path, _status(sent_message, "sent")).status_code == 403


def test_callbacks_out_of_order_never_move_a_message_backwards(sent_message, signed_post):
    path = reverse("consent:sms-status")
    signed_post(path, _status(sent_message, "delivered"))
    signed_post(path, _status(sent_message, "sent"))
    signed_post(path, _status(sent_message, "queued"))
    signed_post(path, _status(sent_message, "undelivered"))  # a terminal state stands
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.DELIVERED


def test_a_callback_settles_a_send_whose_answer_was_lost(
        merchants, campaign_for, standin, signed_post, django_capture_on_commit_callbacks):
    merchants(1)
    standin.add_faults({"status": 500, "accept": True})
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign_for())
    msg = SmsMessage.objects.get()
    assert msg.status == MessageStatus.UNKNOWN
    [held] = standin.messages
    assert held["status_callback"].endswith(f"/sms/twilio/status?m={msg.pk}")

    path = reverse("consent:sms-status") + f"?m={msg.pk}"
    signed_post(path, {"MessageSid": held["sid"], "MessageStatus": "sent"})

    msg.refresh_from_db()
    assert (msg.status, msg.provider_sid) == (MessageStatus.SENT, held["sid"])
    assert msg.request.first_sent_at is not None


def test_behind_a_tls_proxy_the_signed_public_url_is_rebuilt_from_forwarded_headers(
        sent_message, signed_post, settings):
    settings.PUBLIC_BASE_URL = "http://internal:8000"  # not what Twilio called
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["testserver", "broker.example.kr"]
    path = reverse("consent:sms-status")
    response = signed_post(path, _status(sent_message, "delivered"),
                           url="https://broker.example.kr" + path,
                           X_Forwarded_Proto="https", X_Forwarded_Host="broker.example.kr")
    assert response.status_code == 204
    # Without the forwarded headers the same signature does not match any URL we know.
    response = signed_post(path, _status(sent_message, "failed"),
                           url="https://broker.example.kr" + path)
    assert response.status_code == 403


def test_only_post_is_accepted(client):
    assert client.get(reverse("consent:sms-inbound")).status_code == 405


def test_an_inbound_reply_is_stored_once_per_message_sid(signed_post, merchants):
    params = {"MessageSid": "SMinbound1", "From": "+821099998888", "Body": "안녕하세요",
              "To": "+8215880000"}
    path = reverse("consent:sms-inbound")
    response = signed_post(path, params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert signed_post(path, params).status_code == 403  # a replay
    assert InboundSms.objects.get().outcome == InboundSms.Outcome.NEEDS_REVIEW


# PostgreSQL only: on SQLite the live server thread shares the test's in-memory connection,
# and the callbacks write through it while this thread reads.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_standins_signed_callbacks_reach_the_live_server(
        live_server, settings, merchants, campaign_for):
    from consent.sms.standin import StandinServer

    settings.PUBLIC_BASE_URL = live_server.url
    with StandinServer(account_sid="AC" + "1" * 32, auth_token=TWILIO_TOKEN,  # noqa: F405
                       callbacks=True) as server:
        settings.SMS_PROVIDER = "twilio"
        settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
        settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN  # noqa: F405
        settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "3" * 32
        settings.TWILIO_API_BASE = server.url
        merchants(3)
        campaign_launch(campaign=campaign_for())  # commits: sends in-process
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and SmsMessage.objects.filter(
                status=MessageStatus.DELIVERED).count() < 3:
            time.sleep(0.1)
    assert SmsMessage.objects.filter(status=MessageStatus.DELIVERED).count() == 3
    assert ConsentRequest.objects.filter(status="delivered").count() == 3


# --- Replays racing each other ----------------------------------------------------------


def _redis_cache() -> dict:
    """The production cache (Redis), under a key prefix of this run's own."""
    import uuid

    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": url, "KEY_PREFIX": f"test-webhooks-{uuid.uuid4().hex}"}}


@pytest.fixture(params=["in-process cache", "redis"])
def replay_cache(request, settings):
    if request.param == "redis":
        settings.CACHES = _redis_cache()
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


@pytest.fixture
def slow_status_update(monkeypatch):
    """Stands in for the status service, slowly enough that concurrent callbacks overlap;
    records each callback it is handed."""
    import threading

    handled, lock = [], threading.Lock()

    def update(**callback):
        time.sleep(0.2)
        with lock:
            handled.append(callback)

    monkeypatch.setattr("consent.webhooks.sms_status_update", update)
    return handled


def _post_at_once(path: str, params: dict, copies: int) -> list[int]:
    """``copies`` identical signed callbacks, each from its own connection, released
    together by a barrier. Returns their HTTP statuses."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.test import Client

    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path, params)  # noqa: F405
    barrier = Barrier(copies)

    def post(_):
        http = Client()
        barrier.wait()
        return http.post(path, urlencode(params),
                         content_type="application/x-www-form-urlencoded",
                         headers={"X-Twilio-Signature": signature}).status_code

    with ThreadPoolExecutor(copies) as pool:
        return sorted(pool.map(post, range(copies)))


def test_of_ten_identical_callbacks_at_once_exactly_one_is_handled(
        settings, replay_cache, slow_status_update):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN  # noqa: F405
    settings.PUBLIC_BASE_URL = PUBLIC
    params = {"MessageSid": "SMrace", "MessageStatus": "delivered", "AccountSid": "AC1"}
    statuses = _post_at_once(reverse("consent:sms-status"), params, copies=10)
    assert statuses == [204] + [403] * 9
    assert len(slow_status_update) == 1


def test_a_callback_whose_handling_failed_is_accepted_when_twilio_retries(
        signed_post, monkeypatch):
    calls = []

    def fails_once(**callback):
        calls.append(callback)
        if len(calls) == 1:
            raise RuntimeError("database went away")

    monkeypatch.setattr("consent.webhooks.sms_status_update", fails_once)
    path = reverse("consent:sms-status")
    params = {"MessageSid": "SMretry", "MessageStatus": "delivered", "AccountSid": "AC1"}
    with pytest.raises(RuntimeError):
        signed_post(path, params)
    assert signed_post(path, params).status_code == 204
    assert signed_post(path, params).status_code == 403
    assert len(calls) == 2
