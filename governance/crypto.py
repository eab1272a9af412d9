"""Personal values at rest: Fernet encryption with rotatable keys, and keyed blind indexes.

Keys come from settings (``FIELD_ENCRYPTION_KEYS``: the first key encrypts, every key
decrypts, so a new key can be put in front and the old ones dropped after
``manage.py rotate_encryption_keys``; ``BLIND_INDEX_KEY`` for HMAC lookups). A value that no
configured key can open raises `DecryptionError`: we never hand ciphertext back as if it were
the value.
"""

from __future__ import annotations

import hmac
import json
import re
from functools import lru_cache
from typing import Any

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """No configured key opens this value (wrong or dropped key, or tampered data)."""


class InvalidPhone(ValueError):
    pass


class InvalidBRN(ValueError):
    pass


# --- Fernet -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: personal values cannot be "
                                   "stored")
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def primary_fernet() -> Fernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    return Fernet(keys[0].encode())


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return fernet().decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value") from exc


def encrypt_text(value: str) -> str:
    return encrypt_bytes(value.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    return decrypt_bytes(token.encode("ascii")).decode()


def rotate_token(token: str) -> str:
    """Re-encrypt one stored token under the first key (raises if no key opens it)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value") from exc


# --- Bulk paths (uploads, releases) -----------------------------------------------------------


def bulk_encrypter():
    """bytes -> Fernet token (ASCII bytes) under the first key, bound once for a loop over many
    rows (no settings lookup per row)."""
    return primary_fernet().encrypt


# --- Model fields -------------------------------------------------------------------------


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the plain value.

    Empty strings are stored as they are (nothing to protect, and it keeps "no phone" cheap).
    Only `isnull` and exact-empty lookups make sense: search with a blind index instead.
    """

    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if hasattr(value, "resolve_expression"):
            return value
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)


class EncryptedJSONField(models.TextField):
    """Any JSON value, stored as one Fernet token of its JSON text."""

    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return json.loads(decrypt_text(value))

    def to_python(self, value: Any) -> Any:
        return value


# A record's values as "fragments": line 1 lists the keys (comma-separated), then one line per
# key holding ``"key":<JSON value>`` in the same order. JSON text never holds a raw newline, so
# a reader can keep some fields without parsing any value: the kept lines joined by commas,
# in braces, are the JSON object of those fields.
FRAGMENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_json_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_string = json.encoder.encode_basestring


_FRAGMENT_KEYS_SEEN: set[str] = set()


def fragment_key_check(key: str) -> None:
    """Refuse a field key that could break a fragment line (checked once per distinct key)."""
    if key not in _FRAGMENT_KEYS_SEEN:
        if not FRAGMENT_KEY.fullmatch(key):
            raise ValueError("a record field key must be letters, digits or _.:-")
        if len(_FRAGMENT_KEYS_SEEN) < 10_000:
            _FRAGMENT_KEYS_SEEN.add(key)


def fragments_encode(values: dict[str, Any]) -> bytes:
    parts = [",".join(values)]
    for key, value in values.items():
        fragment_key_check(key)
        if value.__class__ is str:
            parts.append(f'"{key}":{_json_string(value)}')
        elif value.__class__ is int:
            parts.append(f'"{key}":{value}')
        else:
            parts.append(f'"{key}":{_json_text(value)}')
    return "\n".join(parts).encode()


def fragments_json(plaintext: bytes) -> bytes:
    """The JSON object text of all the fields of a fragments plaintext."""
    _head, _, body = plaintext.partition(b"\n")
    return b"{" + body.replace(b"\n", b",") + b"}"


def fragments_decode(plaintext: bytes) -> dict[str, Any]:
    if plaintext[:1] == b"{":  # an older value stored as one JSON object
        return json.loads(plaintext)
    return json.loads(fragments_json(plaintext))


class EncryptedRecordField(models.TextField):
    """A dict of field key -> JSON value, stored as one Fernet token of its fragments (see
    `fragments_encode`). Reads older values stored as a Fernet token of a JSON object too.
    No model uses it any more (records live in blocks, `transfers.blocks`): it stays for the
    migrations that created and then moved that column (transfers 0002-0004)."""

    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return encrypt_bytes(fragments_encode(value)).decode("ascii")

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return fragments_decode(decrypt_bytes(value.encode("ascii")))

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedBytesField(models.TextField):
    """Bytes, stored as one Fernet token (for large values such as a block of records, where
    one token per value would cost more than the encryption itself)."""

    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return encrypt_bytes(bytes(value)).decode("ascii")

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt_bytes(value.encode("ascii"))

    def to_python(self, value: Any) -> Any:
        return value


def encrypted_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]


# --- Blind indexes ------------------------------------------------------------------------


def blind_index(value: str) -> str:
    """HMAC-SHA256 of an (already normalised) value under BLIND_INDEX_KEY, as hex."""
    key = settings.BLIND_INDEX_KEY
    if not key:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is empty")
    return hmac.digest(key.encode(), value.encode(), "sha256").hex()


# Digits are spelled [0-9] throughout: \d (and the phonenumbers parser) also take full-width
# and other Unicode digits, which would store a number whose blind index never matches what
# the subject types.
_E164_KR_MOBILE = re.compile(r"\+8210[0-9]{8}")


def normalize_phone(raw: str) -> str:
    """A Korean phone number in E.164 (+821012345678); raises InvalidPhone otherwise."""
    if not str(raw).isascii():
        raise InvalidPhone("write the phone number with the digits 0-9")
    if _E164_KR_MOBILE.fullmatch(str(raw)):
        return str(raw)  # already normalised (bulk uploads pass E.164): skip the parser
    try:
        number = phonenumbers.parse(str(raw), "KR")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number") from exc
    if not phonenumbers.is_possible_number(number) or number.country_code != 82:
        raise InvalidPhone("not a Korean phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_mobile(raw: str) -> str:
    """Like `normalize_phone`, but only +82 10-XXXX-XXXX mobiles (the numbers SMS reaches)."""
    e164 = normalize_phone(raw)
    if not _E164_KR_MOBILE.fullmatch(e164):
        raise InvalidPhone("not a Korean mobile number (010-XXXX-XXXX)")
    return e164


_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def brn_check_digit(first_nine: str) -> int:
    digits = [int(c) for c in first_nine]
    total = sum(d * w for d, w in zip(digits, _BRN_WEIGHTS, strict=True))
    total += (digits[8] * 5) // 10
    return (10 - total % 10) % 10


def normalize_brn(raw: str) -> str:
    """The 10 digits of a business registration number (XXX-XX-XXXXX), check digit verified."""
    digits = re.sub(r"[ \t-]", "", str(raw))
    if not re.fullmatch(r"[0-9]{10}", digits):
        raise InvalidBRN("a business registration number has 10 digits")
    if brn_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidBRN("the check digit of the business registration number is wrong")
    return digits


def phone_index(raw: str) -> str:
    return blind_index("phone:" + normalize_phone(raw))


def brn_hash(raw: str) -> str:
    return blind_index("brn:" + normalize_brn(raw))
