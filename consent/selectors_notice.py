"""Who the Art. 27 notice has reached, and who it cannot reach by SMS (for the dashboard, the
admin and the operator's alternative notice).

A subject is *reached* when governance holds notice evidence for them in the plan's lineage
(`SubjectNotice`: a delivered notice LMS, an opened link, an operator's attestation, an
officer's call); counted by the channel of the earliest piece. A request of a campaign that
carries the notice (`Campaign.carries_notice`) whose subject is not reached is:

- *unreached* when no SMS can still reach them: the request is closed (expired, cancelled,
  opted out) or its campaign is over; or no message of it is still on its way (queued,
  being sent, accepted, sent, outcome unknown) and no reminder is coming (the campaign's
  last reminder was sent, or none was ever scheduled: no mobile number, an opted-out number);
- *pending* otherwise (a message is on its way, or a retry is scheduled).

A request answered on the page (an objection) is neither: the subject has spoken.
Every count is one aggregate query, whatever the number of subjects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum

from consent.models import Campaign, ConsentRequest, SmsMessage
from governance.models import DataSubject, NoticeChannel, SubjectNotice, TransferPlan

SmsStatus = SmsMessage.Status
RequestStatus = ConsentRequest.Status
# Messages that may still be delivered.
IN_FLIGHT = (SmsStatus.QUEUED, SmsStatus.SENDING, SmsStatus.UNKNOWN, SmsStatus.SUBMITTED,
             SmsStatus.SENT)
CLOSED = (RequestStatus.EXPIRED, RequestStatus.CANCELLED, RequestStatus.OPTED_OUT)
FINISHED = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
# Unreached by which channel: an LMS was tried and never delivered, or none could be sent.
UNREACHED_LMS, UNREACHED_NO_SMS = "lms", "no_sms"
UNREACHED_LABELS = {UNREACHED_LMS: "장문 문자 미도달 (LMS tried, not delivered)",
                    UNREACHED_NO_SMS: "문자 발송 불가 (no mobile number or opted out)"}


def _reached(lineage=None) -> Exists:
    """The request's subject has notice evidence in its plan's lineage (or in ``lineage``)."""
    return Exists(SubjectNotice.objects.filter(
        lineage=lineage if lineage is not None else OuterRef("campaign__plan__lineage"),
        subject_id=OuterRef("subject_id")))


def reached_by(channel: str, lineage=None) -> Exists:
    return Exists(SubjectNotice.objects.filter(
        lineage=lineage if lineage is not None else OuterRef("campaign__plan__lineage"),
        subject_id=OuterRef("subject_id"), channel=channel))


def _in_flight() -> Exists:
    return Exists(SmsMessage.objects.filter(request_id=OuterRef("pk"), status__in=IN_FLIGHT))


def _tried() -> Exists:
    return Exists(SmsMessage.objects.filter(request_id=OuterRef("pk"), attempts__gt=0))


def _no_more_sms() -> Q:
    return (Q(status__in=CLOSED) | Q(campaign__status__in=FINISHED)
            | (~_in_flight() & (Q(reminders_sent__gte=F("campaign__reminder_count"))
                                | Q(next_reminder_at__isnull=True))))


def notice_unreached_q(lineage=None) -> Q:
    """Requests (of campaigns carrying the notice) whose subject the notice has not reached
    and no SMS of ours can still reach."""
    return (Q(campaign__carries_notice=True) & ~Q(status=RequestStatus.ANSWERED)
            & ~_reached(lineage) & _no_more_sms())


def notice_pending_q(lineage=None) -> Q:
    """Requests (of campaigns carrying the notice) not reached yet, with an SMS on its way or
    a retry scheduled."""
    return (Q(campaign__carries_notice=True) & ~Q(status=RequestStatus.ANSWERED)
            & ~_reached(lineage) & ~_no_more_sms())


def _plan_requests(plan: TransferPlan) -> QuerySet:
    """The requests of every campaign of the plan's lineage that carries the notice."""
    return ConsentRequest.objects.filter(campaign__plan__lineage=plan.lineage,
                                         campaign__carries_notice=True)


