"""The audit trail: events written by every app, sealed afterwards into a Merkle log."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One thing that happened. Written inside the caller's transaction; sealed later.

    Until sealing, ``seq`` and ``entry_hash`` are empty: writers never wait on the one lock
    that orders the log. Sealing gives each event its place (a gapless ``seq``) and its hash.
    """

    class ActorType(models.TextChoices):
        OFFICER = "officer", "담당자 (officer)"
        OPERATOR = "operator", "사업자 (operator)"
        SUBJECT = "subject", "정보주체 (subject)"
        SYSTEM = "system", "시스템 (system)"

    created_at = models.DateTimeField("기록 시각", default=timezone.now, db_index=True)
    actor_type = models.CharField("행위자 유형", max_length=16, choices=ActorType.choices)
    # Pseudonymous: "user:12", "operator:KEPF", "subject:8f3a…" — never a name or a phone.
    actor_id = models.CharField("행위자 ID", max_length=80)
    action = models.CharField("행위", max_length=80, db_index=True)
    target_type = models.CharField("대상 유형", max_length=64)
    target_id = models.CharField("대상 ID", max_length=80)
    details = models.JSONField("세부 내용", default=dict, blank=True)
    request_id = models.CharField("요청 ID", max_length=64, blank=True)

    seq = models.BigIntegerField("순번", null=True, blank=True, unique=True)
    entry_hash = models.CharField("항목 해시", max_length=64, blank=True)
    sealed_at = models.DateTimeField("봉인 시각", null=True, blank=True)

    class Meta:
        verbose_name = "감사 이벤트"
        verbose_name_plural = "감사 이벤트"
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor_type", "actor_id"]),
            # Sealing scans the unsealed events in id order.
            models.Index(fields=["id"], name="audit_unsealed_idx",
                         condition=models.Q(seq__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"#{self.seq or '-'} {self.action} {self.target_type}:{self.target_id}"


class LogState(models.Model):
    """The single row that orders the log: its size, its right frontier, the last checkpoint.

    Only the sealer writes it, holding a row lock (PostgreSQL) or the write lock (SQLite), so
    there is one sealer at a time and every ``seq`` is given out exactly once.
    """

    SINGLETON_ID = 1

    size = models.BigIntegerField("크기", default=0)
    # Hex hashes of the perfect subtrees on the tree's right edge (audit.merkle.Frontier).
    frontier = models.JSONField("오른쪽 경계", default=list, blank=True)
    root_hash = models.CharField("루트 해시", max_length=64, blank=True)
    checkpoint_size = models.BigIntegerField("마지막 체크포인트 크기", default=0)
    checkpoint_at = models.DateTimeField("마지막 체크포인트 시각", null=True, blank=True)
    sealed_at = models.DateTimeField("마지막 봉인 시각", null=True, blank=True)

    class Meta:
        verbose_name = "감사 로그 상태"
        verbose_name_plural = "감사 로그 상태"

    def __str__(self) -> str:
        return f"audit log of {self.size} entries"


class Checkpoint(models.Model):
    """A signed tree head: C2SP tlog-checkpoint signed-note text over (origin, size, root)."""

    size = models.BigIntegerField("크기", unique=True)
    root_hash = models.CharField("루트 해시", max_length=64)
    note = models.TextField("서명된 체크포인트")
    key_id = models.CharField("키 ID", max_length=16)
    created_at = models.DateTimeField("서명 시각", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "체크포인트"
        verbose_name_plural = "체크포인트"
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"checkpoint {self.size} {self.root_hash[:12]}…"


class WitnessState(models.Model):
    """How far one witness (settings.AUDIT_WITNESSES) has co-signed this log.

    ``size`` is the tree size of the newest checkpoint it co-signed, which the next request
    must name as its old size; ``frontier`` is the tree's right edge at that size, so the
    consistency proof to the next checkpoint needs only the entries sealed since. The rest
    is for officers: when it last answered, how often it failed since, and why.
    """

    name = models.CharField("증인", max_length=200, unique=True)
    size = models.BigIntegerField("증인이 서명한 크기", default=0)
    root_hash = models.CharField("루트 해시", max_length=64, blank=True)
    frontier = models.JSONField("오른쪽 경계", default=list, blank=True)
    cosigned_at = models.DateTimeField("마지막 연서명 시각 (증인 시계)", null=True, blank=True)
    attempted_at = models.DateTimeField("마지막 요청 시각", null=True, blank=True)
    failures = models.IntegerField("연속 실패", default=0)
    last_error = models.TextField("마지막 오류", blank=True)
    retry_at = models.DateTimeField("다음 재시도", null=True, blank=True)

    class Meta:
        verbose_name = "증인 상태"
        verbose_name_plural = "증인 상태"

    def __str__(self) -> str:
        return f"witness {self.name} at {self.size}"


class WitnessCosignature(models.Model):
    """A witness's cosignature (C2SP tlog-cosignature/v1) on one checkpoint.

    ``line`` is the note signature line as the witness sent it; appended to the checkpoint's
    note it makes the note the witness vouches for. It verifies on its own, so a forged or
    altered row is caught by every verifier.
    """

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT,
                                   related_name="cosignatures", verbose_name="체크포인트")
    witness = models.CharField("증인", max_length=200)
    key_id = models.CharField("키 ID", max_length=8)
    line = models.TextField("서명 줄")
    signed_at = models.DateTimeField("연서명 시각 (증인 시계)")
    received_at = models.DateTimeField("받은 시각", default=timezone.now)

    class Meta:
        verbose_name = "증인 연서명"
        verbose_name_plural = "증인 연서명"
        constraints = [models.UniqueConstraint(fields=["checkpoint", "witness", "key_id"],
                                               name="audit_one_cosignature_per_witness_key")]

    def __str__(self) -> str:
        return f"{self.witness} on checkpoint {self.checkpoint_id}"
