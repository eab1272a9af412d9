"""16 writers on PostgreSQL, each in its own business transaction: no gap, no duplicate, no
fork in the sealed sequence."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

from audit.merkle import MerkleTree, leaf_hash
from audit.models import AuditEvent, Checkpoint
from audit.sealing import audit_log_seal
from audit.services import audit_record
from audit.verification import audit_log_verify

WRITERS = 16
EVENTS_EACH = 25


@pytest.mark.postgres
def test_sixteen_concurrent_writers_get_a_gapless_unforked_sequence(transactional_db,
                                                                    settings):
    settings.AUDIT_SEAL_INLINE = True  # every commit also runs the sealer, concurrently
    settings.AUDIT_CHECKPOINT_INTERVAL = 0
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(EVENTS_EACH):
                with transaction.atomic():
                    group = Group.objects.create(name=f"writer-{n}-{i}")  # the business write
                    audit_record(actor_type="system", actor_id=f"system:writer-{n}",
                                 action="group.created", target_type="group",
                                 target_id=group.pk, details={"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    audit_log_seal(force_checkpoint=True)

    # Creating a group is audited by officers.permission_history too: count every event.
    assert AuditEvent.objects.filter(action="group.created").count() == WRITERS * EVENTS_EACH
    total = AuditEvent.objects.count()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(total))  # no gap, no duplicate, nothing left unsealed
    leaves = [leaf_hash(bytes.fromhex(h)) for h in
              AuditEvent.objects.order_by("seq").values_list("entry_hash", flat=True)]
    tree = MerkleTree(leaves)
    checkpoints = list(Checkpoint.objects.order_by("size").values_list("size", "root_hash"))
    assert len(checkpoints) > 1
    for size, root in checkpoints:  # no fork: every signed head is a prefix of one tree
        assert tree.root(size).hex() == root
    assert audit_log_verify().entries == total
