"""AES-256-GCM encryption byte-compatible with the original service's crypto library.

Layout (spec §4): key = PBKDF2-HMAC-SHA256(ENCRYPTION_KEY, salt = key id, 100 000
iterations, 32 bytes); blob = IV(12) ‖ tag(16) ‖ ciphertext; stored as `\\x` + lowercase
hex (the Postgres bytea text form). Decryption also reads plain hex and base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pims_sync.errors import DecryptionError

DEFAULT_KEY_ID = "default"
PBKDF2_ITERATIONS = 100_000
KEY_LENGTH = 32
IV_LENGTH = 12
TAG_LENGTH = 16
BYTEA_PREFIX = "\\x"

_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})+\Z")

WRONG_KEY_MESSAGE = "could not decrypt: wrong ENCRYPTION_KEY or corrupted data"


@lru_cache(maxsize=32)
def derive_key(key: str, key_id: str = DEFAULT_KEY_ID) -> bytes:
    """The 32-byte AES key for this secret and key id (cached: PBKDF2 is slow by design).

    The cache keeps derived keys in process memory, where the secret already lives.
    """
    return hashlib.pbkdf2_hmac(
        "sha256", key.encode("utf-8"), key_id.encode("utf-8"), PBKDF2_ITERATIONS, KEY_LENGTH
    )


def encrypt(plaintext: str, key: str, key_id: str = DEFAULT_KEY_ID) -> str:
    """Encrypt text as the original does: `\\x` + hex of IV ‖ tag ‖ ciphertext."""
    iv = os.urandom(IV_LENGTH)
    return encode_blob(seal(plaintext.encode("utf-8"), derive_key(key, key_id), iv))


def seal(data: bytes, aes_key: bytes, iv: bytes) -> bytes:
    """IV ‖ tag ‖ ciphertext for this key and IV (AESGCM appends the tag; we move it)."""
    sealed = AESGCM(aes_key).encrypt(iv, data, None)
    return iv + sealed[-TAG_LENGTH:] + sealed[:-TAG_LENGTH]


def encode_blob(blob: bytes) -> str:
    """The Postgres bytea text form the original stores."""
    return BYTEA_PREFIX + blob.hex()


def decode_blob(text: str) -> bytes:
    """Bytes of a `\\x`-hex, plain-hex or base64 (standard or urlsafe) string."""
    text = text.strip()
    if text.startswith(BYTEA_PREFIX):
        try:
            return bytes.fromhex(text[len(BYTEA_PREFIX) :])
        except ValueError:
            raise DecryptionError("ciphertext is not valid hex after \\x") from None
    if _HEX.match(text):
        return bytes.fromhex(text)
    return _decode_base64(text)


def _decode_base64(text: str) -> bytes:
    text = "".join(text.split())  # base64 is often wrapped at 64 or 76 columns
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded.encode("ascii"))
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("ciphertext is neither hex nor base64") from None


def decrypt(ciphertext: str, key: str, key_id: str = DEFAULT_KEY_ID) -> str:
    """Decrypt what `encrypt` (or the original) wrote; DecryptionError on a wrong key."""
    blob = decode_blob(ciphertext)
    if len(blob) < IV_LENGTH + TAG_LENGTH:
        raise DecryptionError("ciphertext is too short")
    iv, tag, body = (
        blob[:IV_LENGTH],
        blob[IV_LENGTH : IV_LENGTH + TAG_LENGTH],
        blob[IV_LENGTH + TAG_LENGTH :],
    )
    try:
        data = AESGCM(derive_key(key, key_id)).decrypt(iv, body + tag, None)
    except InvalidTag:
        raise DecryptionError(WRONG_KEY_MESSAGE) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("decrypted data is not UTF-8 text") from None


def decrypt_with_fallback(
    ciphertext: str, keys: Sequence[str | None], key_id: str = DEFAULT_KEY_ID
) -> str:
    """Decrypt with the first key that works (current, then previous); None keys are skipped."""
    candidates = [key for key in keys if key]
    if not candidates:
        raise DecryptionError("no encryption key configured")
    for key in candidates[:-1]:
        try:
            return decrypt(ciphertext, key, key_id)
        except DecryptionError:
            continue
    return decrypt(ciphertext, candidates[-1], key_id)
