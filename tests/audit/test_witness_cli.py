"""`python -m audit.witness`: keygen, vkey and serve, run as the commission would run them."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from audit.witness.note import witness_verifier_key

from .conftest import LogUnderTest, post

ROOT = Path(__file__).resolve().parents[2]


def _witness(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit.witness", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(state: Path, key: Path, *logs: str, port: int, name: str = "test.example/w"):
    return subprocess.Popen(
        [sys.executable, "-m", "audit.witness", "serve", "--state", str(state), "--key",
         str(key), "--name", name, "--listen", f"127.0.0.1:{port}",
         *[arg for log in logs for arg in ("--log", log)]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the witness exited: {process.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the witness did not start listening")


def test_keygen_writes_a_private_pkcs8_pem_key_and_prints_its_verifier_key(tmp_path):
    out = tmp_path / "witness.pem"
    result = _witness("keygen", "--out", str(out), "--name", "commission.example/w1")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    pem = out.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    printed = result.stdout.strip()
    assert printed == witness_verifier_key("commission.example/w1", key).text
    assert printed.startswith("commission.example/w1+")
    again = _witness("vkey", "--key", str(out), "--name", "commission.example/w1")
    assert again.stdout.strip() == printed


def test_keygen_never_overwrites_a_key(tmp_path):
    out = tmp_path / "witness.pem"
    assert _witness("keygen", "--out", str(out)).returncode == 0
    before = out.read_bytes()
    result = _witness("keygen", "--out", str(out))
    assert result.returncode == 2 and "never overwritten" in result.stderr
    assert out.read_bytes() == before


def test_serve_witnesses_the_logs_it_is_given_and_stops_on_sigterm(tmp_path):
    key = tmp_path / "witness.pem"
    vkey = _witness("keygen", "--out", str(key), "--name", "test.example/w").stdout.strip()
    log = LogUnderTest()
    port = free_port()
    process = serve(tmp_path / "state", key, f"{log.origin}={log.vkey}", port=port)
    try:
        wait_until_listening(port, process)
        status, _, body = post(f"http://127.0.0.1:{port}", log.request(0, 9))
        assert status == 200 and body.decode().startswith(f"\u2014 {vkey.split('+')[0]} ")
        # The same state directory cannot be served twice: two processes could interleave.
        second = _witness("serve", "--state", str(tmp_path / "state"), "--key", str(key),
                          "--log", log.vkey, "--listen", f"127.0.0.1:{free_port()}")
        assert second.returncode == 2 and "another witness process holds" in second.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "co-signed checkpoint 9 (was 0)" in process.stderr.read()


def test_serve_refuses_a_malformed_log_key_and_a_missing_log(tmp_path):
    key = tmp_path / "witness.pem"
    _witness("keygen", "--out", str(key))
    result = _witness("serve", "--state", str(tmp_path / "s"), "--key", str(key),
                      "--log", "log.example/x=not-a-key")
    assert result.returncode == 2 and "name+keyid+key" in result.stderr
    result = _witness("serve", "--state", str(tmp_path / "s"), "--key", str(key))
    assert result.returncode == 2 and "--log" in result.stderr
    witness_key = _witness("vkey", "--key", str(key)).stdout.strip()
    result = _witness("serve", "--state", str(tmp_path / "s"), "--key", str(key),
                      "--log", witness_key)  # a cosigning key is not a log's key
    assert result.returncode == 2 and "needs 0x01" in result.stderr
    assert not os.path.exists(tmp_path / "s" / "evidence")


def test_wait_returns_once_the_named_witness_answers_and_refuses_another(start_witness):
    from .conftest import trusting

    witness = start_witness(logs=trusting(LogUnderTest()))
    listen = witness.url.removeprefix("http://")
    assert _witness("wait", "--listen", listen, "--vkey", witness.vkey).returncode == 0
    other = witness_verifier_key("other.example/w", Ed25519PrivateKey.generate()).text
    result = _witness("wait", "--listen", listen, "--vkey", other, "--timeout", "2")
    assert result.returncode == 2 and "answered by another witness" in result.stderr


def test_audit_log_key_prints_the_key_a_witness_is_started_with(capsys):
    from django.core.management import call_command

    from .conftest import service_log_key

    call_command("audit_log_key")
    assert capsys.readouterr().out.strip() == service_log_key().text
