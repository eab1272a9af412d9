"""Asking subjects: campaigns, consent requests and their links, the notices shown, the SMS
sent and received, and the immutable records of what each subject said.

What a subject has said *for a plan version* is summarised in
`governance.models.SubjectConsentState` (the policy reads that); the rows here are the
evidence of how and when they said it. Business rules live in `consent.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.crypto import EncryptedTextField
from governance.models import DataSubject, TransferPlan


class Campaign(models.Model):
    """One round of asking the subjects of one kind under one approved plan version."""

    class Status(models.TextChoices):
        DRAFT = "draft", "준비 중 (draft)"
        RUNNING = "running", "발송 중 (running)"
        PAUSED = "paused", "일시 중지 (paused)"
        COMPLETED = "completed", "완료 (completed)"
        CANCELLED = "cancelled", "취소 (cancelled)"

    class Audience(models.TextChoices):
        ALL = "all", "해당 유형 전체 (all of the kind)"
        FILTER = "filter", "조건 (filter)"
        LIST = "list", "업로드 명단 (uploaded list)"

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="campaigns",
                             verbose_name="이전 계획 버전")
    name = models.CharField("캠페인명", max_length=200)
    subject_kind = models.CharField("정보주체 유형", max_length=16,
                                    choices=DataSubject.Kind.choices)
    audience = models.CharField("대상", max_length=16, choices=Audience.choices,
                                default=Audience.ALL)
    # FILTER: {"external_id_prefix": "M-00"} ; LIST: {"external_ids": [...]} (ids at the
    # outgoing operator, not personal values).
    audience_filter = models.JSONField("대상 조건", default=dict, blank=True)
    # Field keys asked about: the plan's `consent` and `notice_opt_out` fields of this kind.
    items = models.JSONField("요청 항목", default=list)
    starts_at = models.DateTimeField("발송 시작", default=timezone.now)
    # No SMS between quiet_from and quiet_until o'clock, Asia/Seoul (21:00-08:00 by law/practice).
    quiet_from_hour = models.PositiveSmallIntegerField("야간 발송 금지 시작 (시)", default=21)
    quiet_until_hour = models.PositiveSmallIntegerField("야간 발송 금지 종료 (시)", default=8)
    send_rate_per_second = models.PositiveIntegerField("초당 발송 한도", default=100)
    reminder_count = models.PositiveSmallIntegerField("재안내 횟수", default=1)
    reminder_after_hours = models.PositiveIntegerField("재안내 간격 (시간)", default=48)
    expires_at = models.DateTimeField("응답 마감")
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+",
                                   verbose_name="작성자")
    # The campaign asks about Art. 27 (`notice_opt_out`) items only: each SMS is an LMS that
    # carries the whole notice, so its delivery is evidence that the notice reached the
    # subject. Set when the campaign is created (its plan and items are frozen from then on).
    carries_notice = models.BooleanField("문자에 제27조 고지 전문 포함", default=False,
                                         editable=False)
    launched_at = models.DateTimeField("시작 시각", null=True, blank=True)
    finished_at = models.DateTimeField("종료 시각", null=True, blank=True)
    created_at = models.DateTimeField("작성 시각", default=timezone.now, editable=False)
    # One sending loop per campaign at a time (its rate cap holds across workers): the loop
    # takes this lease with a conditional UPDATE and renews it; a killed worker's lease lapses.
    sender_lease_owner = models.CharField("발송 작업자", max_length=64, blank=True,
                                          editable=False)
    sender_lease_until = models.DateTimeField("발송 작업 임대 만료", null=True, blank=True,
                                              editable=False)

    class Meta:
        verbose_name = "동의 요청 캠페인 (campaign)"
        verbose_name_plural = "동의 요청 캠페인 (campaigns)"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Notice(models.Model):
    """One version of the text shown to subjects, rendered from a plan version.

    `consent` notices carry the five PIPA Art. 17(2) items; `transfer` notices the Art. 27
    items (who receives, how to object). The SHA-256 of `text` is stored with every decision
    taken on it, so a record proves exactly which words the subject read.
    """

    class Kind(models.TextChoices):
        CONSENT = "consent", "제3자 제공 동의 고지 (Art. 17(2))"
        TRANSFER = "transfer", "영업양도 등 이전 고지 (Art. 27)"

    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT, related_name="notices",
                             verbose_name="이전 계획 버전")
    subject_kind = models.CharField("정보주체 유형", max_length=16,
                                    choices=DataSubject.Kind.choices)
    kind = models.CharField("고지 유형", max_length=16, choices=Kind.choices)
    version = models.PositiveIntegerField("고지문 버전", default=1)
    items = models.JSONField("대상 항목", default=list)
    text = models.TextField("고지문")
    text_hash = models.CharField("고지문 SHA-256", max_length=64, db_index=True)
    created_at = models.DateTimeField("작성 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "고지문 (notice)"
        verbose_name_plural = "고지문 (notices)"
        ordering = ["plan", "subject_kind", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "subject_kind", "kind", "version"],
                                    name="consent_notice_unique_version"),
            models.UniqueConstraint(fields=["plan", "subject_kind", "kind", "text_hash"],
                                    name="consent_notice_unique_text"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version} ({self.text_hash[:12]})"


class ConsentRequest(models.Model):
    """One subject asked in one campaign. The funnel is read from its timestamps."""

    class Status(models.TextChoices):
        CREATED = "created", "생성 (created)"
        SENT = "sent", "발송 (sent)"
        DELIVERED = "delivered", "수신 확인 (delivered)"
        FAILED = "failed", "발송 실패 (failed)"
        OPENED = "opened", "링크 열람 (opened)"
        VERIFIED = "verified", "본인 확인 (verified)"
        ANSWERED = "answered", "응답 완료 (answered)"
        EXPIRED = "expired", "기한 만료 (expired)"
        OPTED_OUT = "opted_out", "수신 거부 (opted out)"
        CANCELLED = "cancelled", "취소 (cancelled)"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="requests",
                                 verbose_name="캠페인")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT,
                                related_name="consent_requests", verbose_name="정보주체")
    # A random pseudonymous id for audit events and receipts (never the token).
    public_id = models.UUIDField("요청 ID", default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.CREATED, db_index=True)
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False)
    first_sent_at = models.DateTimeField("최초 발송", null=True, blank=True)
    delivered_at = models.DateTimeField("수신 확인", null=True, blank=True)
    opened_at = models.DateTimeField("최초 열람", null=True, blank=True)
    verified_at = models.DateTimeField("본인 확인", null=True, blank=True)
    answered_at = models.DateTimeField("최초 응답", null=True, blank=True)
    expires_at = models.DateTimeField("응답 마감")
    reminders_sent = models.PositiveSmallIntegerField("재안내 발송 수", default=0)
    next_reminder_at = models.DateTimeField("다음 재안내", null=True, blank=True, db_index=True)
    # Identity check: failures since the last success, and the lock they caused.
    verify_failures = models.PositiveSmallIntegerField("본인 확인 실패 횟수", default=0)
    locked_until = models.DateTimeField("본인 확인 잠금 해제", null=True, blank=True)

    class Meta:
        verbose_name = "동의 요청 (consent request)"
        verbose_name_plural = "동의 요청 (consent requests)"
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "subject"],
                                    name="consent_request_one_per_subject"),
        ]

    def __str__(self) -> str:
        return f"request {self.public_id}"


class ConsentLink(models.Model):
    """A personal link sent in one SMS. Only the SHA-256 of its token is stored.

    Every SMS (the invitation, each reminder, a resend) carries a fresh token, generated just
    before the provider call, so no token is ever written down; all of a request's links stay
    valid until the request expires.
    """

    request = models.ForeignKey(ConsentRequest, on_delete=models.PROTECT, related_name="links",
                                verbose_name="동의 요청")
    token_hash = models.CharField("토큰 SHA-256", max_length=64, unique=True)
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False)
    expires_at = models.DateTimeField("만료 시각")
    revoked_at = models.DateTimeField("폐기 시각", null=True, blank=True)
    # Issued on the page after a one-time code sent to the subject's phone (`ReturnCode`),
    # never sent anywhere: short-lived, and it opens the status page (withdraw, object, move
    # early, receipts) also after the request's answer period has closed.
    via_code = models.BooleanField("인증번호로 발급", default=False, db_default=False,
                                   editable=False)

    class Meta:
        verbose_name = "개인 링크 (link)"
        verbose_name_plural = "개인 링크 (links)"

    def __str__(self) -> str:
        return f"link {self.token_hash[:12]}"


class SmsMessage(models.Model):
    """One SMS to one subject. Claimed in the database before it is sent, so it goes once.

    The body is stored with its link token redacted; the phone number is read from the
    subject (encrypted at rest) when the message is sent.
    """

    class Purpose(models.TextChoices):
        INVITATION = "invitation", "최초 안내 (invitation)"
        REMINDER = "reminder", "재안내 (reminder)"
        RESEND = "resend", "재발송 (resend)"
        CONFIRMATION = "confirmation", "처리 결과 안내 (confirmation)"

    class Status(models.TextChoices):
        QUEUED = "queued", "대기 (queued)"
        SENDING = "sending", "발송 중 (sending)"        # claimed, provider call under way
        SUBMITTED = "submitted", "발송 요청됨 (submitted)"  # provider accepted it
        SENT = "sent", "발송 (sent)"
        DELIVERED = "delivered", "수신 확인 (delivered)"
        UNDELIVERED = "undelivered", "미수신 (undelivered)"
        FAILED = "failed", "실패 (failed)"
        UNKNOWN = "unknown", "확인 필요 (unknown)"      # 5xx/timeout: never blindly resent
        SKIPPED = "skipped", "발송 안 함 (skipped)"     # opted out, no mobile number

    request = models.ForeignKey(ConsentRequest, on_delete=models.PROTECT,
                                related_name="messages", verbose_name="동의 요청")
    purpose = models.CharField("용도", max_length=16, choices=Purpose.choices)
    # 0 for the invitation, n for the n-th reminder or resend: (request, purpose, sequence)
    # is unique, so however often a task retries there is one row, hence one send.
    sequence = models.PositiveSmallIntegerField("순번", default=0)
    status = models.CharField("상태", max_length=16, choices=Status.choices,
                              default=Status.QUEUED, db_index=True)
    body_redacted = models.TextField("본문 (링크 토큰 가림)", blank=True)
    # For an LMS that carries the Art. 27 notice: the notice version it summarises (the text
    # shown on the page, `consent.notices.notice_current`) and its SHA-256, so the record
    # proves which words were sent; its delivery is notice evidence. Empty for other SMS.
    notice = models.ForeignKey("Notice", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name="고지문")
    # db_default: the set-based INSERTs of invitations and reminders leave it out.
    notice_hash = models.CharField("고지문 SHA-256", max_length=64, blank=True, default="",
                                   db_default="")
    # The link this SMS carried: a lookup at the provider finds the message by the hash of the
    # token in its body, which settles a send whose outcome we never heard (5xx, timeout, kill).
    link = models.ForeignKey(ConsentLink, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+", verbose_name="개인 링크")
    provider = models.CharField("발송 사업자", max_length=32, blank=True)
    provider_sid = models.CharField("발송 사업자 메시지 ID", max_length=64, null=True,
                                    blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField("시도 횟수", default=0)
    error_code = models.CharField("오류 코드", max_length=32, blank=True)
    claimed_by = models.CharField("처리 작업자", max_length=64, blank=True)
    claimed_at = models.DateTimeField("처리 시작", null=True, blank=True)
    not_before = models.DateTimeField("발송 가능 시각", default=timezone.now, db_index=True)
    submitted_at = models.DateTimeField("발송 요청 시각", null=True, blank=True)
    status_at = models.DateTimeField("상태 변경 시각", null=True, blank=True)
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "문자 메시지 (SMS)"
        verbose_name_plural = "문자 메시지 (SMS)"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "purpose", "sequence"],
                                    name="consent_sms_one_per_purpose"),
        ]
        # The claim walks queued rows in id order; without this it rescans every sent row.
        indexes = [models.Index(fields=["status", "id"], name="consent_sms_status_id")]

    def __str__(self) -> str:
        return f"SMS {self.purpose} #{self.sequence} ({self.status})"


class ConsentRecord(models.Model):
    """What a subject said, once, immutably: a grant/decline, a withdrawal, an objection, or a
    request to move early (and its withdrawal).

    Changing one's mind is a new record; the newest record per (plan, subject) is the current
    state, mirrored into governance's SubjectConsentState in the same transaction.
    """

    class Action(models.TextChoices):
        ANSWER = "answer", "응답 (agree/decline per item)"
        WITHDRAW = "withdraw", "동의 철회 (withdrawal)"
        OBJECT = "object", "이전 거부 (Art. 27 objection)"
        # Asked to move the Art. 27 items now, before the notice period ends; and taking
        # that request back before it was released.
        EARLY_REQUEST = "early_request", "조기 이전 요청 (asked to move now)"
        EARLY_WITHDRAW = "early_withdraw", "조기 이전 요청 철회 (early request withdrawn)"

    class Channel(models.TextChoices):
        WEB = "web", "개인 링크 (web link)"
        SMS_REPLY = "sms_reply", "문자 회신 (SMS reply)"
        PHONE = "phone", "전화 — 담당자 기록 (phone, recorded by an officer)"

    receipt_id = models.UUIDField("영수증 ID", default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(TransferPlan, on_delete=models.PROTECT,
                             related_name="consent_records", verbose_name="이전 계획 버전")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT,
                                related_name="consent_records", verbose_name="정보주체")
    request = models.ForeignKey(ConsentRequest, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="records", verbose_name="동의 요청")
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="records", verbose_name="고지문")
    notice_hash = models.CharField("고지문 SHA-256", max_length=64, blank=True)
    action = models.CharField("구분", max_length=16, choices=Action.choices)
    items_agreed = models.JSONField("동의 항목", default=list)
    items_declined = models.JSONField("거부 항목", default=list)
    channel = models.CharField("경로", max_length=16, choices=Channel.choices)
    # How identity was established: "brn" (business number, a weak factor), "phone_match"
    # (the SMS came from the number we hold), "officer_call".
    identity_factor = models.CharField("본인 확인 수단", max_length=32, blank=True)
    officer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="+", verbose_name="기록한 담당자")
    reason = models.TextField("사유 (담당자 기록 시)", blank=True)
    # An SMS reply answers the SMS it replies to, not a notice page (``notice`` is then
    # empty): this is that message, whose stored text names the items the reply covers.
    sms_message = models.ForeignKey(SmsMessage, on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+",
                                    verbose_name="회신한 문자 (SMS reply)")
    # The earlier record this one changes (the answer a withdrawal withdraws, the early
    # request an objection or its withdrawal overrides, the answer a new answer replaces).
    changes = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name="변경하는 기록")
    # The privacy page (/privacy) in force when the record was written: its version and the
    # SHA-256 of its text (served at /privacy/<sha256>). Empty for records made before.
    privacy_version = models.PositiveIntegerField("개인정보 처리방침 버전", default=0,
                                                  db_default=0)
    privacy_hash = models.CharField("개인정보 처리방침 SHA-256", max_length=64, blank=True,
                                    default="", db_default="")
    created_at = models.DateTimeField("기록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "동의 기록 (consent record)"
        verbose_name_plural = "동의 기록 (consent records)"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["plan", "subject", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.receipt_id}"

    def save(self, *args, **kwargs):
        # Immutable evidence: a record is written once and never changed.
        if self.pk is not None and not self._state.adding:
            raise ValueError("consent records are immutable; record a new one instead")
        super().save(*args, **kwargs)


class InboundSms(models.Model):
    """An SMS reply from a subject. Understood replies are applied; anything else waits for an
    officer in the review queue — never guessed."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "반영됨 (applied)"
        OPTED_OUT = "opted_out", "수신 거부 반영 (opted out)"
        NEEDS_REVIEW = "needs_review", "검토 필요 (needs review)"
        RESOLVED = "resolved", "검토 완료 (resolved)"
        DISMISSED = "dismissed", "무시 (dismissed)"

    provider_sid = models.CharField("발송 사업자 메시지 ID", max_length=64, unique=True)
    from_phone = EncryptedTextField("보낸 번호 (암호화)")
    from_phone_index = models.CharField("보낸 번호 색인", max_length=64, db_index=True)
    body = EncryptedTextField("본문 (암호화)", blank=True)
    received_at = models.DateTimeField("수신 시각", default=timezone.now)
    outcome = models.CharField("처리 결과", max_length=16, choices=Outcome.choices,
                               db_index=True)
    review_reason = models.CharField("검토 사유", max_length=200, blank=True)
    request = models.ForeignKey(ConsentRequest, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="replies", verbose_name="연결된 요청")
    record = models.ForeignKey(ConsentRecord, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name="반영된 기록")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+",
                                    verbose_name="검토 담당자")
    resolved_at = models.DateTimeField("검토 시각", null=True, blank=True)

    class Meta:
        verbose_name = "문자 회신 (SMS reply)"
        verbose_name_plural = "문자 회신 검토 (SMS replies)"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"reply {self.provider_sid} ({self.outcome})"


