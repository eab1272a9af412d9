"""The monthly review's sign-offs. The access entries themselves are audit events."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccessReview(models.Model):
    """One month's access log reviewed and signed off by a privacy officer.

    The sign-off is also an audit event (`access.review_signed`, in the same transaction):
    this row is what the dashboard and the review page read, and the unique month lets the
    database refuse a second sign-off of the same month by two officers at once.
    """

    month = models.DateField("점검 월 (month, first day)", unique=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+", verbose_name="점검자")
    signed_at = models.DateTimeField("점검 시각")
    note = models.TextField("점검 의견", blank=True)
    accounts = models.PositiveIntegerField("계정 수", default=0)
    flagged = models.PositiveIntegerField("확인이 필요한 계정 수", default=0)
    summary_sha256 = models.CharField("점검표 해시 (CSV SHA-256)", max_length=64)

    class Meta:
        verbose_name = "접근 기록 월간 점검"
        verbose_name_plural = "접근 기록 월간 점검"
        ordering = ["-month"]
        # Signing is adding a row; nobody changes or deletes one.
        default_permissions = ("add", "view")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} 점검"
