"""AUDIT_WITNESSES: read from the environment, and a malformed value stops the start-up."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from audit.witness.note import witness_verifier_key
from config.settings import _audit_witnesses

from .conftest import LogUnderTest

ONE = witness_verifier_key("commission.example/witness", Ed25519PrivateKey.generate()).text
TWO = witness_verifier_key("operator.example/witness", Ed25519PrivateKey.generate()).text


def _read(monkeypatch, value: str):
    monkeypatch.setenv("TEST_WITNESSES", value)
    return _audit_witnesses("TEST_WITNESSES")


def test_it_reads_url_and_key_pairs_and_names_each_witness_by_its_key(monkeypatch):
    assert _read(monkeypatch, "") == []
    assert _read(monkeypatch, f"http://127.0.0.1:8300/ {ONE}; https://w.example {TWO}") == [
        {"name": "commission.example/witness", "url": "http://127.0.0.1:8300", "vkey": ONE},
        {"name": "operator.example/witness", "url": "https://w.example", "vkey": TWO}]
    assert _read(monkeypatch, json.dumps([{"url": "https://w.example", "vkey": ONE}])) == [
        {"name": "commission.example/witness", "url": "https://w.example", "vkey": ONE}]


@pytest.mark.parametrize("value, says", [
    (f"ftp://w.example {ONE}", "not an http(s) URL"),
    ("https://w.example", "not enough values"),
    ("https://w.example commission.example/witness+00000000+AAAA", "Ed25519"),
    (f"https://w.example {LogUnderTest().vkey}", "needs 0x04"),  # a log key, not a witness's
    (f"https://a.example {ONE};https://b.example {ONE}", "names a witness twice"),
    ('[{"url": "https://w.example"}]', "vkey"),
])
def test_a_malformed_value_is_refused_naming_the_problem(monkeypatch, value, says):
    with pytest.raises(ImproperlyConfigured, match="TEST_WITNESSES") as refused:
        _read(monkeypatch, value)
    assert says in str(refused.value)
