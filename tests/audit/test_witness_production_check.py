"""Production refuses to start without a witness (broker.E016) or with a malformed
AUDIT_WITNESSES (broker.E017, in every environment), and warns when every witness is on the
service's own machine (broker.W016)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.witness.note import witness_verifier_key
from config.checks import audit_log_is_witnessed
from tests.project.test_production_checks import _real_production, _run_check

from .conftest import LogUnderTest

KEY = witness_verifier_key("pipc.example/witness", Ed25519PrivateKey.generate()).text
OTHER = witness_verifier_key("operator.example/witness", Ed25519PrivateKey.generate()).text
GOOD = {"name": "pipc.example/witness", "url": "https://witness.pipc.example", "vkey": KEY}


def _ids(settings, witnesses, *, production: bool) -> dict[str, str]:
    settings.IS_PRODUCTION = production
    settings.AUDIT_WITNESSES = witnesses
    return {message.id: message.msg for message in audit_log_is_witnessed(None)}


def test_production_with_the_commissions_witness_passes(settings):
    assert _ids(settings, [GOOD], production=True) == {}
    assert _ids(settings, [GOOD, {"name": "operator.example/witness",
                                  "url": "http://10.0.0.7:8300", "vkey": OTHER}],
                production=True) == {}


def test_production_without_a_witness_is_refused_but_development_is_not(settings):
    assert "AUDIT_WITNESSES is empty" in _ids(settings, [], production=True)["broker.E016"]
    assert _ids(settings, [], production=False) == {}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8300", "http://localhost:8300",
                                 "http://[::1]:8300"])
def test_production_warns_when_every_witness_runs_beside_the_service(settings, url):
    found = _ids(settings, [{**GOOD, "url": url}], production=True)
    assert set(found) == {"broker.W016"}
    assert _ids(settings, [{**GOOD, "url": url},
                           {"name": "operator.example/witness",
                            "url": "https://w.operator.example", "vkey": OTHER}],
                production=True) == {}
    assert _ids(settings, [{**GOOD, "url": url}], production=False) == {}


@pytest.mark.parametrize("witnesses, says", [
    ("https://w.example " + KEY, "must be a list"),
    ([{"name": "pipc.example/witness", "url": "https://w.example"}], "entry 0 is not"),
    ([{**GOOD, "url": "ftp://w.example"}], "is not an http(s) URL"),
    ([{**GOOD, "url": "https://"}], "is not an http(s) URL"),
    ([{**GOOD, "vkey": LogUnderTest().vkey}], "needs 0x04"),  # a log's key, not a witness's
    ([{**GOOD, "vkey": KEY[:-4] + "AAA="}], "verifier key"),
    ([{**GOOD, "name": "someone.example/witness"}], "its verifier key is named"),
    ([GOOD, GOOD], "is named twice"),
])
@pytest.mark.parametrize("production", [True, False])
def test_a_malformed_value_is_refused_in_every_environment(settings, witnesses, says,
                                                           production):
    found = _ids(settings, witnesses, production=production)
    assert set(found) == {"broker.E017"}, found
    assert says in found["broker.E017"]


def test_manage_py_check_refuses_production_without_witnesses(tmp_path):
    result = _run_check(tmp_path, **{**_real_production(), "AUDIT_WITNESSES": ""})
    assert result.returncode != 0
    assert "broker.E016" in result.stderr and "AUDIT_WITNESSES is empty" in result.stderr


def test_manage_py_check_refuses_a_malformed_environment_variable(tmp_path):
    result = _run_check(tmp_path, **_real_production(
        AUDIT_WITNESSES=f"https://w.example {LogUnderTest().vkey}"))
    assert result.returncode != 0
    assert "AUDIT_WITNESSES must be 'URL VKEY;URL VKEY'" in result.stderr


def test_manage_py_check_passes_production_with_a_witness(tmp_path):
    result = _run_check(tmp_path, "--deploy", "--fail-level", "WARNING",
                        **_real_production(AUDIT_WITNESSES=f"https://w.pipc.example {KEY}"))
    assert result.returncode == 0, result.stderr
