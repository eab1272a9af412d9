"""Logging staff into the admin in tests: a password session alone is refused everywhere in
the admin (a second factor is required), so tests log in with both."""

from __future__ import annotations


def login_verified(client, user):
    """Log ``user`` into the test ``client`` with a verified second factor: a confirmed TOTP
    device (made if the user has none) recorded in the session, as after a real login.
    Returns the client."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = (TOTPDevice.objects.filter(user=user, confirmed=True).first()
              or TOTPDevice.objects.create(user=user, name="test authenticator",
                                           confirmed=True))
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
