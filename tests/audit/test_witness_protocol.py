"""The witness's add-checkpoint answers, case by case as c2sp.org/tlog-witness lists them.

Each test posts real HTTP requests to a witness served from a thread and checks what a log
would see: the status, the content type, the body, and whether a later request finds the
state moved.
"""

from __future__ import annotations

import base64
import threading
import time

from audit.witness.note import (
    NoteError,
    cosignatures_by,
    parse_note,
    parse_signature_line,
    parse_verifier_key,
)

from .conftest import LogUnderTest, post, trusting


def _cosignature(witness, log: LogUnderTest, size: int, body: bytes):
    note = parse_note((log.note(size) + body.decode()).encode())
    good, bad = cosignatures_by(note, parse_verifier_key(witness.vkey))
    assert bad == 0
    return good


def test_it_cosigns_the_first_checkpoint_of_a_log_with_a_timestamped_cosignature(
        start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    before = int(time.time())
    status, _, body = witness.add(log_under_test.request(0, 5))
    assert status == 200, body
    line = body.decode()
    assert line.startswith("\u2014 commission.example/witness ") and line.endswith("\n")
    signature = parse_signature_line(line)
    assert signature.key_id == parse_verifier_key(witness.vkey).key_id
    assert len(signature.signature) == 72  # 8-byte timestamp + Ed25519
    [cosignature] = _cosignature(witness, log_under_test, 5, body)
    assert before <= cosignature.timestamp <= int(time.time())


def test_it_cosigns_a_checkpoint_consistent_with_the_one_it_cosigned(start_witness,
                                                                      log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 5))[0] == 200
    status, _, body = witness.add(log_under_test.request(5, 13))
    assert status == 200, body
    assert _cosignature(witness, log_under_test, 13, body)
    assert witness.add(log_under_test.request(13, 64))[0] == 200


def test_it_cosigns_the_same_checkpoint_again(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 7))[0] == 200
    status, _, body = witness.add(log_under_test.request(7, 7))
    assert status == 200 and _cosignature(witness, log_under_test, 7, body)


def test_it_refuses_an_inconsistent_checkpoint_with_422_and_keeps_its_state(
        start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 8))[0] == 200
    forked = log_under_test.fork(at=3)
    # The fork's own proof from 8: it proves the fork's tree of 8, not the one co-signed.
    status, _, body = witness.add(forked.request(8, 20))
    assert status == 422
    assert b"not shown to extend" in body
    assert witness.add(log_under_test.request(8, 20))[0] == 200  # the state did not move
    evidence = list((witness.state_dir / "evidence").iterdir())
    assert len(evidence) == 1 and forked.note(20) in evidence[0].read_text()


def test_it_refuses_a_proof_that_does_not_verify_with_422(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 8))[0] == 200
    proof = log_under_test.tree.consistency_proof(8, 20)
    proof[0] = bytes(32)
    assert witness.add(log_under_test.request(8, 20, proof=proof))[0] == 422
    assert witness.add(log_under_test.request(8, 20, proof=[]))[0] == 422
    # From size 0 the proof must be empty.
    fresh = start_witness(logs=trusting(log_under_test))
    assert fresh.add(log_under_test.request(0, 8, proof=[bytes(32)]))[0] == 422


def test_it_answers_404_for_a_log_it_does_not_witness(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    stranger = LogUnderTest(origin="other.example/log")
    status, _, body = witness.add(stranger.request(0, 5))
    assert status == 404 and b"unknown log origin 'other.example/log'" in body


def test_it_answers_403_when_no_trusted_key_signed_the_checkpoint(start_witness,
                                                                   log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    impostor = LogUnderTest(origin=log_under_test.origin)  # same origin, another key
    status, _, body = witness.add(impostor.request(0, 5))
    assert status == 403 and b"no signature" in body
    # The right key's name and id, but a signature over something else.
    tampered = log_under_test.note(5, sign=lambda body: log_under_test.key.sign(body + b"x"))
    assert witness.add(log_under_test.request(0, 5, note=tampered))[0] == 403
    assert witness.add(log_under_test.request(0, 5))[0] == 200  # nothing was stored


def test_it_accepts_a_checkpoint_signed_by_any_of_the_keys_it_trusts_for_the_origin(
        start_witness, log_under_test):
    rotated = LogUnderTest(origin=log_under_test.origin)
    witness = start_witness(logs={log_under_test.origin: [parse_verifier_key(rotated.vkey),
                                                          parse_verifier_key(
                                                              log_under_test.vkey)]})
    both = log_under_test.note(5) + rotated.note(5).partition("\n\n")[2]
    assert witness.add(log_under_test.request(0, 5, note=both))[0] == 200


def test_it_answers_409_with_its_size_to_a_stale_old_size(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 10))[0] == 200
    status, content_type, body = witness.add(log_under_test.request(0, 20))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"10\n")
    status, content_type, body = witness.add(log_under_test.request(4, 20))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"10\n")


