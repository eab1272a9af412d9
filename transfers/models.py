"""Moving the data: operator API clients, uploads, stored records, releases, acknowledgements
and deletion notices after a withdrawal.

Business rules live in `transfers.services` (writes) and `transfers.selectors` (reads).
"""

from __future__ import annotations

import sys
import uuid
from array import array

from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from governance.crypto import EncryptedBytesField, EncryptedTextField
from governance.models import DataSubject, Operator, OperatorKey, TransferPlan


class OperatorClient(models.Model):
    """Links an OAuth2 client (django-oauth-toolkit Application) to the operator it acts for."""

    # swappable=False: the project keeps DOT's own Application model (no swap setting).
    application = models.OneToOneField(oauth2_settings.APPLICATION_MODEL, swappable=False,
                                       on_delete=models.CASCADE, related_name="operator_client",
                                       verbose_name="OAuth2 클라이언트")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="api_clients",
                                 verbose_name="사업자")
    # Optional: where deletion notices (withdrawal after release) are also POSTed.
    webhook_url = models.URLField("웹훅 URL (삭제 요청 알림)", blank=True)
    active = models.BooleanField("사용", default=True)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "사업자 API 클라이언트"
        verbose_name_plural = "사업자 API 클라이언트"

    def __str__(self) -> str:
        return f"{self.operator.code} ({self.application.client_id})"


class Upload(models.Model):
    """The outgoing operator's records for one plan version, sent in batches."""

    class Status(models.TextChoices):
        OPEN = "open", "수신 중 (open)"
        COMPLETE = "complete", "완료 (complete)"

    public_id = models.UUIDField("업로드 ID", default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="uploads",
                             verbose_name="계획 버전")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="제공자")
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.OPEN)
    # What the source says it sent: {"subjects": {"merchant": n, "user": n},
    # "certificate_balance_sum": won}. Set at creation or completion.
    declared_totals = models.JSONField("제공자 신고 합계", default=dict, blank=True)
    accepted_count = models.PositiveIntegerField("수락 건수", default=0)
    rejected_count = models.PositiveIntegerField("거부 건수", default=0)
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False)
    completed_at = models.DateTimeField("완료 시각", null=True, blank=True)

    class Meta:
        verbose_name = "업로드"
        verbose_name_plural = "업로드"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"업로드 {self.public_id} ({self.plan})"


class UploadBatch(models.Model):
    """One batch of an upload. The batch id is the sender's; re-sending it changes nothing."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="batches",
                               verbose_name="업로드")
    batch_id = models.CharField("배치 ID", max_length=64)
    content_sha256 = models.CharField("본문 SHA-256", max_length=64)
    line_count = models.PositiveIntegerField("행 수", default=0)
    accepted_count = models.PositiveIntegerField("수락 건수", default=0)
    rejected_count = models.PositiveIntegerField("거부 건수", default=0)
    # Rejected rows: [{"line", "field", "code", "message"}]; never the rejected values.
    rejections = models.JSONField("거부 내역", default=list, blank=True)
    # Totals of the accepted rows, kept here so reconciliation never scans or decrypts
    # records: {"merchant": n, "user": n}, {field key: n}, and the balance sum in won.
    kind_counts = models.JSONField("유형별 수락 건수", default=dict, blank=True)
    field_counts = models.JSONField("항목별 수락 건수", default=dict, blank=True)
    balance_sum = models.BigIntegerField("상품권 잔액 합계 (원)", default=0)
    # Accepted rows that answered an open correction request (they replaced a record).
    corrected_count = models.PositiveIntegerField("정정 건수", default=0)
    created_at = models.DateTimeField("수신 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "업로드 배치"
        verbose_name_plural = "업로드 배치"
        ordering = ["upload", "id"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "batch_id"],
                                    name="transfers_batch_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}"


class RecordBlock(models.Model):
    """Up to a thousand accepted records of one batch and kind, in subject order, as one
    Fernet token (format: `transfers.blocks`). One token per block instead of per record:
    the token's fixed cost was most of an upload's and a release's time."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, related_name="blocks",
                              verbose_name="배치")
    kind = models.CharField("유형", max_length=16, choices=DataSubject.Kind.choices)
    first_subject_id = models.BigIntegerField("첫 정보주체 ID")
    last_subject_id = models.BigIntegerField("마지막 정보주체 ID")
    record_count = models.PositiveIntegerField("레코드 수")
    records = EncryptedBytesField("레코드 (암호화)")

    class Meta:
        verbose_name = "수신 레코드 블록"
        verbose_name_plural = "수신 레코드 블록"

    def __str__(self) -> str:
        return f"{self.kind} {self.first_subject_id}-{self.last_subject_id}"


