"""Export of the Decree Art. 15 register as CSV."""

from __future__ import annotations

import csv
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from governance.models import Field, ProvisionRecord
from governance.services.common import Actor, record

REGISTER_COLUMNS = [
    ("id", "번호"), ("file_name", "개인정보파일 명칭"), ("recipient", "제공받는 자"),
    ("purpose", "제공 목적"), ("statutory_ground", "법적 근거"), ("items", "제공 항목"),
    ("subject_count", "정보주체 수"), ("provided_from", "제공 일시(시작)"),
    ("provided_until", "제공 일시(종료)"), ("method", "제공 방법"),
    ("recipient_limits", "수령자에 대한 제한"), ("plan", "이전 계획"), ("reference", "참조"),
]


def _local(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


@transaction.atomic
def register_export(*, out: TextIO, by: Actor) -> int:
    """Write every register row as CSV (Korean headers) to ``out``; return the row count."""
    labels = dict(Field.objects.values_list("key", "label_ko"))
    writer = csv.writer(out)
    writer.writerow([header for _, header in REGISTER_COLUMNS])
    count = 0
    rows = (ProvisionRecord.objects.select_related("recipient", "plan")
            .order_by("provided_from", "id"))
    for row in rows.iterator(chunk_size=2000):
        writer.writerow([
            row.pk, row.file_name, f"{row.recipient.name} ({row.recipient.code})", row.purpose,
            row.statutory_ground,
            ", ".join(f"{labels.get(k, k)} ({k})" for k in row.items), row.subject_count,
            _local(row.provided_from), _local(row.provided_until), row.method,
            row.recipient_limits, f"{row.plan.title} v{row.plan.version}", row.reference])
        count += 1
    record(by, "register.exported", _Register(), {"rows": count},
           target_type="governance.register")
    return count


class _Register:
    pk = "decree-art-15"
