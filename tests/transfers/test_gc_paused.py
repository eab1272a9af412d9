"""Bulk steps pause the cyclic garbage collector and always switch it back on."""

from __future__ import annotations

import gc

import pytest

from transfers.services.common import gc_paused


def test_the_collector_is_off_during_the_step_and_on_again_after_a_failure():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("the step failed")
    assert gc.isenabled()


def test_a_collector_someone_else_switched_off_stays_off():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
