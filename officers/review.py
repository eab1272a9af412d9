"""The monthly review of the access log (safeguards standard Art. 8(2): at least monthly).

Per account: how many entries and distinct subjects, each export with its reason, access
outside working hours, and unusual volumes. The rule for unusual volumes, stated once:

    A day is unusual for an account when it touched at least BURST_MIN_SUBJECTS distinct
    subjects that day and more than BURST_FACTOR times its usual day: the median of its
    other active days in this month and the two before. An account with no other active
    day has no usual day yet, and any day of BURST_MIN_SUBJECTS or more is unusual.

Working hours are 09:00-18:00 Asia/Seoul, Monday to Friday (public holidays are not known
here, so access on a holiday shows only when it falls outside those hours). The review is
signed off by a privacy officer; the sign-off is an audit event and an AccessReview row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event, looks_personal
from officers.access import AccessAction
from officers.models import AccessReview

SEOUL = ZoneInfo("Asia/Seoul")
WORK_START, WORK_END = dt.time(9, 0), dt.time(18, 0)
BURST_FACTOR = 3
BURST_MIN_SUBJECTS = 20
BASELINE_MONTHS = 2  # the months before the reviewed one that make an account's usual day
RULE = (f"평소보다 많은 접근: 하루에 다룬 정보주체가 {BURST_MIN_SUBJECTS}명 이상이고, 그 계정의 "
        f"평소(이번 달과 앞선 {BASELINE_MONTHS}개월 중 활동한 다른 날들의 중앙값)의 "
        f"{BURST_FACTOR}배를 넘는 날 (평소 기록이 없으면 {BURST_MIN_SUBJECTS}명 이상인 날). "
        "근무 시간: 평일 09:00-18:00 (Asia/Seoul).")
ACCESS_ACTIONS = tuple(f"access.{verb}" for verb in AccessAction.ALL)
EXPORT_ACTIONS = tuple(f"access.{verb}" for verb in AccessAction.NEEDS_REASON)


class ReviewError(ValueError):
    """A sign-off that cannot be recorded (message in Korean, safe to show)."""


@dataclass(frozen=True)
class Export:
    at: dt.datetime
    action: str
    subjects: int
    reason: str
    target: str


@dataclass
class AccountRow:
    actor_id: str
    username: str = ""
    entries: int = 0
    subjects: set[str] = field(default_factory=set)
    actions: Counter = field(default_factory=Counter)
    exports: list[Export] = field(default_factory=list)
    outside_hours: int = 0
    busiest_day: dt.date | None = None
    busiest_day_subjects: int = 0
    usual_day_subjects: float | None = None
    unusual_days: list[dt.date] = field(default_factory=list)

    @property
    def unusual(self) -> bool:
        return bool(self.unusual_days)

    @property
    def flagged(self) -> bool:
        """What the reviewer must look at: unusual volume, or work outside hours."""
        return self.unusual or self.outside_hours > 0


@dataclass
class MonthReview:
    month: dt.date
    rows: list[AccountRow]
    signed: AccessReview | None

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.rows if r.flagged)


def parse_month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError as exc:
        raise ReviewError(f"월은 YYYY-MM 형식으로 적어 주세요: {text!r}") from exc


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=SEOUL)
    return start, _add_months(start, 1)


def _add_months(start: dt.datetime, n: int) -> dt.datetime:
    index = start.year * 12 + start.month - 1 + n
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def within_working_hours(at: dt.datetime) -> bool:
    local = at.astimezone(SEOUL)
    return local.weekday() < 5 and WORK_START <= local.time() < WORK_END


def access_review(month: dt.date) -> MonthReview:
    """The month's review, every account that touched personal data in it."""
    start, end = month_bounds(month)
    window_start = _add_months(start, -BASELINE_MONTHS)
    rows: dict[str, AccountRow] = {}
    daily: dict[str, dict[dt.date, set[str]]] = defaultdict(lambda: defaultdict(set))
    events = (AuditEvent.objects.filter(action__in=ACCESS_ACTIONS, created_at__gte=window_start,
                                        created_at__lt=end)
              .order_by("id").values_list("actor_id", "action", "created_at", "details",
                                          "target_id").iterator(chunk_size=5000))
    for actor_id, action, at, details, target in events:
        subjects = details.get("subjects") or []
        daily[actor_id][at.astimezone(SEOUL).date()].update(subjects)
        if at < start:
            continue
        row = rows.setdefault(actor_id, AccountRow(actor_id=actor_id))
        row.entries += 1
        row.subjects.update(subjects)
        row.actions[action.removeprefix("access.")] += 1
        if not within_working_hours(at):
            row.outside_hours += 1
        if action in EXPORT_ACTIONS and details.get("part", 1) == 1:
            row.exports.append(Export(at=at, action=action, target=target,
                                      subjects=details.get("subject_count", len(subjects)),
                                      reason=details.get("reason", "")))
    for actor_id, row in rows.items():
        _volumes(row, daily[actor_id], start.date(), end.date())
    _usernames(rows.values())
    return MonthReview(month=start.date(), rows=sorted(rows.values(), key=lambda r: r.actor_id),
                       signed=AccessReview.objects.filter(month=start.date()).first())