def test_it_answers_409_to_an_old_size_past_the_one_it_cosigned(start_witness,
                                                                 log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 10))[0] == 200
    status, content_type, body = witness.add(log_under_test.request(15, 20))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"10\n")
    # A log that never spoke to it: its size is zero.
    fresh = start_witness(logs=trusting(log_under_test))
    assert fresh.add(log_under_test.request(10, 20))[:3] == (409, "text/x.tlog.size", b"0\n")


def test_it_answers_409_to_another_root_at_the_size_it_cosigned(start_witness,
                                                                log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 10))[0] == 200
    forked = log_under_test.fork(at=9)
    status, content_type, body = witness.add(forked.request(10, 10))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"10\n")


def test_it_answers_400_to_an_old_size_past_the_checkpoint(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    status, _, body = witness.add(log_under_test.request(9, 5, proof=[]))
    assert status == 400 and b"past the checkpoint" in body


def test_it_answers_400_to_malformed_bodies(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    note = log_under_test.note(5)
    node = base64.b64encode(bytes(32)).decode()
    for body in [note,                                   # no old size line
                 "old 05\n\n" + note,                    # a leading zero
                 "old -1\n\n" + note,
                 "old 0\n" + note,                       # no blank line before the note
                 "old 0\nnot base64!\n\n" + note,
                 "old 0\n" + base64.b64encode(b"short").decode() + "\n\n" + note,
                 "old 0\n" + (node + "\n") * 64 + "\n" + note,  # more than 63 proof lines
                 "old 0\n\n" + note.replace("\n5\n", "\n05\n"),
                 "old 0\n\n" + note.partition("\n\n")[0] + "\n",  # no signature
                 "old 0\n\n" + note.replace("\n\n", "\n\x07\n")]:
        status, _, answer = witness.add(body.encode())
        assert status == 400, (body, answer)


def test_it_serves_only_post_add_checkpoint(start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert post(witness.url, log_under_test.request(0, 5), path="/other")[0] == 404
    assert post(witness.url, b"x", method="PUT")[0] == 405
    status, _, body = post(witness.url, b"", path="/", method="GET")
    assert (status, body.decode()) == (200, witness.vkey + "\n")


def test_concurrent_requests_from_the_same_size_cosign_exactly_one_and_never_roll_back(
        start_witness, log_under_test):
    witness = start_witness(logs=trusting(log_under_test))
    assert witness.add(log_under_test.request(0, 10))[0] == 200
    answers: dict[int, int] = {}

    def submit(new: int) -> None:
        answers[new] = witness.add(log_under_test.request(10, new))[0]

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(11, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, status in answers.items() if status == 200]
    assert len(winners) == 1
    assert sorted(set(answers.values())) == [200, 409]
    stored = witness.store.latest(log_under_test.origin)
    assert stored.size == winners[0]
    # The witness moved to the winner's size and stays there for every loser's retry.
    status, _, body = witness.add(log_under_test.request(10, 41))
    assert (status, body) == (409, f"{winners[0]}\n".encode())


def test_a_verifier_key_with_a_wrong_key_id_is_refused():
    log = LogUnderTest()
    name, key_hash, key = log.vkey.split("+", 2)
    wrong = f"{name}+{int(key_hash, 16) ^ 1:08x}+{key}"
    try:
        parse_verifier_key(wrong)
    except NoteError as exc:
        assert "does not match" in str(exc)
    else:
        raise AssertionError("a key id that does not match its key was accepted")
