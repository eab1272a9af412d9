"""The user's refund page, next to the consent page (/c/<token>/refund)."""

from django.urls import path

from settlement import views

app_name = "settlement"

urlpatterns = [
    path("c/<str:token>/refund", views.refund, name="refund"),
]