def _volumes(row: AccountRow, days: dict[dt.date, set[str]], first: dt.date,
             end: dt.date) -> None:
    counts = {day: len(subjects) for day, subjects in days.items()}
    in_month = {day: n for day, n in counts.items() if first <= day < end}
    if not in_month:
        return
    row.busiest_day, row.busiest_day_subjects = max(in_month.items(), key=lambda kv: kv[1])
    for day, n in sorted(in_month.items()):
        others = [m for d, m in counts.items() if d != day]
        usual = statistics.median(others) if others else None
        if day == row.busiest_day:
            row.usual_day_subjects = usual
        if n >= BURST_MIN_SUBJECTS and (usual is None or n > BURST_FACTOR * usual):
            row.unusual_days.append(day)


def _usernames(rows) -> None:
    ids = {int(r.actor_id.split(":", 1)[1]): r for r in rows
           if r.actor_id.startswith("user:") and r.actor_id[5:].isdigit()}
    for pk, name in get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"):
        ids[pk].username = name


CSV_HEADER = ["month", "account", "username", "entries", "subjects", "views", "searches",
              "changes", "downloads", "decrypts", "exports", "export_reasons",
              "outside_working_hours", "busiest_day", "busiest_day_subjects",
              "usual_day_subjects", "unusual_days"]


def review_csv(review: MonthReview) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in review.rows:
        writer.writerow([
            f"{review.month:%Y-%m}", r.actor_id, r.username, r.entries, len(r.subjects),
            r.actions["view"], r.actions["search"], r.actions["change"],
            r.actions["download"] + r.actions["print"], r.actions["decrypt"], len(r.exports),
            " | ".join(f"{e.at.astimezone(SEOUL):%Y-%m-%d %H:%M} {e.subjects}명: {e.reason}"
                       for e in r.exports),
            r.outside_hours, r.busiest_day or "", r.busiest_day_subjects,
            "" if r.usual_day_subjects is None else r.usual_day_subjects,
            " ".join(str(d) for d in r.unusual_days)])
    return out.getvalue()


def access_review_sign(*, month: dt.date, by, note: str = "", now=None) -> AccessReview:
    """Sign off a finished month's review: one AccessReview row and its audit event, in one
    transaction. The summary's SHA-256 ties the sign-off to what the officer saw."""
    now = now or timezone.now()
    start, end = month_bounds(month)
    if end > now:
        raise ReviewError("끝나지 않은 달은 점검 완료로 기록할 수 없습니다.")
    note = note.strip()
    if label := looks_personal(note):
        raise ReviewError(f"점검 의견에 개인정보({label})를 적지 마세요.")
    review = access_review(start.date())
    digest = hashlib.sha256(review_csv(review).encode()).hexdigest()
    try:
        with transaction.atomic():
            signed = AccessReview.objects.create(
                month=start.date(), signed_by=by, signed_at=now, note=note,
                accounts=len(review.rows), flagged=review.flagged, summary_sha256=digest)
            audit_event(by=by, action="access.review_signed", target=signed,
                        details={"accounts": len(review.rows), "flagged": review.flagged,
                                 "summary_sha256": digest, "note": note[:500]})
    except IntegrityError as exc:
        raise ReviewError(f"{start:%Y-%m}은 이미 점검 완료로 기록되어 있습니다.") from exc
    return signed


@dataclass(frozen=True)
class ReviewStatus:
    last: AccessReview | None
    due_month: dt.date  # the latest month whose review should be signed by now
    overdue: bool


def review_status(now=None) -> ReviewStatus:
    """A month's review is due by the end of the following month: in December, October's
    must be signed. Overdue when it is not and the log holds access from then or before."""
    now = (now or timezone.now()).astimezone(SEOUL)
    this_month = dt.datetime(now.year, now.month, 1, tzinfo=SEOUL)
    due_start = _add_months(this_month, -2)
    last = AccessReview.objects.order_by("-month").first()
    if last is not None and last.month >= due_start.date():
        return ReviewStatus(last=last, due_month=due_start.date(), overdue=False)
    unreviewed = AuditEvent.objects.filter(
        action__in=ACCESS_ACTIONS, created_at__lt=_add_months(due_start, 1),
        **({"created_at__gte": _add_months(
            dt.datetime.combine(last.month, dt.time(), SEOUL), 1)} if last else {}))
    return ReviewStatus(last=last, due_month=due_start.date(), overdue=unreviewed.exists())