class Record(models.Model):
    """One accepted row: who it is about, the non-personal numbers that control totals need
    (so totals never decrypt anything), and the block that holds its values encrypted.

    Written only by `transfers.services.uploads.records_store`, in the transaction that creates
    the batch, the block and the subjects, with ids it has just read or created: the database
    does not check these keys again (each check cost a probe per record at commit, about a
    tenth of a bulk upload). Deleting a subject or a plan through Django is still refused
    (PROTECT) while records refer to it.
    """

    # No index of its own: the unique (plan, subject) index serves every lookup by plan.
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전", db_index=False, db_constraint=False)
    # No index on the upload nor on the subject alone: every query of records is by plan (and
    # subject), and nothing deletes uploads or subjects; each index cost every row of an upload.
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="records",
                               verbose_name="업로드", db_index=False, db_constraint=False)
    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, related_name="records",
                              verbose_name="배치", db_index=False, db_constraint=False)
    block = models.ForeignKey(RecordBlock, on_delete=models.CASCADE, related_name="+",
                              verbose_name="블록", db_index=False, db_constraint=False)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+",
                                verbose_name="정보주체", db_index=False, db_constraint=False)
    kind = models.CharField("유형", max_length=16, choices=DataSubject.Kind.choices)
    line = models.PositiveIntegerField("행 번호")
    certificate_balance = models.BigIntegerField("상품권 잔액 (원)", null=True, blank=True)

    class Meta:
        verbose_name = "수신 레코드"
        verbose_name_plural = "수신 레코드"
        constraints = [
            # Duplicates across batches (and concurrent batches) are settled here.
            models.UniqueConstraint(fields=["plan", "subject"],
                                    name="transfers_record_unique_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_id} (line {self.line})"


class Release(models.Model):
    """One release of a plan to its recipient: the subjects releasable at ``as_of`` that no
    earlier release carried (or whose releasable fields grew), encrypted to the recipient."""

    class Status(models.TextChoices):
        PENDING = "pending", "대기 (pending)"
        READY = "ready", "준비됨 (ready)"
        FAILED = "failed", "실패 (failed)"

    public_id = models.UUIDField("릴리스 ID", default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="releases",
                             verbose_name="계획 버전")
    number = models.PositiveIntegerField("순번")
    recipient = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                  verbose_name="수령자")
    recipient_key = models.ForeignKey(OperatorKey, on_delete=models.PROTECT, related_name="+",
                                      verbose_name="수령자 암호화 키")
    rehearsal = models.BooleanField("리허설", default=False)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.PENDING, db_index=True)
    as_of = models.DateTimeField("판단 기준 시각")
    record_count = models.PositiveIntegerField("레코드 수", default=0)
    chunk_count = models.PositiveIntegerField("청크 수", default=0)
    manifest = models.BinaryField("manifest.json (정확한 바이트)", blank=True, default=b"")
    manifest_sha256 = models.CharField("manifest SHA-256", max_length=64, blank=True)
    signature = models.BinaryField("manifest.sig (Ed25519)", blank=True, default=b"")
    error = models.TextField("오류", blank=True)
    attempts = models.PositiveIntegerField("시도 횟수", default=0)
    requested_by = models.CharField("요청자", max_length=80)
    created_at = models.DateTimeField("요청 시각", default=timezone.now, editable=False)
    completed_at = models.DateTimeField("완료 시각", null=True, blank=True)

    class Meta:
        verbose_name = "릴리스"
        verbose_name_plural = "릴리스"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"],
                                    name="transfers_release_unique_number"),
        ]

    def __str__(self) -> str:
        stamp = " [REHEARSAL]" if self.rehearsal else ""
        return f"릴리스 #{self.number} ({self.plan}){stamp}"


