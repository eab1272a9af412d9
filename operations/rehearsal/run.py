"""Run a rehearsal: serve, play every stage of the story, then write the report."""

from __future__ import annotations

import traceback
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings
from django.utils import timezone

from operations.models import RehearsalRun
from operations.rehearsal import story, summary
from operations.rehearsal.runner import Progress
from operations.rehearsal.server import serving
from operations.report import report_write


def rehearse(options: story.Options, *, log=print) -> RehearsalRun:
    """Play the whole story and return the run, with its summary and report written.

    Refuses production settings: a rehearsal creates a plan, subjects and releases that are
    real to this database (that is what makes it a rehearsal of the real thing), so it runs on
    a staging copy, never on the live service.
    """
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("rehearse runs on a staging database, never in production")
    run = RehearsalRun.objects.create(parameters={
        "merchants": options.merchants, "users": options.users, "seed": options.seed})
    out = Path(options.out or Path(settings.VAR_DIR) / "rehearsals" / f"run-{run.pk}")
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet=options.quiet)
    ctx = story.Context(options=options, progress=progress, out=out)
    error = ""
    # Settings the rehearsal changes for itself (the SMS provider, the public address) are
    # put back afterwards, so a test or a shell session that ran it is left as it was.
    with override_settings(), ExitStack() as stack:
        ctx.base_url = options.base_url or stack.enter_context(serving())
        story.sms_through_standin(ctx, stack)
        try:
            for stage in story.STAGES:
                stage(ctx)
        except Exception as exc:  # noqa: BLE001 - the run is recorded as failed, with why
            error = f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())
        figures = _figures(ctx, progress, log)
    figures["error"] = error
    run.summary = figures
    run.status = (RehearsalRun.Status.PASSED if figures.get("passed") and not error
                  else RehearsalRun.Status.FAILED)
    run.finished_at = timezone.now()
    run.save()
    path = report_write(run)
    log(f"report: {path}")
    return run


def _figures(ctx: story.Context, progress: Progress, log) -> dict:
    if ctx.plan is None:
        return {"stages": progress.as_rows()}
    try:
        return summary.build(ctx, progress.as_rows())
    except Exception:  # noqa: BLE001 - a half-run story may lack figures; say so, keep going
        log(traceback.format_exc())
        return {"stages": progress.as_rows()}
