"""Exports of the two registers as CSV (Korean headers): the Decree Art. 15 register of
provisions to third parties, and the register of entrustment changes (PIPA Art. 26). A
rehearsal plan's rows are in neither (it never writes any; they are left out all the same)."""

from __future__ import annotations

import csv
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import EntrustmentRecord, Field, ProvisionRecord
from governance.services.common import Actor, acting

REGISTER_COLUMNS = [
    ("id", "번호"), ("file_name", "개인정보파일 명칭"), ("recipient", "제공받는 자"),
    ("purpose", "제공 목적"), ("statutory_ground", "법적 근거"), ("items", "제공 항목"),
    ("item_grounds", "항목별 법적 근거"), ("subject_count", "정보주체 수"),
    ("provided_from", "제공 일시(시작)"), ("provided_until", "제공 일시(종료)"),
    ("method", "제공 방법"), ("recipient_limits", "수령자에 대한 제한"), ("plan", "이전 계획"),
    ("reference", "참조"),
]
ENTRUSTMENT_COLUMNS = [
    ("id", "번호"), ("file_name", "개인정보파일 명칭"), ("controller", "위탁자 (개인정보처리자)"),
    ("from_processor", "종전 수탁자"), ("to_processor", "새 수탁자 (또는 위탁자)"),
    ("entrusted_work", "위탁 업무"), ("items", "이전 항목"), ("item_grounds", "항목별 근거"),
    ("subject_count", "정보주체 수"), ("started_at", "이전 일시(시작)"),
    ("ended_at", "이전 일시(종료)"), ("method", "이전 방법"), ("plan", "이전 계획"),
    ("reference", "참조"),
]


def _local(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _party(operator) -> str:
    return f"{operator.name} ({operator.code})"


def _items(keys, labels) -> str:
    return ", ".join(f"{labels.get(k, k)} ({k})" for k in keys)


def _grounds(grounds: dict, labels) -> str:
    return "; ".join(f"{labels.get(k, k)}: {g}" for k, g in sorted((grounds or {}).items()))


@transaction.atomic
def register_export(*, out: TextIO, by: Actor) -> int:
    """Write every provision (Decree Art. 15) as CSV to ``out``; return the row count."""
    labels = dict(Field.objects.values_list("key", "label_ko"))
    writer = csv.writer(out)
    writer.writerow([header for _, header in REGISTER_COLUMNS])
    count = 0
    rows = (ProvisionRecord.objects.select_related("recipient", "plan")
            .exclude(plan__rehearsal=True).order_by("provided_from", "id"))
    for row in rows.iterator(chunk_size=2000):
        writer.writerow([
            row.pk, row.file_name, _party(row.recipient), row.purpose, row.statutory_ground,
            _items(row.items, labels), _grounds(row.item_grounds, labels), row.subject_count,
            _local(row.provided_from), _local(row.provided_until), row.method,
            row.recipient_limits, f"{row.plan.title} v{row.plan.version}", row.reference])
        count += 1
    audit_event(by=acting(by), action="register.exported",
                target=("governance.register", "decree-art-15"), details={"rows": count})
    return count


@transaction.atomic
def entrustment_export(*, out: TextIO, by: Actor) -> int:
    """Write every entrustment change (Art. 26) as CSV to ``out``; return the row count."""
    labels = dict(Field.objects.values_list("key", "label_ko"))
    writer = csv.writer(out)
    writer.writerow([header for _, header in ENTRUSTMENT_COLUMNS])
    count = 0
    rows = (EntrustmentRecord.objects
            .select_related("controller", "from_processor", "to_processor", "plan")
            .exclude(plan__rehearsal=True).order_by("started_at", "id"))
    for row in rows.iterator(chunk_size=2000):
        writer.writerow([
            row.pk, row.file_name, _party(row.controller), _party(row.from_processor),
            _party(row.to_processor), row.entrusted_work, _items(row.items, labels),
            _grounds(row.item_grounds, labels), row.subject_count, _local(row.started_at),
            _local(row.ended_at), row.method, f"{row.plan.title} v{row.plan.version}",
            row.reference])
        count += 1
    audit_event(by=acting(by), action="entrustments.exported",
                target=("governance.entrustments", "pipa-art-26"), details={"rows": count})
    return count
