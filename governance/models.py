"""The data map: operators and their keys, data subjects, the field catalogue, ownership,
disputes and rulings, transfer plans with a legal basis per field, the per-plan-version
consent state of each subject, and the Decree Art. 15 provision register.

Business rules live in `governance.services` (writes), `governance.selectors` (reads) and
`governance.policy` (the pure decision); models only hold data and small derived properties.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.crypto import EncryptedTextField


def new_public_id() -> str:
    """A pseudonymous id for audit events, URLs and releases (never derived from the subject):
    24 hex digits, the creation time in milliseconds then 48 random bits, like a UUIDv7.

    Why time first: a bulk upload creates two million of them, and random keys scatter the
    inserts over a unique index far larger than memory (measured: a third of the cost of
    writing a subject at that size); ids that grow with time are appended at its end. It
    tells no more than when the broker first saw the subject; it is not a secret (consent
    links carry their own tokens)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


class EqualityIndex(models.Index):
    """An index for equality lookups only: a hash index on PostgreSQL, a B-tree elsewhere.

    For keyed hashes (blind indexes) of millions of subjects: a B-tree of random 64-digit keys
    is several times larger than memory and each insert lands on a random page (measured:
    half the cost of writing a subject at 2.3 million); a hash index stores 4-byte hash codes.
    Give it a condition that leaves out the empty value: a hash index puts equal keys in one
    bucket chain, which every insert of that key walks."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING hash"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


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