@dataclass
class NoticeReach:
    """Subjects of one plan lineage by how far the Art. 27 notice got."""

    plan: TransferPlan
    reached: dict[str, int] = field(default_factory=dict)    # channel -> subjects
    pending: int = 0
    unreached: dict[str, int] = field(default_factory=dict)  # UNREACHED_* -> subjects

    @property
    def reached_total(self) -> int:
        return sum(self.reached.values())

    @property
    def unreached_total(self) -> int:
        return sum(self.unreached.values())

    @property
    def reached_rows(self) -> list[tuple[str, str, int]]:
        return [(c, label, self.reached.get(c, 0)) for c, label in NoticeChannel.choices]

    @property
    def unreached_rows(self) -> list[tuple[str, str, int]]:
        return [(k, label, self.unreached.get(k, 0)) for k, label in UNREACHED_LABELS.items()]


def notice_reach(*, plan: TransferPlan) -> NoticeReach:
    """How far the notice of ``plan``'s lineage got, per channel (four queries).

    Reached: every subject with evidence, whether or not a campaign asked them (an operator
    may attest its own notice). Pending and unreached: subjects of the lineage's notice
    campaigns, once each (a subject with one request pending is pending)."""
    reached = dict(SubjectNotice.objects.filter(lineage=plan.lineage)
                   .values_list("channel").annotate(n=Count("id")))
    requests = _plan_requests(plan)
    pending_subjects = requests.filter(notice_pending_q(plan.lineage)).values("subject_id")
    unreached = (requests.filter(notice_unreached_q(plan.lineage))
                 .exclude(subject_id__in=pending_subjects)
                 .aggregate(lms=Count("subject_id", distinct=True, filter=_tried()),
                            no_sms=Count("subject_id", distinct=True, filter=~_tried())))
    pending = pending_subjects.aggregate(n=Count("subject_id", distinct=True))["n"]
    return NoticeReach(plan=plan, reached=reached, pending=pending,
                       unreached={UNREACHED_LMS: unreached["lms"],
                                  UNREACHED_NO_SMS: unreached["no_sms"]})


def notice_reach_plans() -> list[TransferPlan]:
    """Plan versions in force that have sent (or are sending) the notice by SMS, or hold
    notice evidence: the ones whose reach is worth showing."""
    lineages = set(SubjectNotice.objects.values_list("lineage", flat=True).distinct()[:100])
    return list(TransferPlan.objects.filter(status__in=TransferPlan.IN_FORCE)
                .filter(Q(campaigns__carries_notice=True) | Q(lineage__in=lineages))
                .distinct().select_related("from_operator", "to_operator")
                .order_by("-created_at")[:20])


@dataclass(frozen=True)
class UnreachedSubject:
    """One row of the export for the operator's alternative notice (no personal value unless
    ``phone`` was asked for)."""

    external_id: str
    public_id: str
    kind: str
    attempts: int
    last_error: str
    phone: str = ""


def notice_unreached_subjects(*, plan: TransferPlan, with_phone: bool = False
                              ) -> list[UnreachedSubject]:
    """The subjects of ``plan``'s lineage the notice could not reach by SMS, by external id:
    how many sends were attempted and the error code of the last message. The phone (read
    from the subject, decrypted) only ``with_phone``. One query."""
    requests = _plan_requests(plan)
    pending_subjects = requests.filter(notice_pending_q(plan.lineage)).values("subject_id")
    unreached = (requests.filter(notice_unreached_q(plan.lineage))
                 .exclude(subject_id__in=pending_subjects).values("subject_id"))
    messages = SmsMessage.objects.filter(request__subject_id=OuterRef("pk"),
                                         request__campaign__plan__lineage=plan.lineage,
                                         request__campaign__carries_notice=True)
    subjects = (DataSubject.objects.filter(pk__in=unreached)
                .annotate(attempts_made=Subquery(messages.values("request__subject_id")
                                                 .annotate(n=Sum("attempts")).values("n")[:1]),
                          last_error=Subquery(messages.order_by("-id").values("error_code")[:1]))
                .only("external_id", "public_id", "kind", *(("phone",) if with_phone else ()))
                .order_by("external_id"))
    return [UnreachedSubject(external_id=s.external_id, public_id=s.public_id, kind=s.kind,
                             attempts=s.attempts_made or 0, last_error=s.last_error or "",
                             phone=(s.phone or "") if with_phone else "")
            for s in subjects.iterator(chunk_size=2000)]
