"""One run of `manage.py rehearse` and what it found, for the report page."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RehearsalRun(models.Model):
    """A rehearsal of a whole move. ``summary`` holds only counts, totals and timings: no
    personal value, so the report can be shown to a director or the commission."""

    class Status(models.TextChoices):
        RUNNING = "running", "진행 중 (running)"
        PASSED = "passed", "성공 (passed)"
        FAILED = "failed", "실패 (failed)"

    started_at = models.DateTimeField("시작", default=timezone.now, editable=False)
    finished_at = models.DateTimeField("종료", null=True, blank=True)
    status = models.CharField("결과", max_length=16, choices=Status.choices,
                              default=Status.RUNNING)
    parameters = models.JSONField("설정", default=dict)
    summary = models.JSONField("요약", default=dict)
    report_path = models.CharField("보고서 파일", max_length=500, blank=True)

    class Meta:
        verbose_name = "이전 리허설 (rehearsal)"
        verbose_name_plural = "이전 리허설 (rehearsals)"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"리허설 #{self.pk} ({self.get_status_display()})"
