"""The field catalogue, who controls each field, and the disputes and rulings about it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from governance.models.operators import Operator
from governance.models.subjects import DataSubject


class Field(models.Model):
    """One field of a merchant or user record, in the catalogue."""

    class Category(models.TextChoices):
        IDENTITY = "identity", "식별 (identity)"
        CONTACT = "contact", "연락처 (contact)"
        BUSINESS = "business", "사업 정보 (business)"
        FINANCIAL = "financial", "금융 (financial)"
        TRANSACTION = "transaction", "거래 (transaction)"
        OPERATIONAL = "operational", "운영 (operational)"

    class Sensitivity(models.TextChoices):
        LOW = "low", "낮음 (low)"
        MEDIUM = "medium", "보통 (medium)"
        HIGH = "high", "높음 (high)"

    class DataType(models.TextChoices):
        TEXT = "text", "문자열"
        PHONE = "phone", "전화번호"
        BRN = "brn", "사업자등록번호"
        INTEGER = "integer", "정수"
        MONEY = "money", "금액(원)"
        DATE = "date", "날짜"
        JSON = "json", "JSON"

    key = models.CharField("키 (key)", max_length=80, unique=True)
    subject_kind = models.CharField("정보주체 유형", max_length=16,
                                    choices=DataSubject.Kind.choices)
    label_ko = models.CharField("항목명", max_length=100)
    label_en = models.CharField("항목명 (English)", max_length=100)
    category = models.CharField("분류 (category)", max_length=16, choices=Category.choices)
    personal = models.BooleanField("개인정보 여부 (personal under PIPA)")
    sensitivity = models.CharField("민감도", max_length=8, choices=Sensitivity.choices,
                                   default=Sensitivity.LOW)
    fides_category = models.CharField("fideslang 분류", max_length=100, blank=True)
    data_type = models.CharField("자료형", max_length=16, choices=DataType.choices,
                                 default=DataType.TEXT)
    position = models.PositiveSmallIntegerField("순서", default=0)

    class Meta:
        verbose_name = "항목 (field)"
        verbose_name_plural = "항목 카탈로그 (field catalogue)"
        ordering = ["subject_kind", "position", "key"]

    def __str__(self) -> str:
        return f"{self.label_ko} ({self.key})"


class FieldOwnership(models.Model):
    """Who controls a field, and who processes it for the controller, on what ground."""

    field = models.ForeignKey(Field, on_delete=models.PROTECT, related_name="ownerships",
                              verbose_name="항목")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="ownerships",
                                 verbose_name="사업자")
    role = models.CharField("역할", max_length=16, choices=Operator.Role.choices)
    ground = models.TextField("근거 (ground)", blank=True)
    evidence = models.TextField("증빙 (evidence)", blank=True)
    since = models.DateField("시작일", null=True, blank=True)
    until = models.DateField("종료일", null=True, blank=True)
    ruling = models.ForeignKey("Ruling", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="ownerships", verbose_name="결정에 따름")

    class Meta:
        verbose_name = "항목 관리 주체 (ownership)"
        verbose_name_plural = "항목 관리 주체 (ownership)"
        ordering = ["field", "role", "-since"]

    def __str__(self) -> str:
        return f"{self.field.key}: {self.operator.code} ({self.role})"


class OwnershipDispute(models.Model):
    """A disagreement over who controls some fields, possibly referred to the commission."""

    class Status(models.TextChoices):
        OPEN = "open", "진행 중 (open)"
        REFERRED = "referred", "위원회 회부 (referred)"
        RULED = "ruled", "결정됨 (ruled)"
        WITHDRAWN = "withdrawn", "철회 (withdrawn)"

    UNSETTLED = (Status.OPEN, Status.REFERRED)

    title = models.CharField("제목", max_length=200)
    fields = models.ManyToManyField(Field, related_name="disputes", verbose_name="대상 항목")
    claimant = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="주장자 (claimant)")
    claimant_ground = models.TextField("주장자 근거")
    counter_claimant = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                         verbose_name="상대방 (counter-claimant)")
    counter_ground = models.TextField("상대방 근거", blank=True)
    opened_on = models.DateField("제기일")
    referred_on = models.DateField("위원회 회부일", null=True, blank=True)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "관리 주체 분쟁 (dispute)"
        verbose_name_plural = "관리 주체 분쟁 (disputes)"
        ordering = ["-opened_on"]

    def __str__(self) -> str:
        return self.title


class Ruling(models.Model):
    """An authority's answer to a dispute: who controls the disputed fields."""

    dispute = models.OneToOneField(OwnershipDispute, on_delete=models.PROTECT,
                                   related_name="ruling", verbose_name="분쟁")
    authority = models.CharField("결정 기관", max_length=200)
    decided_on = models.DateField("결정일")
    reference = models.CharField("문서 번호 (reference)", max_length=100, blank=True)
    controller = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                   verbose_name="관리 주체 (controller)")
    processor = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                  null=True, blank=True, verbose_name="수탁자 (processor)")
    outcome = models.TextField("결정 요지 (outcome)")
    effect = models.TextField("변경 사항 (what it changes)", blank=True)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "결정 (ruling)"
        verbose_name_plural = "결정 (rulings)"
        ordering = ["-decided_on"]

    def __str__(self) -> str:
        return f"{self.authority} {self.decided_on} {self.reference}".strip()
