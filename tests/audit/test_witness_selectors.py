"""audit.selectors.latest_witnessed_checkpoint: what a receipt or a manifest names."""

from __future__ import annotations

import base64

from audit.models import Checkpoint
from audit.selectors import latest_witnessed_checkpoint, newest_witnessed_checkpoint

from .conftest import configure, record, service_log_key


def _root(size: int) -> str:
    return base64.b64encode(bytes.fromhex(Checkpoint.objects.get(size=size).root_hash)).decode()


def test_nothing_is_claimed_without_a_witness(sealed_log, settings):
    settings.AUDIT_WITNESSES = []
    assert latest_witnessed_checkpoint() is None
    # The manifest's older form names the newest checkpoint, witnessed by nobody.
    assert newest_witnessed_checkpoint() == {"size": 12, "root": _root(12), "witnessed_by": []}


def test_it_names_the_newest_cosigned_checkpoint_and_its_witnesses(commission_witness):
    record(3)
    assert latest_witnessed_checkpoint() == {
        "size": 3, "root_hash": _root(3), "witnesses": [commission_witness.name]}
    assert newest_witnessed_checkpoint() == {
        "size": 3, "root": _root(3), "witnessed_by": [commission_witness.name]}


def test_with_two_witnesses_it_names_those_on_the_newest_checkpoint(
        commission_witness, start_witness, settings):
    operator = start_witness("operator.example/witness",
                             {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    configure(settings, commission_witness, operator)
    record(2)
    assert latest_witnessed_checkpoint()["witnesses"] == sorted(
        [commission_witness.name, operator.name])
    operator.stop()
    record(1)
    assert latest_witnessed_checkpoint() == {
        "size": 3, "root_hash": _root(3), "witnesses": [commission_witness.name]}


def test_a_cosignature_by_a_key_no_longer_configured_does_not_count(
        commission_witness, start_witness, settings):
    record(2)
    # The commission replaced its witness key (same name): the old key's cosignatures are
    # not the configured witness's word any more.
    renewed = start_witness(commission_witness.name,
                            {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    settings.AUDIT_WITNESSES = [{"name": renewed.name, "url": renewed.url,
                                 "vkey": renewed.vkey}]
    assert latest_witnessed_checkpoint() is None


def test_it_reads_a_few_rows_however_long_the_log(commission_witness,
                                                  django_assert_max_num_queries):
    record(30)
    with django_assert_max_num_queries(2):
        assert latest_witnessed_checkpoint()["size"] == 30


def _consent_event(receipt: str) -> None:
    from django.db import transaction

    from audit.services import audit_record

    with transaction.atomic():
        audit_record(actor_type="subject", actor_id="subject:ab12", action="consent.answered",
                     target_type="consent_request", target_id="req-1",
                     details={"receipt": receipt, "channel": "web"})


def test_the_checkpoint_covering_an_event_is_the_first_witnessed_past_it_and_stays(
        commission_witness, start_witness, settings):
    from audit.selectors import witnessed_checkpoint_covering

    def covering(receipt):
        return witnessed_checkpoint_covering(targets=[("consent_request", "req-1")],
                                             receipt=receipt)

    assert covering("r-1") is None  # no such event
    record(2)
    _consent_event("r-1")  # seq 2, co-signed at once in checkpoint 3
    assert covering("r-1") == {"size": 3, "root_hash": _root(3),
                               "witnesses": [commission_witness.name]}
    record(4)
    assert covering("r-1")["size"] == 3  # the newest moved on; this answer does not
    assert latest_witnessed_checkpoint()["size"] == 7

    commission_witness.stop()
    _consent_event("r-2")  # seq 7: checkpoint 8 is signed but not co-signed
    assert covering("r-2") is None
    assert covering("r-1")["size"] == 3
    back = start_witness(commission_witness.name, commission_witness.witness.logs,
                         state_dir=commission_witness.state_dir,
                         private_key=commission_witness.private_key)
    settings.AUDIT_WITNESSES = [{**settings.AUDIT_WITNESSES[0], "url": back.url}]
    from audit.witnessing import witnesses_ask_now

    record(1)
    witnesses_ask_now()
    assert covering("r-2") == {"size": 9, "root_hash": _root(9),
                               "witnesses": [commission_witness.name]}


def test_no_checkpoint_covers_an_event_not_sealed_yet(commission_witness, settings):
    from unittest import mock

    from audit.selectors import witnessed_checkpoint_covering

    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        _consent_event("r-3")
    assert witnessed_checkpoint_covering(targets=[("consent_request", "req-1")],
                                         receipt="r-3") is None
