"""Evidence that a plan's Art. 27 notice reached a subject, and the earliest such per subject."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from governance.models.subjects import DataSubject


class NoticeChannel(models.TextChoices):
    """How an Art. 27 notice reached a subject: each is evidence about that subject."""

    LMS = "lms", "장문 문자 수신 확인 (LMS delivered)"
    LINK = "link", "고지 링크 열람 (notice link opened)"
    OPERATOR = "operator", "운영사 고지 — 서명된 확인 (operator's signed attestation)"
    PHONE = "phone", "전화 고지 — 담당자 기록 (phone call, recorded by an officer)"


class NoticeEvidence(models.Model):
    """One piece of evidence that the Art. 27 notice of a plan lineage reached one subject.

    Immutable: kept whole for the commission, however many pieces a subject has. The
    earliest one is mirrored into `SubjectNotice`, which the policy reads."""

    lineage = models.UUIDField("계획 계보 (lineage)")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT,
                                related_name="notice_evidence", verbose_name="정보주체")
    channel = models.CharField("경로", max_length=16, choices=NoticeChannel.choices)
    notified_at = models.DateTimeField("고지 도달 시각")
    # What proves it, without personal values: an SMS id, a link's request id, the
    # attestation's nonce, the officer's record id.
    reference = models.CharField("근거 (reference)", max_length=100)
    recorded_by = models.CharField("기록자", max_length=64)
    reason = models.TextField("사유 (담당자 기록 시)", blank=True)
    recorded_at = models.DateTimeField("기록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "고지 도달 증거 (notice evidence)"
        verbose_name_plural = "고지 도달 증거 (notice evidence)"
        ordering = ["-recorded_at"]
        constraints = [
            # The same proof recorded twice (a webhook retried) is one piece of evidence.
            models.UniqueConstraint(fields=["lineage", "subject", "channel", "reference"],
                                    name="governance_notice_evidence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.notified_at:%Y-%m-%d %H:%M}"


class SubjectNotice(models.Model):
    """When and how the notice of a plan lineage first reached one subject (the earliest
    `NoticeEvidence`): the start of that subject's own notice period."""

    lineage = models.UUIDField("계획 계보 (lineage)")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT,
                                related_name="notices", verbose_name="정보주체")
    notified_at = models.DateTimeField("최초 고지 도달 시각")
    channel = models.CharField("경로", max_length=16, choices=NoticeChannel.choices)
    updated_at = models.DateTimeField("변경 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "정보주체 고지 도달 (subject notified)"
        verbose_name_plural = "정보주체 고지 도달 (subjects notified)"
        constraints = [
            models.UniqueConstraint(fields=["lineage", "subject"],
                                    name="governance_subject_notice_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.lineage}/{self.subject_id}"
