"""python -m audit.witness keygen | vkey | serve | wait (see --help of each)."""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import signal
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from .note import ED25519, NoteError, VerifierKey, parse_verifier_key, witness_verifier_key
from .server import Witness, WitnessServer
from .state import StateError, StateStore

DEFAULT_NAME = "commission.example/witness"


class UsageError(Exception):
    pass


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable PKCS8 PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: the witness key must be Ed25519")
    return key


def parse_log_option(text: str) -> tuple[str, VerifierKey]:
    """``ORIGIN=VKEY``, or a bare VKEY whose key name is the origin (as the service's is)."""
    origin, sep, vkey = text.partition("=")
    if not sep or "+" in origin:  # no origin given: the '=' was the key's base64 padding
        origin, vkey = "", text
    try:
        key = parse_verifier_key(vkey, algorithm=ED25519)
    except NoteError as exc:
        raise UsageError(f"--log {text!r}: {exc}") from exc
    return origin or key.name, key


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--listen takes HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def keygen(args: argparse.Namespace) -> int:
    key = Ed25519PrivateKey.generate()
    witness_verifier_key(args.name, key)  # refuse a bad name before writing anything
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise UsageError(f"{args.out} exists: a witness key is never overwritten") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    print(witness_verifier_key(args.name, key).text)
    return 0


def vkey(args: argparse.Namespace) -> int:
    print(witness_verifier_key(args.name, load_private_key(args.key)).text)
    return 0


def serve(args: argparse.Namespace) -> int:
    logs: dict[str, list[VerifierKey]] = {}
    for option in args.log:
        origin, key = parse_log_option(option)
        logs.setdefault(origin, []).append(key)
    if not logs:
        raise UsageError("give the log(s) to witness with --log ORIGIN=VKEY")
    private_key = load_private_key(args.key)
    try:
        store = StateStore(args.state)
    except StateError as exc:
        raise UsageError(str(exc)) from exc
    witness = Witness(name=args.name, private_key=private_key, logs=logs, store=store)
    server = WitnessServer(parse_listen(args.listen), witness)
    host, port = server.server_address[:2]
    logging.getLogger("witness").info(
        "witness %s listening on %s:%d for %s; verifier key %s", args.name, host, port,
        ", ".join(sorted(logs)), witness.verifier_key.text)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()  # waits for requests in flight
        store.close()
    return 0


def wait(args: argparse.Namespace) -> int:
    """Wait until the witness answers on HOST:PORT (for scripts that start one).

    With ``--vkey``, the witness answering must be that one: another process holding the
    port is an error, not a witness.
    """
    host, port = parse_listen(args.listen)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            connection = http.client.HTTPConnection(host, port, timeout=1)
            connection.request("GET", "/")
            answer = connection.getresponse().read().decode("utf-8", "replace").strip()
            connection.close()
            if args.vkey and answer != args.vkey:
                raise UsageError(f"{host}:{port} is answered by another witness ({answer[:80]})")
            return 0
        except OSError:
            if time.monotonic() > deadline:
                raise UsageError(f"no witness listening on {host}:{port} after "
                                 f"{args.timeout:g} s") from None
            time.sleep(0.05)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audit.witness",
        description="A C2SP tlog-witness for the consent broker's audit log.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("keygen", help="write a new Ed25519 witness key (PKCS8 PEM, mode "
                                           "0600) and print its verifier key")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--name", default=DEFAULT_NAME, help=f"the witness's name ({DEFAULT_NAME})")
    p.set_defaults(run=keygen)

    p = commands.add_parser("vkey", help="print the verifier key of a witness key")
    p.add_argument("--key", required=True, type=Path)
    p.add_argument("--name", default=DEFAULT_NAME)
    p.set_defaults(run=vkey)

    p = commands.add_parser("serve", help="serve POST /add-checkpoint")
    p.add_argument("--state", required=True, type=Path, help="directory of the durable state")
    p.add_argument("--key", required=True, type=Path, help="PKCS8 PEM Ed25519 private key")
    p.add_argument("--log", action="append", default=[], metavar="ORIGIN=VKEY",
                   help="a log to witness and its note verifier key; may repeat (several keys "
                        "for one origin: any of them may sign)")
    p.add_argument("--listen", default="127.0.0.1:8300", metavar="HOST:PORT")
    p.add_argument("--name", default=DEFAULT_NAME, help="the witness's key name")
    p.add_argument("--log-level", default=os.environ.get("WITNESS_LOG_LEVEL", "INFO"))
    p.set_defaults(run=serve)

    p = commands.add_parser("wait", help="wait until a witness listens on HOST:PORT")
    p.add_argument("--listen", default="127.0.0.1:8300", metavar="HOST:PORT")
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--vkey", help="the verifier key the witness must answer with")
    p.set_defaults(run=wait)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return args.run(args)
    except (UsageError, NoteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
