"""URLs of the SMS provider webhooks (see consent/webhooks.py)."""

from django.urls import path

from consent import webhooks

urlpatterns = [
    path("twilio/status", webhooks.status_callback, name="sms-status"),
    path("twilio/inbound", webhooks.inbound_sms, name="sms-inbound"),
]
