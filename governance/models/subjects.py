"""Data subjects: the merchants and users an operator holds, with their contact encrypted."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from governance.crypto import EncryptedTextField
from governance.models.common import EqualityIndex, new_public_id
from governance.models.operators import Operator


class DataSubject(models.Model):
    """A merchant or a user, keyed by its id at the operator that holds its record."""

    class Kind(models.TextChoices):
        MERCHANT = "merchant", "가맹점 (merchant)"
        USER = "user", "이용자 (user)"

    kind = models.CharField("유형 (kind)", max_length=16, choices=Kind.choices)
    # No index of its own: the unique (source operator, kind, external id) index serves every
    # lookup by operator.
    source_operator = models.ForeignKey(Operator, on_delete=models.PROTECT, db_index=False,
                                        related_name="subjects", verbose_name="보유 사업자")
    external_id = models.CharField("보유 사업자의 ID (external id)", max_length=64)
    public_id = models.CharField("가명 ID (public id)", max_length=32, unique=True,
                                 default=new_public_id, editable=False)
    phone = EncryptedTextField("연락처 (암호화)", blank=True, default="")
    phone_index = models.CharField("연락처 검색 색인", max_length=64, blank=True)
    # Compared with the hash of what a merchant types, never searched: no index (each one costs
    # a write per subject of a bulk upload).
    brn_hash = models.CharField("사업자등록번호 해시", max_length=64, blank=True)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)
    updated_at = models.DateTimeField("변경 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "정보주체 (data subject)"
        verbose_name_plural = "정보주체 (data subjects)"
        constraints = [
            models.UniqueConstraint(fields=["source_operator", "kind", "external_id"],
                                    name="governance_subject_unique_external_id"),
        ]
        indexes = [
            # Who sent this SMS reply, whose number opted out: equality only.
            EqualityIndex(fields=["phone_index"], condition=~models.Q(phone_index=""),
                          name="governance_subject_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.public_id}"
