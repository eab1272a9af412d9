"""Operating the trail: the beat safety net."""

from __future__ import annotations


def test_beat_runs_a_sealing_pass_as_a_safety_net():
    from config.celery import app

    entry = app.conf.beat_schedule["audit-seal-safety-net"]
    assert entry["task"] == "audit.tasks.seal_audit_log"
    assert entry["schedule"] <= 30
