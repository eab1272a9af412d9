"""URLs of the merchant consent page (see consent/views.py)."""

urlpatterns: list = []
