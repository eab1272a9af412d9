"""What each subject has said for one plan version (kept current by the consent app)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from governance.models.plans import TransferPlan
from governance.models.subjects import DataSubject


class SubjectConsentState(models.Model):
    """What one subject has said for one plan version (kept current by the consent app)."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT,
                             related_name="consent_states", verbose_name="계획 버전")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT,
                                related_name="consent_states", verbose_name="정보주체")
    fields_granted = models.JSONField("동의 항목", default=list, blank=True)
    fields_declined = models.JSONField("거부 항목", default=list, blank=True)
    objected = models.BooleanField("이전 거부 (Art. 27 objection)", default=False)
    answered_at = models.DateTimeField("응답 시각", null=True, blank=True)
    withdrawn_at = models.DateTimeField("철회 시각", null=True, blank=True)
    expires_at = models.DateTimeField("동의 만료", null=True, blank=True)
    notice_hash = models.CharField("고지문 해시", max_length=64, blank=True)
    # The subject asked to move now (Art. 27 items before its notice period ends); cleared
    # when the request is withdrawn before release.
    early_requested_at = models.DateTimeField("조기 이전 요청 시각", null=True, blank=True)
    updated_at = models.DateTimeField("변경 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "정보주체 동의 상태 (consent state)"
        verbose_name_plural = "정보주체 동의 상태 (consent states)"
        constraints = [
            models.UniqueConstraint(fields=["plan", "subject"],
                                    name="governance_consent_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}/{self.subject_id}"
