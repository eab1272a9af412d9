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
