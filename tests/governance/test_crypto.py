"""Encryption at rest and blind indexes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from governance.crypto import (
    DecryptionError,
    InvalidBRN,
    InvalidPhone,
    blind_index,
    brn_hash,
    decrypt_bytes,
    encrypt_bytes,
    normalize_brn,
    normalize_mobile,
    phone_index,
)
from governance.models import DataSubject


def test_it_round_trips_bytes_and_refuses_a_wrong_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = encrypt_bytes(b"secret")
    assert token != b"secret" and decrypt_bytes(token) == b"secret"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        decrypt_bytes(token)


@pytest.mark.django_db
def test_a_phone_is_stored_encrypted_and_a_wrong_key_raises_instead_of_returning_ciphertext(
        merchant, settings):
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM governance_datasubject WHERE id = %s", [merchant.pk])
        (stored,) = cursor.fetchone()
    # Fernet, through the ORM (SQLite) or the bulk COPY path (PostgreSQL).
    assert "+821000000001" not in stored and stored.startswith("gAAAA")
    assert DataSubject.objects.get(pk=merchant.pk).phone == "+821000000001"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        DataSubject.objects.get(pk=merchant.pk).phone  # noqa: B018


@pytest.mark.django_db
def test_a_subject_is_found_by_the_blind_index_of_any_spelling_of_its_phone(merchant):
    assert merchant.phone_index == phone_index("+82 10-0000-0001") == phone_index("01000000001")
    assert DataSubject.objects.filter(phone_index=phone_index("010 0000 0001")).get() == merchant
    assert merchant.brn_hash == brn_hash("900-00-00016") == brn_hash("9000000016")


def test_blind_indexes_depend_on_the_key(settings):
    first = blind_index("x")
    settings.BLIND_INDEX_KEY = "another key"
    assert blind_index("x") != first


def test_it_rejects_malformed_numbers():
    with pytest.raises(InvalidBRN):
        normalize_brn("900-00-00002")  # wrong check digit
    with pytest.raises(InvalidBRN):
        normalize_brn("12345")
    assert normalize_brn("900 00 00001") == "9000000001"
    with pytest.raises(InvalidPhone):
        normalize_mobile("02-120-1234")
    with pytest.raises(InvalidPhone):
        normalize_mobile("not a phone")
    assert normalize_mobile("010-0000-0001") == "+821000000001"


def test_the_json_field_round_trips_a_value_and_refuses_a_wrong_key(settings):
    from governance.crypto import EncryptedJSONField

    field = EncryptedJSONField()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    value = {"대표자명": "홍길동", "items": [1, 2]}
    stored = field.get_prep_value(value)
    assert "홍길동" not in stored
    assert field.from_db_value(stored, None, None) == value
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        field.from_db_value(stored, None, None)


def test_the_bulk_helpers_write_fernet_and_refuse_a_wrong_key_or_a_tampered_byte(settings):
    from governance.crypto import bulk_encrypter

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = bulk_encrypter()("홍길동 +821000000001".encode())
    assert token.startswith(b"gAAAA") and "홍길동".encode() not in token
    assert decrypt_bytes(token) == "홍길동 +821000000001".encode()
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-1] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_bytes(base64.urlsafe_b64encode(bytes(raw)))
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        decrypt_bytes(token)


def test_the_record_field_stores_fragments_that_filter_without_parsing_and_reads_old_values(
        settings):
    from governance.crypto import (
        EncryptedJSONField,
        EncryptedRecordField,
        fragments_encode,
        fragments_json,
    )

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    field = EncryptedRecordField()
    value = {"user.name": "이용자\n\"1\"", "user.certificate_balance": 1000,
             "user.flag": True, "user.history": [{"a": "b,c"}], "user.rate": 1.5}
    stored = field.get_prep_value(value)
    assert stored.startswith("gAAAA") and "이용자" not in stored
    assert field.from_db_value(stored, None, None) == value
    plaintext = fragments_encode(value)
    head, *parts = plaintext.split(b"\n")
    assert head.split(b",") == [k.encode() for k in value]
    assert json.loads(b"{" + b",".join(parts[i] for i in (0, 3)) + b"}") == {
        "user.name": value["user.name"], "user.history": value["user.history"]}
    assert json.loads(fragments_json(plaintext)) == value
    # A value written before the fragments format (a Fernet token of a JSON object) still reads.
    assert field.from_db_value(EncryptedJSONField().get_prep_value(value), None, None) == value
    with pytest.raises(ValueError):
        fragments_encode({"bad\nkey": 1})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        field.from_db_value(stored, None, None)
