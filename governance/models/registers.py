"""The registers: provisions to third parties (Decree Art. 15), entrustment changes (Art. 26)
and the published versions of the privacy policy."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from governance.models.operators import Operator
from governance.models.plans import TransferPlan


class ProvisionRecord(models.Model):
    """Decree Art. 15 register: one row per provision of personal data to a third party
    (PIPA Art. 17): the outgoing operator's own data, on consent, on notice with its
    business (Art. 27) or by law. A move between a controller's processors is not a
    provision: it is an `EntrustmentRecord`."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="provisions",
                             verbose_name="계획 버전")
    recipient = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                  verbose_name="제공받는 자 (recipient)")
    file_name = models.CharField("개인정보파일 명칭", max_length=200)
    purpose = models.TextField("제공 목적")
    statutory_ground = models.TextField("법적 근거")
    items = models.JSONField("제공 항목", default=list)
    # Field key -> the statutory ground of that item (the grounds above, item by item).
    item_grounds = models.JSONField("항목별 법적 근거", default=dict, blank=True)
    subject_count = models.PositiveIntegerField("정보주체 수", default=0)
    provided_from = models.DateTimeField("제공 일시 (시작)")
    provided_until = models.DateTimeField("제공 일시 (종료)", null=True, blank=True)
    method = models.CharField("제공 방법", max_length=200)
    recipient_limits = models.TextField("수령자에 대한 제한", blank=True)
    reference = models.CharField("참조 (release id 등)", max_length=100, blank=True,
                                 db_index=True)
    created_at = models.DateTimeField("기록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "제3자 제공 기록 (provision register)"
        verbose_name_plural = "제3자 제공 대장 (Decree Art. 15 register)"
        ordering = ["-provided_from", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.recipient.code}"


class EntrustmentRecord(models.Model):
    """One change of entrustment (PIPA Art. 26): a controller's data handed by its processor
    back to it or on to the processor it appointed next, under the controller's plan. Kept
    apart from the provision register: nobody provided the data to a third party."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT,
                             related_name="entrustments", verbose_name="계획 버전")
    controller = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                   verbose_name="위탁자 (controller)")
    from_processor = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                       verbose_name="종전 수탁자 (outgoing processor)")
    to_processor = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                     verbose_name="새 수탁자 또는 위탁자 (incoming)")
    file_name = models.CharField("개인정보파일 명칭", max_length=200)
    entrusted_work = models.TextField("위탁 업무 (entrusted work)")
    items = models.JSONField("이전 항목", default=list)
    item_grounds = models.JSONField("항목별 근거", default=dict, blank=True)
    subject_count = models.PositiveIntegerField("정보주체 수", default=0)
    started_at = models.DateTimeField("이전 일시 (시작)")
    ended_at = models.DateTimeField("이전 일시 (종료)", null=True, blank=True)
    method = models.CharField("이전 방법", max_length=200)
    reference = models.CharField("참조 (release id 등)", max_length=100, blank=True,
                                 db_index=True)
    created_at = models.DateTimeField("기록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "위탁 변경 기록 (entrustment change)"
        verbose_name_plural = "위탁 변경 기록 (PIPA Art. 26 entrustment changes)"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name}: {self.from_processor.code} → {self.to_processor.code}"


class PrivacyPolicyVersion(models.Model):
    """One published version of the public privacy page (개인정보 처리방침, PIPA Art. 30),
    rendered from the plans and the catalogue. The SHA-256 of ``text`` names it: receipts
    cite the version and hash they were issued under, and the page shows both."""

    version = models.PositiveIntegerField("판 (version)", unique=True)
    text = models.TextField("본문")
    text_hash = models.CharField("본문 SHA-256", max_length=64, unique=True)
    published_at = models.DateTimeField("게시 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "개인정보 처리방침 판 (privacy policy version)"
        verbose_name_plural = "개인정보 처리방침 판 (privacy policy versions)"
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"개인정보 처리방침 제{self.version}판"
