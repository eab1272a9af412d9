"""Issue 18, part 5: a recipient with an ML-KEM-768 + X25519 key gets releases encrypted with
the hybrid HPKE suite, named in the manifest; the reference client decrypts both kinds."""

from __future__ import annotations

import base64
import json

import pytest

from governance.models import OperatorKey
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from tests.transfers.test_client import _files
from transfers import client as reference
from transfers import format as fmt
from transfers import synthetic
from transfers.models import Release
from transfers.services.keys import recipient_hybrid_key_register

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_hybrid_key_gets_a_hybrid_release_and_a_classical_one_still_decrypts(
        live_server, tmp_path, approved_plan, incoming_operator):
    upload_rows(approved_plan, list(synthetic.rows("merchant", 1, 4)))
    notified_long_ago(approved_plan)
    creds, keys_path = _files(tmp_path, incoming_operator)
    credentials, keys = json.loads(open(creds).read()), json.loads(open(keys_path).read())
    api = reference.Api(live_server.url, credentials["client_id"],
                        credentials["client_secret"])
    out = tmp_path / "out"

    classical = reference.pull(api, keys, out, plan_id=approved_plan.pk, log=lambda *_: None)
    assert classical["kem"] == "DHKEM(X25519, HKDF-SHA256)" and classical["acknowledged"]

    hybrid_keys, public = reference.hybrid_keys_new()
    key = recipient_hybrid_key_register(operator=incoming_operator.operator, public_key=public,
                                        by=None)
    assert len(bytes(key.public_key)) == fmt.HYBRID_KEY_LENGTH
    old = OperatorKey.objects.get(key_id=keys["hpke_key_id"])
    assert old.replaced_by == key  # the classical key's history stays
    upload_rows(approved_plan, list(synthetic.rows("merchant", 5, 3)), batch_id="b2")
    hybrid_file = keys | hybrid_keys | {"hpke_key_id": key.key_id}
    # Without the ML-KEM seed the client refuses, rather than trying the wrong suite.
    with pytest.raises(reference.ClientError, match="hpke_mlkem_seed"):
        reference.pull(api, keys | {"hpke_key_id": key.key_id}, out, plan_id=approved_plan.pk,
                       new=True, log=lambda *_: None)
    hybrid = reference.pull(api, hybrid_file, out, plan_id=approved_plan.pk,
                            log=lambda *_: None)
    assert hybrid["kem"] == "MLKEM768-X25519" and hybrid["acknowledged"]
    assert hybrid["records"] == 3
    release = Release.objects.get(public_id=hybrid["release"])
    manifest = json.loads(bytes(release.manifest))
    assert manifest["suite"]["kem_id"] == 0x647A and manifest["suite"]["enc_length"] == 1120
    chunk = manifest["chunks"][0]
    assert chunk["bytes"] > 1120
    answer = api.json("GET", f"/api/releases/{release.public_id}")
    assert answer["suite"] == "mlkem768_x25519"
    # The X25519 key alone does not open a hybrid chunk.
    data = api.call("GET", f"/api/releases/{release.public_id}/chunks/1")
    with pytest.raises(Exception):  # noqa: B017 - any refusal of the wrong key will do
        reference.SUITE.decrypt(data, incoming_operator.hpke_private_key,
                                info=base64.b64decode(chunk["info"]))