class SmsOptOut(models.Model):
    """A number that answered 수신거부/STOP: no further SMS goes to it."""

    phone_index = models.CharField("번호 색인", max_length=64, unique=True)
    created_at = models.DateTimeField("등록 시각", default=timezone.now, editable=False)

    class Meta:
        verbose_name = "수신 거부 번호 (opt-out)"
        verbose_name_plural = "수신 거부 번호 (opt-outs)"

    def __str__(self) -> str:
        return f"opt-out {self.phone_index[:12]}"


class ReturnCode(models.Model):
    """A one-time code sent by SMS to a number typed on the page without a link (`/c/`): the
    lasting way back to one's status page after the link expired.

    A row exists for every request, known number or not (the page answers the same either
    way, and the rate limit counts both). Only a keyed hash of the number and of the code is
    kept; ``subjects`` are the pseudonymous ids the number belongs to (empty if none).
    """

    public_id = models.UUIDField("요청 ID", default=uuid.uuid4, unique=True, editable=False)
    phone_index = models.CharField("번호 색인", max_length=64, db_index=True)
    code_hash = models.CharField("인증번호 해시", max_length=64)
    # The code itself, encrypted, only until the SMS carrying it has gone (then emptied): the
    # sending task takes this row's id, never the code.
    code_sealed = EncryptedTextField("발송 대기 인증번호 (암호화)", blank=True)
    subjects = models.JSONField("대상 정보주체 (가명 ID)", default=list)
    sent = models.BooleanField("발송 여부", default=False)
    attempts = models.PositiveSmallIntegerField("입력 시도", default=0)
    created_at = models.DateTimeField("생성 시각", default=timezone.now, editable=False,
                                      db_index=True)
    expires_at = models.DateTimeField("만료 시각")
    used_at = models.DateTimeField("사용 시각", null=True, blank=True)

    class Meta:
        verbose_name = "재접속 인증번호 (return code)"
        verbose_name_plural = "재접속 인증번호 (return codes)"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"return code {self.public_id}"