class ReleaseGroup(models.Model):
    """The subjects one chunk of a release carried with the same fields: one row per (chunk,
    field set) rather than one per subject, written with the release. A release is written in
    subject order, so each chunk's subjects all come after the previous chunk's."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="groups",
                                verbose_name="릴리스")
    chunk = models.PositiveIntegerField("청크 번호")
    fields = models.JSONField("제공 항목")
    # Ascending, as 8-byte little-endian integers (`pack_ids`): nothing for the database to
    # parse; first and last repeated as columns so a lookup by subject can skip the rest.
    subject_ids = models.BinaryField("정보주체 ID 목록")
    first_subject_id = models.BigIntegerField("첫 정보주체 ID")
    last_subject_id = models.BigIntegerField("마지막 정보주체 ID")
    subject_count = models.PositiveIntegerField("정보주체 수")

    class Meta:
        verbose_name = "릴리스 항목 묶음"
        verbose_name_plural = "릴리스 항목 묶음"
        indexes = [models.Index(fields=["release", "chunk"])]

    def __str__(self) -> str:
        return f"{self.release_id}/{self.chunk}: {self.subject_count}"

    @staticmethod
    def pack_ids(subject_ids: list[int]) -> bytes:
        packed = array("q", subject_ids)
        if sys.byteorder != "little":
            packed.byteswap()
        return packed.tobytes()

    @staticmethod
    def unpack_ids(raw: bytes | memoryview) -> array:
        ids = array("q")
        ids.frombytes(bytes(raw))
        if sys.byteorder != "little":
            ids.byteswap()
        return ids


class SignedSubmission(models.Model):
    """What every submission an operator signs keeps whole: the key that verified it, its
    nonce (unique: a replay is refused by the database), the exact payload bytes and the
    Ed25519 signature over them (`transfers.services.signing.signed_bytes`), and when it
    arrived."""

    key = models.ForeignKey(OperatorKey, on_delete=models.PROTECT, related_name="+",
                            verbose_name="서명 키")
    nonce = models.CharField("nonce", max_length=64, unique=True)
    payload = models.BinaryField("서명된 본문 (정확한 바이트)")
    signature = models.BinaryField("서명 (Ed25519)")
    received_at = models.DateTimeField("수신 시각", default=timezone.now, editable=False)

    class Meta:
        abstract = True


class Acknowledgement(SignedSubmission):
    """The recipient's signed totals for a release (its own count of what it received)."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT,
                                related_name="acknowledgements", verbose_name="릴리스")
    totals = models.JSONField("수령자 합계")
    matches = models.BooleanField("릴리스와 일치")
    mismatches = models.JSONField("불일치 항목", default=list, blank=True)

    class Meta:
        verbose_name = "수령 확인 (acknowledgement)"
        verbose_name_plural = "수령 확인 (acknowledgements)"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.release} 확인 {self.received_at:%Y-%m-%d %H:%M}"


class DeletionNotice(models.Model):
    """A released subject withdrew or objected: the recipient must delete the listed fields
    and confirm. Unconfirmed notices are shown to officers."""

    class Reason(models.TextChoices):
        WITHDRAWN = "withdrawn", "동의 철회 (withdrawn)"
        OBJECTED = "objected", "이전 거부 (objected)"
        DENIED = "denied", "제공 근거 소멸 (no longer allowed)"

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    recipient = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                  verbose_name="수령자")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+",
                                verbose_name="정보주체")
    fields = models.JSONField("삭제할 항목")
    reason = models.CharField("사유", max_length=16, choices=Reason.choices)
    # The consent state change this notice answers (one notice per change, however often
    # the feed is computed).
    state_updated_at = models.DateTimeField("동의 상태 변경 시각")
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False)
    webhook_sent_at = models.DateTimeField("웹훅 전송 시각", null=True, blank=True)
    confirmed_at = models.DateTimeField("삭제 확인 시각", null=True, blank=True)

    class Meta:
        verbose_name = "삭제 요청 (withdrawal after release)"
        verbose_name_plural = "삭제 요청 (withdrawal after release)"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "subject", "state_updated_at"],
                                    name="transfers_deletion_unique_change"),
        ]

    def __str__(self) -> str:
        return f"삭제 요청 {self.pk} ({self.get_reason_display()})"


class DeletionScan(models.Model):
    """How far the search for deletions owed has got, per plan lineage: each search looks
    only at consent states changed since the previous one (and at everything since the
    decisions of a release it has not seen yet), so a poll at the cut-over does not re-read
    every merchant who answered after the first release."""

    lineage = models.UUIDField("계획 계보 (lineage)", unique=True)
    scanned_at = models.DateTimeField("마지막 검사 시각")

    class Meta:
        verbose_name = "삭제 대상 검사 (deletion scan)"
        verbose_name_plural = "삭제 대상 검사 (deletion scans)"

    def __str__(self) -> str:
        return f"deletion scan {self.lineage} @ {self.scanned_at:%Y-%m-%d %H:%M}"


