"""URLs of the SMS provider webhooks (see consent/webhooks.py)."""

urlpatterns: list = []
