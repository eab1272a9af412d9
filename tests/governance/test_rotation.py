"""rotate_encryption_keys: every value re-encrypted under the first key; old keys droppable."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from governance.crypto import DecryptionError, decrypt_text
from governance.models import DataSubject
from governance.seoul import synthetic_phone
from governance.services import subjects_upsert

pytestmark = pytest.mark.django_db


def _stored_tokens() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM governance_datasubject WHERE phone <> '' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_rotation_re_encrypts_every_value_so_the_old_key_can_be_dropped(
        settings, outgoing_operator, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    subjects_upsert(operator=outgoing_operator.operator, kind="user", by=None,
                    rows=[{"external_id": f"U-{i}", "phone": synthetic_phone(i)}
                          for i in range(25)] + [{"external_id": "U-no-phone"}])
    before = _stored_tokens()
    assert len(before) == 25

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys", "--batch-size", "7")
    after = _stored_tokens()
    assert len(after) == 25 and not set(before) & set(after)
    # Fernet tokens (ORM path) or AES-GCM tokens (PostgreSQL COPY path): both open with the
    # new key alone.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert all(decrypt_text(token).startswith("+8210") for token in after)
    assert "governance_datasubject: 25 rows re-encrypted" in capsys.readouterr().out

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone
    phones = sorted(DataSubject.objects.exclude(phone="").values_list("phone", flat=True))
    assert phones == sorted(f"+82100000{i:04d}" for i in range(25))
    assert DataSubject.objects.get(external_id="U-no-phone").phone == ""
    event = AuditEvent.objects.get(action="encryption.rotated")
    # Other apps' encrypted tables (transfers records, ...) are rotated too; none has rows here.
    assert event.details["rows"]["governance_datasubject"] == 25
    assert sum(event.details["rows"].values()) == 25

    settings.FIELD_ENCRYPTION_KEYS = [old]  # and the old key alone no longer opens them
    with pytest.raises(DecryptionError):
        list(DataSubject.objects.exclude(phone="").values_list("phone", flat=True))


def test_rotation_stops_on_a_value_no_key_opens(settings, outgoing_operator):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    subjects_upsert(operator=outgoing_operator.operator, kind="user", by=None,
                    rows=[{"external_id": "U-1", "phone": synthetic_phone(1)}])
    before = _stored_tokens()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        call_command("rotate_encryption_keys")
    assert _stored_tokens() == before
