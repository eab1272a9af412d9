"""An independent check in Go: golang.org/x/mod/sumdb/note opens the cosigned checkpoint with
the log's key and both witnesses' keys, and verifies every signature on it.

The note package verifies Ed25519 note signatures (type 0x01) itself; a cosignature/v1
(type 0x04) is verified by a note.Verifier written here from c2sp.org/tlog-cosignature with
Go's crypto/ed25519, the way other Go witnesses plug theirs in. Needs Debian's golang-go and
golang-golang-x-mod-dev; skipped without `go`.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

import pytest

from audit.models import Checkpoint
from audit.selectors import checkpoint_note_cosigned

from .conftest import configure, record, service_log_key

GOPATH = "/usr/share/gocode"
pytestmark = pytest.mark.skipif(
    not shutil.which("go") or not os.path.isdir(f"{GOPATH}/src/golang.org/x/mod/sumdb/note"),
    reason="needs go and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)")

OPEN_NOTE = r'''
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// cosignatureV1 verifies c2sp.org/tlog-cosignature v1 signatures: 8 bytes of big-endian
// time, then Ed25519 over "cosignature/v1\ntime <t>\n" and the note text.
type cosignatureV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v cosignatureV1) Name() string    { return v.name }
func (v cosignatureV1) KeyHash() uint32 { return v.hash }
func (v cosignatureV1) Verify(msg, sig []byte) bool {
	if len(sig) != 72 {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte("cosignature/v1\ntime "+strconv.FormatUint(t, 10)+"\n"), msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func cosignatureVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed witness key")
	}
	id, err := hex.DecodeString(parts[1])
	if err != nil || len(id) != 4 {
		return nil, fmt.Errorf("malformed key id")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return nil, fmt.Errorf("not a cosignature/v1 key")
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if !bytes.Equal(sum[:4], id) {
		return nil, fmt.Errorf("key id does not match the key")
	}
	return cosignatureV1{parts[0], binary.BigEndian.Uint32(id), ed25519.PublicKey(raw[1:])}, nil
}

func main() {
	msg, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	logKey, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fmt.Println("log key:", err)
		os.Exit(2)
	}
	verifiers := []note.Verifier{logKey}
	for _, vkey := range os.Args[3:] {
		v, err := cosignatureVerifier(vkey)
		if err != nil {
			fmt.Println("witness key:", err)
			os.Exit(2)
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	for _, s := range n.Sigs {
		fmt.Println("verified", s.Name)
	}
	fmt.Printf("unverified %d\n", len(n.UnverifiedSigs))
	fmt.Print(n.Text)
}
'''


def _open_in_go(tmp_path, note: str, *keys: str) -> subprocess.CompletedProcess:
    (tmp_path / "open_note.go").write_text(OPEN_NOTE)
    (tmp_path / "checkpoint.note").write_text(note, encoding="utf-8")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH,
           "GOCACHE": os.environ.get("GOCACHE", str(tmp_path.parent / "go-build-cache")),
           "GOFLAGS": ""}
    return subprocess.run(["go", "run", str(tmp_path / "open_note.go"),
                           str(tmp_path / "checkpoint.note"), *keys],
                          capture_output=True, text=True, env=env, timeout=180)


def test_go_note_verifies_the_log_signature_and_both_cosignatures(
        commission_witness, start_witness, settings, tmp_path):
    from audit.checkpoints import verifier_key
    from audit.signing import service_public_key_bytes

    operators = start_witness("operator.example/witness",
                              {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    configure(settings, commission_witness, operators)
    record(3)
    note = checkpoint_note_cosigned(Checkpoint.objects.order_by("-size").first())
    log_vkey = verifier_key(settings.AUDIT_LOG_ORIGIN, service_public_key_bytes())
    result = _open_in_go(tmp_path, note, log_vkey, commission_witness.vkey, operators.vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:4] == [
        f"verified {settings.AUDIT_LOG_ORIGIN}", f"verified {commission_witness.name}",
        f"verified {operators.name}", "unverified 0"]
    assert result.stdout.splitlines()[4:6] == [settings.AUDIT_LOG_ORIGIN, "3"]

    # One flipped bit in the commission's cosignature: Go refuses the whole note.
    lines = note.splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if commission_witness.name in line)
    blob = bytearray(base64.b64decode(lines[i].split(" ")[2]))
    blob[30] ^= 1
    lines[i] = f"\u2014 {commission_witness.name} {base64.b64encode(bytes(blob)).decode()}\n"
    result = _open_in_go(tmp_path, "".join(lines), log_vkey, commission_witness.vkey,
                         operators.vkey)
    assert result.returncode == 1
    assert f"invalid signature for key {commission_witness.name}" in result.stdout