class NoticeAttestation(SignedSubmission):
    """The outgoing operator's signed word that its own notice (an in-app notice, a letter)
    reached the subjects it lists: kept whole (the exact payload and its Ed25519 signature),
    so the commission can check each `NoticeEvidence` it produced against the operator's
    registered key. The nonce is unique: the same attestation sent twice is refused."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="제공자")
    signed_at = models.DateTimeField("서명 시각")
    line_count = models.PositiveIntegerField("확인 건수")
    subject_count = models.PositiveIntegerField("정보주체 수")
    # {"in_app": n, "post": n}: how the operator says its notice reached them.
    channel_counts = models.JSONField("경로별 건수", default=dict)

    class Meta:
        verbose_name = "운영사 고지 확인 (notice attestation)"
        verbose_name_plural = "운영사 고지 확인 (notice attestations)"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.operator.code} 고지 확인 {self.received_at:%Y-%m-%d %H:%M}"


class ApplyReport(SignedSubmission):
    """The recipient's signed list of released records it could not apply (load), each with a
    reason: kept whole (the exact payload and its Ed25519 signature), like an acknowledgement.
    Each listed record becomes a `Correction` the source is asked to answer."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="apply_reports",
                                verbose_name="릴리스")
    signed_at = models.DateTimeField("서명 시각")
    record_count = models.PositiveIntegerField("적용 실패 건수")
    # {"qr_unknown": n, ...}: no personal value, only counts per reason.
    reason_counts = models.JSONField("사유별 건수", default=dict)

    class Meta:
        verbose_name = "적용 실패 보고 (apply report)"
        verbose_name_plural = "적용 실패 보고 (apply reports)"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.release} 적용 실패 {self.record_count}건"


class Correction(models.Model):
    """A released record the recipient could not apply, routed to the source as a correction
    request: open until the source uploads a corrected row for the subject, corrected until a
    release carries the corrected record, then carried."""

    class Reason(models.TextChoices):
        QR_UNKNOWN = "qr_unknown", "QR ID 미확인 (qr_unknown)"
        QR_DUPLICATE = "qr_duplicate", "QR ID 중복 (qr_duplicate)"
        ACCOUNT_INVALID = "account_invalid", "계좌 오류 (account_invalid)"
        PHONE_UNREACHABLE = "phone_unreachable", "연락 불가 (phone_unreachable)"
        OTHER = "other", "기타 (other)"

    class Status(models.TextChoices):
        OPEN = "open", "정정 요청 (open)"
        CORRECTED = "corrected", "정정됨 (corrected)"
        CARRIED = "carried", "재제공됨 (carried)"

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+",
                                verbose_name="정보주체")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="corrections",
                                verbose_name="적용 실패 릴리스")
    report = models.ForeignKey(ApplyReport, on_delete=models.PROTECT,
                               related_name="corrections", verbose_name="적용 실패 보고")
    reason = models.CharField("사유", max_length=24, choices=Reason.choices)
    # The recipient's words for `other` (may name a value: encrypted, never audited).
    text = EncryptedTextField("설명 (암호화)", blank=True, default="")
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField("요청 시각", default=timezone.now, editable=False)
    corrected_at = models.DateTimeField("정정 시각", null=True, blank=True)
    corrected_batch = models.ForeignKey(UploadBatch, on_delete=models.PROTECT, null=True,
                                        blank=True, related_name="+",
                                        verbose_name="정정 배치")
    carried_by = models.ForeignKey(Release, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name="재제공 릴리스")

    class Meta:
        verbose_name = "정정 요청 (correction)"
        verbose_name_plural = "정정 요청 (corrections)"
        ordering = ["id"]
        constraints = [
            # One outstanding correction per subject and plan: a second report of the same
            # record adds nothing until the first is carried.
            models.UniqueConstraint(fields=["plan", "subject"],
                                    condition=~models.Q(status="carried"),
                                    name="transfers_correction_one_outstanding"),
        ]
        indexes = [models.Index(fields=["plan", "status"])]

    def __str__(self) -> str:
        return f"정정 요청 {self.pk} ({self.reason}, {self.status})"


class QrMerchantId(models.Model):
    """Which subject holds a QR merchant id (MPM) at the source operator: kept as a keyed
    hash (governance.crypto.blind_index), never the id, so an upload can refuse a QR id
    another merchant already holds (the 2022 move had QR codes scanned as someone else's)."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="보유 사업자")
    qr_index = models.CharField("QR ID 색인", max_length=64)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+",
                                verbose_name="정보주체")

    class Meta:
        verbose_name = "QR 가맹점 ID 보유 (QR merchant id holder)"
        verbose_name_plural = "QR 가맹점 ID 보유 (QR merchant id holders)"
        constraints = [
            models.UniqueConstraint(fields=["operator", "qr_index"],
                                    name="transfers_qr_id_one_holder"),
        ]

    def __str__(self) -> str:
        return f"QR {self.qr_index[:8]}… → {self.subject_id}"
