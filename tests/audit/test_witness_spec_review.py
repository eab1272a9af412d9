"""Points of c2sp.org/tlog-witness, tlog-cosignature and signed-note found in review.

- a verifier key's id is exactly 8 hex digits (Go's note package), not whatever
  ``bytes.fromhex`` accepts;
- a cosignature timestamp MUST NOT exceed 2^63 - 1: one that does never verifies, in the
  witness package or in the bundle's verify.py;
- verifiers MAY refuse a cosignature from the future: the service does, past 10 minutes
  (stored, it would make a witness look current for as long as its clock is ahead; and
  past the year 9999 it could not even be stored);
- the witness's timestamps never go backwards, even when its clock does, and they survive
  a restart (its state keeps the last one).
"""

from __future__ import annotations

import importlib.util
import struct
import time
from pathlib import Path

import pytest

from audit.models import WitnessCosignature, WitnessState
from audit.witness.note import (
    COSIGNATURE_V1,
    NoteError,
    SignatureLine,
    cosign,
    cosignature_message,
    cosignatures_by,
    parse_note,
    parse_signature_line,
    parse_verifier_key,
    witness_verifier_key,
)

from .conftest import LogUnderTest, record, trusting

BUNDLE_VERIFY = Path(__file__).resolve().parents[2] / "audit" / "bundle" / "verify.py"


def _bundle_verifier():
    spec = importlib.util.spec_from_file_location("bundle_verify", BUNDLE_VERIFY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key_id", [" 1a2b3c4", "1a2b 3c4", "1a2b3c4d5", "1a2b3c4", "+1a2b3c4"])
def test_a_verifier_key_id_must_be_eight_hex_digits(key_id):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    good = witness_verifier_key("w.example/w", Ed25519PrivateKey.generate()).text
    name, _, key = good.split("+", 2)
    with pytest.raises(NoteError, match="8 hex digits|does not match|name\\+keyid\\+key"):
        parse_verifier_key(f"{name}+{key_id}+{key}")
    verifier = _bundle_verifier()
    with pytest.raises(verifier.Failed):
        verifier.parse_witness_key(f"{name}+{key_id}+{key}")
    assert parse_verifier_key(good).text == good  # the well-formed one still reads


def _signed_with_timestamp(log: LogUnderTest, private_key, name: str, timestamp: int):
    text = log.note(4).partition("\n\n")[0].encode() + b"\n"
    key = parse_verifier_key(witness_verifier_key(name, private_key).text,
                             algorithm=COSIGNATURE_V1)
    signature = private_key.sign(cosignature_message(text, timestamp))
    line = SignatureLine(name=name, key_id=key.key_id,
                         signature=struct.pack(">Q", timestamp) + signature).line
    return text, key, line


def test_a_cosignature_dated_past_two_to_the_63_never_verifies(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    log, private = LogUnderTest(), Ed25519PrivateKey.generate()
    for timestamp, counts in ((2**63 - 1, True), (2**63, False), (2**64 - 1, False)):
        text, key, line = _signed_with_timestamp(log, private, "w.example/w", timestamp)
        note = parse_note(log.note(4).encode() + line.encode())
        good, bad = cosignatures_by(note, key)
        assert (len(good), bad) == ((1, 0) if counts else (0, 1)), timestamp
        verifier = _bundle_verifier()
        witness = verifier.parse_witness_key(key.text)
        if counts:
            assert verifier.cosigned_by(log.note(4) + line, [witness], "cp") == [key.name]
        else:
            with pytest.raises(verifier.Failed, match="does not verify"):
                verifier.cosigned_by(log.note(4) + line, [witness], "cp")


def test_the_service_refuses_a_cosignature_from_the_future(commission_witness):
    commission_witness.witness.clock = lambda: time.time() + 3600
    record(1)
    state = WitnessState.objects.get()
    assert "ahead of our clock" in state.last_error and state.failures == 1
    assert state.size == 0 and not WitnessCosignature.objects.exists()


def test_the_service_accepts_a_witness_clock_a_little_ahead(commission_witness):
    commission_witness.witness.clock = lambda: time.time() + 120
    record(1)
    assert WitnessCosignature.objects.count() == 1
    assert WitnessState.objects.get().failures == 0


def test_the_witness_timestamps_never_go_backwards_across_a_restart(start_witness, tmp_path):
    log = LogUnderTest()
    first = start_witness(logs=trusting(log), state_dir=tmp_path / "w")
    first.witness.clock = lambda: 2_000_000_000.0
    status, _, body = first.add(log.request(0, 10))
    assert status == 200
    first.stop()
    again = start_witness(logs=trusting(log), state_dir=tmp_path / "w",
                          private_key=first.private_key)
    again.witness.clock = lambda: 1_000_000_000.0  # its clock was set back
    status, _, body = again.add(log.request(10, 20))
    assert status == 200
    signature = parse_signature_line(body.decode())
    assert struct.unpack(">Q", signature.signature[:8])[0] == 2_000_000_000
    # and it still verifies as a cosignature at that time
    note = parse_note((log.note(20) + body.decode()).encode())
    [good], _ = cosignatures_by(note, parse_verifier_key(again.vkey))
    assert good.timestamp == 2_000_000_000
    assert cosign(note.text, name=again.name, private_key=again.private_key,
                  timestamp=good.timestamp).line == body.decode()


def test_a_post_elsewhere_does_not_desynchronise_a_kept_alive_connection(start_witness):
    """The protocol recommends keep-alive: a body the witness does not read must not be
    parsed as the next request on the connection."""
    import http.client
    from urllib.parse import urlsplit

    log = LogUnderTest()
    witness = start_witness(logs=trusting(log))
    connection = http.client.HTTPConnection(urlsplit(witness.url).netloc, timeout=10)
    try:
        connection.request("POST", "/elsewhere", body=b"GET / HTTP/1.1\r\n\r\n" + b"x" * 100)
        response = connection.getresponse()
        assert response.status == 404 and response.getheader("Connection") == "close"
        response.read()
        connection.request("POST", "/add-checkpoint", body=log.request(0, 3))
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
        connection.request("POST", "/add-checkpoint", body=log.request(3, 5))  # kept alive
        assert connection.getresponse().status == 200
    finally:
        connection.close()
