"""Thin Celery tasks: they take ids, call one service, and queue their successor.

Queued with `core.tasks.enqueue_on_commit`; services import a task inside the function that
queues it (this module imports the services), which also registers it with Celery.
``send_*`` tasks run on the ``sms`` queue (CELERY_TASK_ROUTES). A campaign is sent by a chain
of `send_campaign` runs, each holding the campaign's sender lease for about 20 s of paced
batches (never one task per message); `tick` (celery beat, every minute, Asia/Seoul) queues
reminders, expires requests, settles unknown sends and restarts the chain of any running
campaign with due messages (after quiet hours, or after a worker was killed).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from consent.services import lifecycle, sending
from core.tasks import enqueue_on_commit


@shared_task(name="consent.tasks.send_campaign", ignore_result=True)
def send_campaign(campaign_id: int) -> dict:
    # In-process (no broker) the loop simply runs until nothing is due: no self-queueing.
    budget = None if settings.CELERY_TASK_ALWAYS_EAGER else 20.0
    result = sending.campaign_send_run(campaign_id=campaign_id, budget_seconds=budget)
    if result.more:
        enqueue_on_commit(send_campaign, campaign_id)
    return {"sent": dict(result.sent), "skipped": dict(result.skipped), "more": result.more,
            "busy": result.busy}


@shared_task(name="consent.tasks.send_settle", ignore_result=True)
def send_settle() -> dict:
    return dict(sending.sms_settle())


@shared_task(name="consent.tasks.tick", ignore_result=True)
def tick() -> dict:
    return lifecycle.consent_tick_and_send()


@shared_task(name="consent.tasks.send_return_code", ignore_result=True)
def send_return_code(code_id: int) -> bool:
    from consent.services import returning

    return returning.return_code_send(code_id=code_id)
