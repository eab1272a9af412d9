"""audit_event: the one call apps record with, and its one target naming scheme."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from audit.models import AuditEvent
from audit.services import audit_event, system_actor

ROOT = Path(__file__).resolve().parents[2]
APPS = ("consent", "governance", "transfers", "settlement", "officers", "operations", "core")

pytestmark = pytest.mark.django_db


def test_it_names_a_model_target_by_its_app_and_model(officer):
    event = audit_event(by=officer, action="thing.looked_at", target=officer)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_type, stored.actor_id) == ("officer", f"user:{officer.pk}")
    assert (stored.target_type, stored.target_id) == ("auth.user", str(officer.pk))


def test_it_takes_a_named_target_and_a_system_actor():
    event = audit_event(by=system_actor("sms"), action="sms.batch_sent",
                        target=("consent.campaign", 7), details={"sent": 3})
    assert (event.actor_id, event.target_type, event.target_id) == (
        "system:sms", "consent.campaign", "7")


@pytest.mark.parametrize("target_type", ["consent_request", "t", "Consent.Campaign", "a.b.c"])
def test_it_refuses_a_target_outside_the_scheme(target_type):
    with pytest.raises(ValueError, match="<app>.<noun>"):
        audit_event(by=system_actor("x"), action="x.y", target=(target_type, 1))


def test_it_refuses_an_actor_that_is_neither_an_officer_nor_a_pair():
    with pytest.raises(TypeError, match="officer"):
        audit_event(by=None, action="x.y", target=("consent.campaign", 1))


def test_no_app_calls_the_low_level_writer():
    """Apps record through audit_event only; audit_record is the audit app's own."""
    callers = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "audit.services" and any(
                        alias.name == "audit_record" for alias in node.names):
                    callers.append(str(path.relative_to(ROOT)))
    assert callers == []
