"""Officers see on the dashboard how far each witness has co-signed the log, and a witness
that has fallen behind in red with its last error."""

from __future__ import annotations

from audit import selectors
from audit.models import Checkpoint, WitnessState
from tests.staff import login_verified

from .conftest import record


def _card(html: str, name: str) -> str:
    return html.split(f'data-witness="{name}"')[1].split("</div>")[0]


def test_the_dashboard_shows_the_newest_witnessed_checkpoint_of_each_witness(
        commission_witness, client, officer):
    record(3)
    client = login_verified(client, officer)  # which records events too
    newest = Checkpoint.objects.order_by("-size").first().size
    html = client.get("/admin/dashboard/").content.decode()
    card = _card(html, commission_witness.name)
    assert f'<strong class="ok">{newest}</strong>' in card
    assert "연서명 0분 전" in card and "마지막 오류" not in card


def test_a_witness_that_fell_behind_is_red_with_its_last_error(
        commission_witness, client, officer, monkeypatch):
    client = login_verified(client, officer)
    record(2)
    witnessed = WitnessState.objects.get().size
    commission_witness.stop()
    record(1)
    monkeypatch.setattr(selectors, "WITNESS_ALERT_AFTER_SECONDS", 0)
    html = client.get("/admin/dashboard/").content.decode()
    card = _card(html, commission_witness.name)
    assert f'<strong class="alert">{witnessed}</strong>' in card
    assert "새 체크포인트가" in card and "연서명을 기다림 (기준 0초)" in card
    assert "마지막 오류 (1회 연속)" in card and "unreachable" in card


def test_without_witnesses_the_dashboard_says_checkpoints_carry_only_our_signature(
        client, officer, settings, db):
    settings.AUDIT_WITNESSES = []
    html = login_verified(client, officer).get("/admin/dashboard/").content.decode()
    assert "설정된 증인이 없습니다" in html
