"""Settlement: refunds instead of moving, and the evidence that every won of the accepted
balance has a disposition.

Business rules live in `settlement.services` (writes) and `settlement.selectors` (reads).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.models import DataSubject, Operator, OperatorKey, TransferPlan


class RefundCase(models.Model):
    """A user who objected to the move asked for the balance back instead: the outgoing
    operator owes them ``amount`` (the balance in the record it uploaded, never a typed
    figure) and confirms the refund with a signed statement of its own."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "환불 요청 (requested)"
        REFUNDED = "refunded", "환불 완료 (refunded)"

    class Channel(models.TextChoices):
        WEB = "web", "이용자 화면 (web)"
        PHONE = "phone", "전화 — 담당자 기록 (phone, recorded by an officer)"

    public_id = models.UUIDField("환불 건 ID", default=uuid.uuid4, unique=True, editable=False)
    # The plan version the accepted record was uploaded under (its amount comes from there).
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    lineage = models.UUIDField("계획 계보 (lineage)", db_index=True)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+",
                                verbose_name="정보주체")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="환불할 사업자 (outgoing operator)")
    amount = models.BigIntegerField("환불 금액 (원, 수락된 레코드의 잔액)")
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.REQUESTED, db_index=True)
    channel = models.CharField("요청 경로", max_length=16, choices=Channel.choices)
    # Why an officer opened it from a call (kept here, never in the audit log).
    reason = models.TextField("사유 (전화 요청)", blank=True)
    officer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="+", verbose_name="기록한 담당자")
    requested_at = models.DateTimeField("요청 시각", default=timezone.now)
    # The operator's signed confirmation, kept whole (exact bytes and signature).
    refunded_at = models.DateTimeField("환불 시각 (사업자 서명)", null=True, blank=True)
    reference = models.CharField("사업자 환불 참조번호", max_length=64, blank=True)
    confirmation_key = models.ForeignKey(OperatorKey, on_delete=models.PROTECT, null=True,
                                         blank=True, related_name="+", verbose_name="서명 키")
    confirmation_nonce = models.CharField("nonce", max_length=64, null=True, blank=True,
                                          unique=True)
    confirmation_payload = models.BinaryField("서명된 확인 (정확한 바이트)", blank=True,
                                              default=b"")
    confirmation_signature = models.BinaryField("서명 (Ed25519)", blank=True, default=b"")
    confirmed_at = models.DateTimeField("확인 수신 시각", null=True, blank=True)

    class Meta:
        verbose_name = "환불 건 (refund case)"
        verbose_name_plural = "환불 건 (refund cases)"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["lineage", "subject"],
                                    name="settlement_refund_one_per_subject"),
        ]

    def __str__(self) -> str:
        return f"환불 {str(self.public_id)[:8]} ({self.get_status_display()})"
