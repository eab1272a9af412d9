"""SMS providers behind one small interface (`consent.sms.base`).

`provider()` returns the configured one: `console` (the embedded default: an outbox file) or
`twilio` (the real SDK; in tests and benchmarks pointed at `consent.sms.standin`).
"""

from __future__ import annotations

from django.conf import settings

from consent.sms.base import (  # noqa: F401 - re-exported
    FoundMessage,
    LookupUnavailable,
    OutgoingSms,
    SendOutcome,
    SendResult,
    SmsProvider,
)

_cache: dict[tuple, SmsProvider] = {}


def provider() -> SmsProvider:
    """The provider named by settings.SMS_PROVIDER (one instance per configuration)."""
    name = settings.SMS_PROVIDER
    key = (name, settings.TWILIO_API_BASE, settings.TWILIO_ACCOUNT_SID,
           str(settings.SMS_OUTBOX_FILE), settings.SMS_SEND_RATE_PER_SECOND,
           settings.TWILIO_HTTP_TIMEOUT)
    if key not in _cache:
        if name == "console":
            from consent.sms.console import ConsoleProvider

            _cache[key] = ConsoleProvider(outbox=settings.SMS_OUTBOX_FILE,
                                          rate_per_second=settings.SMS_SEND_RATE_PER_SECOND)
        elif name == "twilio":
            from consent.sms.twilio import TwilioProvider

            _cache[key] = TwilioProvider(
                account_sid=settings.TWILIO_ACCOUNT_SID, auth_token=settings.TWILIO_AUTH_TOKEN,
                messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
                api_base=settings.TWILIO_API_BASE or None,
                rate_per_second=settings.SMS_SEND_RATE_PER_SECOND,
                timeout=settings.TWILIO_HTTP_TIMEOUT)
        else:
            raise ValueError(f"unknown SMS_PROVIDER {name!r} (console | twilio)")
    return _cache[key]
