"""The public privacy page: /privacy (current) and /privacy/<sha256> (any version)."""

from django.urls import path, re_path

from governance import views

app_name = "governance"

urlpatterns = [
    path("privacy", views.privacy, name="privacy"),
    re_path(r"^privacy/$", views.privacy),
    re_path(r"^privacy/(?P<text_hash>[0-9a-fA-F]{64})$", views.privacy_version,
            name="privacy_version"),
]
