"""Personal values at rest: Fernet encryption with rotatable keys, and keyed blind indexes.

Bulk paths (uploaded records, subjects created by an upload) use a cheaper second token
format, ``a1:`` + base64(key id (4 bytes) || nonce (12 bytes) || AES-256-GCM ciphertext+tag),
under AES-256 keys derived (HKDF-SHA256) from the same ``FIELD_ENCRYPTION_KEYS``: one AEAD call
instead of Fernet's HMAC + AES-CBC. Every decrypting function accepts both formats, a wrong or
dropped key raises `DecryptionError` for both, and `rotate_token` re-encrypts either format
under the first key (keeping its format), so ``rotate_encryption_keys`` covers both.

Keys come from settings (``FIELD_ENCRYPTION_KEYS``: the first key encrypts, every key
decrypts, so a new key can be put in front and the old ones dropped after
``manage.py rotate_encryption_keys``; ``BLIND_INDEX_KEY`` for HMAC lookups). A value that no
configured key can open raises `DecryptionError`: we never hand ciphertext back as if it were
the value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from functools import lru_cache
from typing import Any

import phonenumbers
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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
    if token[:3] == GCM_PREFIX:
        return gcm_decrypt(token)
    try:
        return fernet().decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value") from exc


def encrypt_text(value: str) -> str:
    return encrypt_bytes(value.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    return decrypt_bytes(token.encode("ascii")).decode()


def rotate_token(token: str) -> str:
    """Re-encrypt one stored token under the first key (raises if no key opens it). A token in
    the AES-GCM format stays in that format; a Fernet token stays a Fernet token."""
    if token[:3] == GCM_PREFIX_TEXT:
        return gcm_encrypt(gcm_decrypt(token.encode("ascii"))).decode("ascii")
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value") from exc


# --- AES-256-GCM tokens (bulk paths) --------------------------------------------------------

GCM_PREFIX = b"a1:"
GCM_PREFIX_TEXT = "a1:"
_GCM_INFO = b"consent-broker field encryption AES-256-GCM v1"
_NONCE = 12
_KID = 4


@lru_cache(maxsize=8)
def _gcm_keys_for(keys: tuple[str, ...]) -> tuple[tuple[bytes, AESGCM],
                                                      dict[bytes, AESGCM]]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: personal values cannot be "
                                   "stored")
    derived = []
    for key in keys:
        material = base64.urlsafe_b64decode(key)
        if len(material) != 32:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS: each key is a Fernet key "
                                       "(32 bytes, url-safe base64)")
        aes_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=_GCM_INFO).derive(material)
        kid = hashlib.sha256(b"kid:" + aes_key).digest()[:_KID]
        derived.append((kid, AESGCM(aes_key)))
    by_kid: dict[bytes, AESGCM] = {}
    for kid, aead in derived:
        by_kid.setdefault(kid, aead)
    return derived[0], by_kid


def _gcm_keys() -> tuple[tuple[bytes, AESGCM], dict[bytes, AESGCM]]:
    return _gcm_keys_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def gcm_encrypt(data: bytes) -> bytes:
    """One AES-GCM token (ASCII bytes) of ``data`` under the first key."""
    (kid, aead), _ = _gcm_keys()
    nonce = os.urandom(_NONCE)
    return GCM_PREFIX + binascii.b2a_base64(kid + nonce + aead.encrypt(nonce, data, None),
                                            newline=False)


def gcm_encrypter():
    """A function bytes -> token bound to the current first key (for loops over many rows)."""
    (kid, aead), _ = _gcm_keys()
    encrypt, urandom, b64 = aead.encrypt, os.urandom, binascii.b2a_base64

    def encrypt_one(data: bytes) -> bytes:
        nonce = urandom(_NONCE)
        return GCM_PREFIX + b64(kid + nonce + encrypt(nonce, data, None), newline=False)

    return encrypt_one


def gcm_decrypter():
    """A function token (str or bytes, either format) -> plaintext bytes, for loops."""
    _, by_kid = _gcm_keys()
    a2b = binascii.a2b_base64

    def decrypt_one(token) -> bytes:
        prefix = token[:3]
        if prefix != GCM_PREFIX_TEXT and prefix != GCM_PREFIX:
            return decrypt_bytes(token.encode("ascii") if isinstance(token, str) else token)
        try:
            raw = a2b(token[3:])  # takes ASCII str or bytes
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("a malformed AES-GCM token") from exc
        aead = by_kid.get(raw[:_KID])
        if aead is None:
            raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value")
        try:
            return aead.decrypt(raw[_KID:_KID + _NONCE], raw[_KID + _NONCE:], None)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("no key in FIELD_ENCRYPTION_KEYS opens this value") from exc

    return decrypt_one


def gcm_decrypt(token: bytes) -> bytes:
    return gcm_decrypter()(token)


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


def fragments_encode(values: dict[str, Any]) -> bytes:
    parts = [",".join(values)]
    for key, value in values.items():
        if key not in _FRAGMENT_KEYS_SEEN:
            if not FRAGMENT_KEY.fullmatch(key):
                raise ValueError("a record field key must be letters, digits or _.:-")
            if len(_FRAGMENT_KEYS_SEEN) < 10_000:
                _FRAGMENT_KEYS_SEEN.add(key)
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
    """A dict of field key -> JSON value, stored as one AES-GCM token of its fragments (see
    `fragments_encode`): cheap to write in bulk and to filter field by field on release.
    Reads older values stored as a Fernet token of a JSON object too."""

    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return gcm_encrypt(fragments_encode(value)).decode("ascii")

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return fragments_decode(decrypt_bytes(value.encode("ascii")))

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


_E164_KR_MOBILE = re.compile(r"\+8210\d{8}")


def normalize_phone(raw: str) -> str:
    """A Korean phone number in E.164 (+821012345678); raises InvalidPhone otherwise."""
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
    if not re.fullmatch(r"\+8210\d{8}", e164):
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
    digits = re.sub(r"[\s-]", "", str(raw))
    if not re.fullmatch(r"\d{10}", digits):
        raise InvalidBRN("a business registration number has 10 digits")
    if brn_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidBRN("the check digit of the business registration number is wrong")
    return digits


def phone_index(raw: str) -> str:
    return blind_index("phone:" + normalize_phone(raw))


def brn_hash(raw: str) -> str:
    return blind_index("brn:" + normalize_brn(raw))
