"""Crash safety of the witness's state: old or new, never torn, and no fork after a restart.

Two ways in: a failure injected between writing the new state and putting it in place (in
process), and a real witness process killed with SIGKILL at random moments while it is
writing, restarted on the same directory each time.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from audit.witness.state import LogRecord, StateError, StateStore

from .conftest import LogUnderTest, post, trusting
from .test_witness_cli import ROOT, free_port, wait_until_listening


def _state_file(directory: Path) -> Path:
    [path] = directory.glob("log-*.json")
    return path


def test_a_failure_before_the_rename_keeps_the_old_state_and_cosigns_nothing(
        start_witness, log_under_test, monkeypatch, tmp_path):
    witness = start_witness(logs=trusting(log_under_test), state_dir=tmp_path / "w")
    assert witness.add(log_under_test.request(0, 10))[0] == 200
    before = _state_file(tmp_path / "w").read_bytes()

    def crash(src, dst):
        raise OSError("disk gone between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    status, _, body = witness.add(log_under_test.request(10, 20))
    monkeypatch.undo()
    assert status == 500 and b"not co-signed" in body
    assert _state_file(tmp_path / "w").read_bytes() == before
    assert not list((tmp_path / "w").glob(".*.tmp"))
    # It still expects 10, and moves on from there once the disk is back.
    assert witness.add(log_under_test.request(20, 30, proof=[]))[:3] == (
        409, "text/x.tlog.size", b"10\n")
    assert witness.add(log_under_test.request(10, 20))[0] == 200


def test_a_restart_reads_the_state_back_and_refuses_a_fork_of_it(start_witness,
                                                                   log_under_test, tmp_path):
    first = start_witness(logs=trusting(log_under_test), state_dir=tmp_path / "w")
    assert first.add(log_under_test.request(0, 12))[0] == 200
    first.stop()
    again = start_witness(logs=trusting(log_under_test), state_dir=tmp_path / "w",
                          private_key=first.private_key)
    forked = log_under_test.fork(at=5)
    assert again.add(forked.request(0, 12))[:3] == (409, "text/x.tlog.size", b"12\n")
    assert again.add(forked.request(12, 12))[0] == 409
    assert again.add(forked.request(12, 30))[0] == 422
    assert again.add(log_under_test.request(12, 30))[0] == 200


def test_an_unreadable_state_file_stops_the_witness_instead_of_forgetting(tmp_path):
    store = StateStore(tmp_path / "w")
    store.store(LogRecord(origin="log.example/x", size=3, root_hash=bytes(32), note="n",
                          cosigned_at=1))
    store.close()
    path = _state_file(tmp_path / "w")
    path.write_bytes(path.read_bytes()[:40])  # what a non-atomic writer could leave
    with pytest.raises(StateError, match="stops rather than forget"):
        StateStore(tmp_path / "w")


# The witness as the commission runs it, with its writes slowed down and split in two so
# that a SIGKILL often lands in the middle of one: between the two halves of the temporary
# file, or between the complete temporary file and the rename.
SLOW_WITNESS = textwrap.dedent("""
    import os, random, sys, time
    real_write, real_replace = os.write, os.replace

    def write(fd, data):
        half = max(1, len(data) // 2)
        written = real_write(fd, bytes(data[:half]))
        time.sleep(random.random() * 0.004)
        return written

    def replace(src, dst):
        time.sleep(random.random() * 0.004)
        real_replace(src, dst)

    os.write, os.replace = write, replace
    from audit.witness.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def _start(tmp_path: Path, key: Path, log: LogUnderTest) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_WITNESS, "serve", "--state", str(tmp_path / "state"),
         "--key", str(key), "--log", log.vkey, "--listen", f"127.0.0.1:{port}",
         "--log-level", "WARNING"], cwd=ROOT, stderr=subprocess.PIPE)
    wait_until_listening(port, process)
    return process, f"http://127.0.0.1:{port}"


def test_a_witness_killed_while_writing_keeps_old_or_new_state_and_never_cosigns_a_fork(
        tmp_path):
    rng = random.Random(20)
    log = LogUnderTest(size=600)
    key = tmp_path / "witness.pem"
    subprocess.run([sys.executable, "-m", "audit.witness", "keygen", "--out", str(key)],
                   cwd=ROOT, check=True, capture_output=True)
    cosigned = 0  # the largest size the witness answered 200 for, over every run
    restarts = 0
    kills_mid_write = 0
    while restarts < 6:
        process, url = _start(tmp_path, key, log)
        # The log asks for the witness's size with old 0, as the document allows.
        status, _, body = post(url, log.request(0, max(cosigned, 1), proof=[]))
        known = int(body) if status == 409 else max(cosigned, 1)
        assert known >= cosigned, "the witness forgot a checkpoint it had co-signed"
        if known:
            forked = log.fork(at=rng.randrange(known))
            assert post(url, forked.request(known, known))[0] == 409
            assert post(url, forked.request(known, min(known + 5, 600)))[0] == 422
        # SIGKILL from another thread at a random moment, while requests keep coming.
        killer = threading.Timer(rng.uniform(0.05, 0.3), process.send_signal,
                                 args=(signal.SIGKILL,))
        killer.start()
        submitted = {known}
        while process.poll() is None and known < 590:
            new = known + rng.randint(1, 3)
            submitted.add(new)
            try:
                if post(url, log.request(known, new))[0] == 200:
                    cosigned = known = new
            except (OSError, http.client.HTTPException):
                # Killed with the request in flight (or half-way through its answer): no
                # answer read, so no cosignature counted.
                break
        killer.join()
        process.wait(timeout=10)
        restarts += 1
        kills_mid_write += bool(list((tmp_path / "state").glob(".*.tmp")))
        on_disk = json.loads(_state_file(tmp_path / "state").read_text())
        assert on_disk["size"] in submitted and on_disk["size"] >= cosigned
        assert on_disk["root_hash"] == __import__("base64").b64encode(
            log.tree.root(on_disk["size"])).decode()
    assert cosigned > 10
    # Not an assertion on luck: reported so that a run with no torn write is visible.
    print(f"{restarts} kills, {kills_mid_write} in the middle of a write")
