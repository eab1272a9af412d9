"""The merchants' pages (consent/views/) and the SMS provider's webhooks (consent/webhooks.py)."""

from django.urls import include, path

app_name = "consent"

urlpatterns = [
    # Owned by the page: /c/<token> and the steps after it.
    path("", include("consent.page_urls")),
    # Owned by the SMS side: /sms/twilio/status, /sms/twilio/inbound.
    path("sms/", include("consent.webhook_urls")),
]
