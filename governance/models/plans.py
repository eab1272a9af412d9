"""Transfer plans (versioned, approved by two officers) and their legal basis per field."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.models.catalogue import Field
from governance.models.operators import Operator


class TransferPlan(models.Model):
    """One version of a transfer plan. Versions of the same plan share a `lineage`."""

    class Status(models.TextChoices):
        DRAFT = "draft", "작성 중 (draft)"
        SUBMITTED = "submitted", "승인 요청 (submitted)"
        APPROVED = "approved", "승인됨 (approved)"
        ACTIVE = "active", "시행 중 (active)"
        COMPLETED = "completed", "완료 (completed)"
        CANCELLED = "cancelled", "취소 (cancelled)"
        SUPERSEDED = "superseded", "새 버전으로 대체 (superseded)"

    # Statuses under which data may move (approved: rehearsals and early movers; active).
    IN_FORCE = (Status.APPROVED, Status.ACTIVE)
    EDITABLE = (Status.DRAFT,)

    lineage = models.UUIDField("계획 계보 (lineage)", default=uuid.uuid4, db_index=True)
    version = models.PositiveIntegerField("버전", default=1)
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="next_versions", verbose_name="이전 버전")
    title = models.CharField("계획명", max_length=200)
    # The roles (PIPA Arts. 17, 26): the controller on whose behalf the operators process the
    # programme's data; the outgoing processor (`from_operator`) hands it to the incoming one
    # (`to_operator`); the outgoing processor's subcontractor (재수탁자), if it has one.
    controller = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                   null=True, blank=True,
                                   verbose_name="개인정보처리자 (controller)")
    from_operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                      verbose_name="이전 운영사 (outgoing)")
    to_operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                    verbose_name="새 운영사 (incoming)")
    subcontractor = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                      null=True, blank=True,
                                      verbose_name="이전 수탁자의 재수탁자 (subcontractor)")
    purpose = models.TextField("이용 목적 (고지문에 표시)")
    retention = models.CharField("보유·이용 기간 (고지문에 표시)", max_length=200)
    recipient_limits = models.TextField("수령자에 대한 제한", blank=True)
    method = models.CharField("제공 방법", max_length=200,
                              default="암호화 파일 (HPKE) API 제공")
    notice_period_days = models.PositiveIntegerField("고지 기간 (일)", default=30)
    notice_starts_at = models.DateTimeField("고지 시작", null=True, blank=True)
    cutover_at = models.DateTimeField("전환 일시 (cut-over)", null=True, blank=True)
    rehearsal = models.BooleanField("리허설", default=False)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+",
                                   verbose_name="작성자")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+",
                                     verbose_name="승인 요청자")
    submitted_at = models.DateTimeField("승인 요청 시각", null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+",
                                    verbose_name="승인자")
    approved_at = models.DateTimeField("승인 시각", null=True, blank=True)
    created_at = models.DateTimeField("작성 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "이전 계획 (transfer plan)"
        verbose_name_plural = "이전 계획 (transfer plans)"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["lineage", "version"],
                                    name="governance_plan_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    @property
    def in_force(self) -> bool:
        return self.status in self.IN_FORCE

    @property
    def notice_period(self) -> dt.timedelta:
        """The Art. 27 notice period, run per subject from its own evidence. A rehearsal plays
        weeks in minutes: a day of a plan marked rehearsal lasts ``REHEARSAL_DAY_SECONDS``
        (a day unless ``manage.py rehearse`` shortens it); a real plan's day is a day."""
        day = settings.REHEARSAL_DAY_SECONDS if self.rehearsal else 86_400
        return dt.timedelta(seconds=self.notice_period_days * day)


class FieldRule(models.Model):
    """The legal basis on which one field may move under one plan version."""

    class Basis(models.TextChoices):
        NOT_PERSONAL = "not_personal", "개인정보 아님 (not personal)"
        ENTRUSTMENT_RETURN = "entrustment_return", "위탁 반환 (PIPA Art. 26)"
        LEGAL_OBLIGATION = "legal_obligation", "법령상 의무 (legal obligation)"
        NOTICE_OPT_OUT = "notice_opt_out", "고지 후 거부권 (PIPA Art. 27)"
        CONSENT = "consent", "동의 (PIPA Art. 17)"
        PROHIBITED = "prohibited", "이전 금지 (prohibited)"

    plan = models.ForeignKey(TransferPlan, on_delete=models.CASCADE, related_name="rules",
                             verbose_name="계획")
    field = models.ForeignKey(Field, on_delete=models.PROTECT, related_name="rules",
                              verbose_name="항목")
    basis = models.CharField("법적 근거 (legal basis)", max_length=24, choices=Basis.choices)
    # For consent fields: is agreeing to this item required to take part, or optional?
    required = models.BooleanField("필수 동의 항목", default=False)
    note = models.CharField("비고", max_length=300, blank=True)

    class Meta:
        verbose_name = "항목별 이전 근거 (field rule)"
        verbose_name_plural = "항목별 이전 근거 (field rules)"
        ordering = ["plan", "field__subject_kind", "field__position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "field"], name="governance_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.field.key}: {self.basis}"
