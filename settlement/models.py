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
from transfers.models import SignedSubmission


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


class PartyRole(models.TextChoices):
    """Who may declare figures for a plan (governance names them on the plan)."""

    SOURCE = "source", "이전 운영사 (source)"
    SUBCONTRACTOR = "subcontractor", "이전 운영사의 재수탁자 (subcontractor)"
    CITY = "city", "서울시 발행 원장 (the city's issuance ledger)"
    RECIPIENT = "recipient", "신규 운영사 (recipient)"


class PartyDeclaration(SignedSubmission):
    """A declaring party's own totals for a plan, as of a date, signed with its registered
    key and kept whole: counts per kind, the balance sum and the issuance-fee sum."""

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="신고 기관")
    role = models.CharField("역할", max_length=16, choices=PartyRole.choices)
    as_of = models.DateField("기준일")
    subjects = models.JSONField("유형별 건수", default=dict)
    balance_sum = models.BigIntegerField("상품권 잔액 합계 (원)")
    fee_sum = models.BigIntegerField("발행 수수료 합계 (원)")

    class Meta:
        verbose_name = "기관별 신고 합계 (party declaration)"
        verbose_name_plural = "기관별 신고 합계 (party declarations)"
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.as_of} ({self.operator.code})"


class BalanceList(SignedSubmission):
    """A declaring party's per-subject balance list for a plan: a signed manifest (line count
    and the SHA-256 of the body), then the body (CSV: external_id,balance,fee), compared with
    the accepted records once it has arrived."""

    class Status(models.TextChoices):
        AWAITING_BODY = "awaiting_body", "본문 대기 (awaiting body)"
        COMPARED = "compared", "비교 완료 (compared)"

    public_id = models.UUIDField("목록 ID", default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="제출 기관")
    role = models.CharField("역할", max_length=16, choices=PartyRole.choices)
    as_of = models.DateField("기준일")
    line_count = models.PositiveIntegerField("행 수")
    body_sha256 = models.CharField("본문 SHA-256", max_length=64)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.AWAITING_BODY)
    compared_at = models.DateTimeField("비교 시각", null=True, blank=True)
    # What the comparison found: {"matching": n, "differing": n, "only_accepted": n,
    # "only_listed": n, "difference_sum": won (listed - accepted, over differing subjects),
    # "listed_balance_sum": won, "listed_fee_sum": won}.
    summary = models.JSONField("비교 결과 요약", default=dict, blank=True)

    class Meta:
        verbose_name = "정보주체별 잔액 목록 (balance list)"
        verbose_name_plural = "정보주체별 잔액 목록 (balance lists)"
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} 잔액 목록 {self.as_of} ({str(self.public_id)[:8]})"


class BalanceListLine(models.Model):
    """One line of a balance list as the party sent it (loaded in bulk: settlement.bulk)."""

    balance_list = models.ForeignKey(BalanceList, on_delete=models.CASCADE, related_name="+",
                                     db_index=False, db_constraint=False)
    external_id = models.CharField(max_length=64)
    balance = models.BigIntegerField()
    fee = models.BigIntegerField()

    class Meta:
        verbose_name = "잔액 목록 행"
        verbose_name_plural = "잔액 목록 행"
        constraints = [
            models.UniqueConstraint(fields=["balance_list", "external_id"],
                                    name="settlement_balance_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.balance}"


class BalanceDifference(models.Model):
    """A subject on which a balance list and the accepted records disagree, or that only one
    of them has (written by the comparison, settlement.bulk.balance_list_compare)."""

    class Kind(models.TextChoices):
        DIFFERS = "differs", "금액 다름 (amounts differ)"
        ONLY_ACCEPTED = "only_accepted", "수락 레코드에만 있음 (only in the accepted records)"
        ONLY_LISTED = "only_listed", "목록에만 있음 (only in the list)"

    balance_list = models.ForeignKey(BalanceList, on_delete=models.CASCADE,
                                     related_name="differences", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_id = models.CharField(max_length=64)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, null=True,
                                related_name="+", db_constraint=False, db_index=False)
    accepted_balance = models.BigIntegerField(null=True)
    listed_balance = models.BigIntegerField(null=True)
    listed_fee = models.BigIntegerField(null=True)

    class Meta:
        verbose_name = "잔액 차이 (balance difference)"
        verbose_name_plural = "잔액 차이 (balance differences)"
        indexes = [models.Index(fields=["balance_list", "id"],
                                name="settlement_difference_page")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.external_id}"


class SettlementStatement(models.Model):
    """The plan's settlement statement, made once the disposition is clean: its exact bytes
    (JSON: counts, balances moved, refunded and held, fees, each party's figures), which each
    party co-signs with its registered key."""

    public_id = models.UUIDField("명세서 ID", default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name="계획 버전")
    content = models.BinaryField("명세서 (정확한 바이트, JSON)")
    sha256 = models.CharField("SHA-256", max_length=64)
    created_by = models.CharField("작성자", max_length=80)
    created_at = models.DateTimeField("작성 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "정산 명세서 (settlement statement)"
        verbose_name_plural = "정산 명세서 (settlement statements)"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"정산 명세서 {str(self.public_id)[:8]} ({self.plan})"


class StatementSignature(SignedSubmission):
    """One party's co-signature of a statement: the payload it signed (naming the statement
    and its SHA-256), kept whole."""

    statement = models.ForeignKey(SettlementStatement, on_delete=models.PROTECT,
                                  related_name="signatures", verbose_name="명세서")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+",
                                 verbose_name="서명 기관")
    role = models.CharField("역할", max_length=16, choices=PartyRole.choices)
    signed_at = models.DateTimeField("서명 시각 (기관)")

    class Meta:
        verbose_name = "명세서 서명 (statement signature)"
        verbose_name_plural = "명세서 서명 (statement signatures)"
        ordering = ["statement", "id"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "role"],
                                    name="settlement_statement_one_signature_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} 서명 ({self.operator.code})"
