"""Operators (the parties of a programme) and their signing and encryption keys."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Operator(models.Model):
    """A party of the programme: the city, or a payment operator (outgoing/incoming)."""

    class Role(models.TextChoices):
        CONTROLLER = "controller", "개인정보처리자 (controller)"
        PROCESSOR = "processor", "수탁자 (processor)"

    code = models.SlugField("코드 (code)", max_length=32, unique=True)
    name = models.CharField("이름 (name)", max_length=200)
    name_en = models.CharField("영문 이름 (English name)", max_length=200, blank=True)
    role = models.CharField("역할 (role)", max_length=16, choices=Role.choices)
    # Art. 27 notices must name the recipient and how to reach it.
    address = models.CharField("주소 (address)", max_length=300, blank=True)
    phone = models.CharField("대표 전화 (phone)", max_length=40, blank=True)
    # Receipts, notices and the privacy page (PIPA Art. 30) name whom a subject may ask.
    # A role's public contact, not a private person's: the name may be a title.
    privacy_officer_name = models.CharField("개인정보 보호책임자 (privacy officer)",
                                            max_length=200, blank=True)
    privacy_officer_contact = models.CharField("보호책임자 연락처 (privacy officer's contact)",
                                               max_length=200, blank=True)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "사업자 (operator)"
        verbose_name_plural = "사업자 (operators)"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class OperatorKey(models.Model):
    """A registered public key of an operator. Only public halves are ever stored here."""

    class Purpose(models.TextChoices):
        ENCRYPTION = "encryption", "암호화 X25519 (HPKE)"
        SIGNATURE = "signature", "서명 Ed25519"

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="keys",
                                 verbose_name="사업자")
    purpose = models.CharField("용도 (purpose)", max_length=16, choices=Purpose.choices)
    key_id = models.CharField("키 ID", max_length=32, unique=True)
    public_key = models.BinaryField("공개키 (raw 32 bytes)")
    valid_from = models.DateTimeField("유효 시작", default=timezone.now)
    valid_until = models.DateTimeField("유효 종료", null=True, blank=True)
    replaced_by = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="replaces", verbose_name="교체된 키")
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "사업자 공개키 (operator key)"
        verbose_name_plural = "사업자 공개키 (operator keys)"
        ordering = ["operator", "purpose", "-valid_from"]

    def __str__(self) -> str:
        return f"{self.operator.code} {self.purpose} {self.key_id}"

    def is_valid_at(self, at) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)
