"""consent.services.identity: business number (merchants) / phone last four (users), lockout,
rate limit per address."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import ConsentRequest
from consent.services.errors import IdentityFailed, IdentityLocked, TooManyAttempts
from consent.services.identity import LOCK_MINUTES, MAX_FAILURES, identity_verify
from governance.seoul import synthetic_brn
from tests.consent.conftest import MERCHANT_BRN, USER_PHONE_LAST4

pytestmark = pytest.mark.django_db
IP = "203.0.113.7"


def _details(action):
    return [e.details for e in AuditEvent.objects.filter(action=action).order_by("id")]


def test_the_right_business_number_verifies_the_merchant(merchant_request):
    assert identity_verify(request=merchant_request, answer=MERCHANT_BRN, client_ip=IP) == "brn"
    merchant_request.refresh_from_db()
    assert merchant_request.status == ConsentRequest.Status.VERIFIED
    assert merchant_request.verified_at is not None
    [details] = _details("consent.identity_verified")
    assert details == {"request": str(merchant_request.public_id), "factor": "brn"}


@pytest.mark.parametrize("typed", [
    MERCHANT_BRN.replace("-", ""), f" {MERCHANT_BRN} ", MERCHANT_BRN.replace("-", " ")])
def test_the_business_number_may_be_typed_with_or_without_dashes(merchant_request, typed):
    assert identity_verify(request=merchant_request, answer=typed, client_ip=IP) == "brn"


@pytest.mark.parametrize("typed", [synthetic_brn(2), "123-45-67890", "abc", "", "1" * 40])
def test_a_wrong_or_malformed_number_is_just_a_failure(merchant_request, typed):
    with pytest.raises(IdentityFailed) as error:
        identity_verify(request=merchant_request, answer=typed, client_ip=IP)
    assert error.value.message == IdentityFailed.default_message  # no detail leaked
    merchant_request.refresh_from_db()
    assert merchant_request.verify_failures == 1 and merchant_request.verified_at is None
    # Exactly these details: what was typed is never recorded. (Not "typed not in
    # str(details)": the request's random id itself holds "abc" now and then.)
    [details] = _details("consent.identity_failed")
    assert details == {"request": str(merchant_request.public_id), "factor": "brn",
                       "failures": 1}


def test_five_failures_lock_the_request_for_thirty_minutes(merchant_request):
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(IdentityFailed):
            identity_verify(request=merchant_request, answer=synthetic_brn(3), client_ip=IP)
    with pytest.raises(IdentityLocked):
        identity_verify(request=merchant_request, answer=synthetic_brn(3), client_ip=IP)
    merchant_request.refresh_from_db()
    assert merchant_request.locked_until > timezone.now() + dt.timedelta(
        minutes=LOCK_MINUTES - 1)
    assert len(_details("consent.identity_locked")) == 1
    # While locked, even the right number is refused.
    with pytest.raises(IdentityLocked):
        identity_verify(request=merchant_request, answer=MERCHANT_BRN, client_ip=IP)
    # After the lock, the right number works again and the counter is clear.
    ConsentRequest.objects.filter(pk=merchant_request.pk).update(
        locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert identity_verify(request=merchant_request, answer=MERCHANT_BRN, client_ip=IP) == "brn"
    merchant_request.refresh_from_db()
    assert merchant_request.verify_failures == 0 and merchant_request.locked_until is None


def test_a_lock_on_one_request_does_not_lock_another(merchant_request, user_request):
    for _ in range(MAX_FAILURES):
        with pytest.raises((IdentityFailed, IdentityLocked)):
            identity_verify(request=merchant_request, answer="0000000000", client_ip=IP)
    assert identity_verify(request=user_request, answer=USER_PHONE_LAST4,
                           client_ip="198.51.100.1") == "phone_last4"


def test_one_address_is_rate_limited_across_links(merchant_request, settings):
    settings.CONSENT_VERIFY_RATE = "3/m"
    for _ in range(3):
        with pytest.raises(IdentityFailed):
            identity_verify(request=merchant_request, answer="0000000000", client_ip=IP)
    with pytest.raises(TooManyAttempts):
        identity_verify(request=merchant_request, answer=MERCHANT_BRN, client_ip=IP)
    # Another address is not affected.
    assert identity_verify(request=merchant_request, answer=MERCHANT_BRN,
                           client_ip="198.51.100.2") == "brn"


def test_a_user_confirms_with_the_last_four_digits_of_the_phone(user_request):
    assert identity_verify(request=user_request, answer=USER_PHONE_LAST4,
                           client_ip=IP) == "phone_last4"
    wrong = f"{(int(USER_PHONE_LAST4) + 1) % 10000:04d}"
    with pytest.raises(IdentityFailed):
        identity_verify(request=user_request, answer=wrong, client_ip=IP)
    with pytest.raises(IdentityFailed):
        identity_verify(request=user_request, answer="12345", client_ip=IP)


def test_a_merchant_without_a_stored_number_never_verifies(merchant_request, merchant):
    type(merchant).objects.filter(pk=merchant.pk).update(brn_hash="")
    with pytest.raises(IdentityFailed):
        identity_verify(request=merchant_request, answer=MERCHANT_BRN, client_ip=IP)
