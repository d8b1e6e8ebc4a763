"""AES-256-GCM encryption byte-compatible with the original service's crypto library.

Layout (the original's): key = PBKDF2-HMAC-SHA256(ENCRYPTION_KEY, salt = key id, 100 000
iterations, 32 bytes); blob = IV(12) ‖ tag(16) ‖ ciphertext; stored as `\\x` + lowercase
hex (the Postgres bytea text form). Decryption also reads plain hex and base64.

A blob may be *bound* to its row: then the row's owner (the clinic id) and the key id are
the AES-GCM associated data, so a blob copied into another clinic's row fails to decrypt
there. The layout is unchanged; the original wrote unbound blobs, which stay readable
where the caller allows them (`decrypt_with_fallback`).
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


def associated_data(bound_to: str | None, key_id: str = DEFAULT_KEY_ID) -> bytes | None:
    """What a bound blob is sealed with: its row's owner and the key id (None: unbound)."""
    if bound_to is None:
        return None
    return f"pims-sync:v1|key:{key_id}|row:{bound_to}".encode()


def encrypt(
    plaintext: str, key: str, key_id: str = DEFAULT_KEY_ID, *, bound_to: str | None = None
) -> str:
    """`\\x` + hex of IV ‖ tag ‖ ciphertext; bound to `bound_to` (a clinic id) when given."""
    iv = os.urandom(IV_LENGTH)
    aad = associated_data(bound_to, key_id)
    return encode_blob(seal(plaintext.encode("utf-8"), derive_key(key, key_id), iv, aad))


def seal(data: bytes, aes_key: bytes, iv: bytes, aad: bytes | None = None) -> bytes:
    """IV ‖ tag ‖ ciphertext for this key and IV (AESGCM appends the tag; we move it)."""
    sealed = AESGCM(aes_key).encrypt(iv, data, aad)
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


def decrypt(
    ciphertext: str, key: str, key_id: str = DEFAULT_KEY_ID, *, bound_to: str | None = None
) -> str:
    """Decrypt what `encrypt` (or the original) wrote; DecryptionError on a wrong key.

    `bound_to` must be what the blob was bound to (None: an unbound blob, the original's).
    """
    blob = decode_blob(ciphertext)
    if len(blob) < IV_LENGTH + TAG_LENGTH:
        raise DecryptionError("ciphertext is too short")
    iv, tag, body = (
        blob[:IV_LENGTH],
        blob[IV_LENGTH : IV_LENGTH + TAG_LENGTH],
        blob[IV_LENGTH + TAG_LENGTH :],
    )
    try:
        data = AESGCM(derive_key(key, key_id)).decrypt(
            iv, body + tag, associated_data(bound_to, key_id)
        )
    except InvalidTag:
        raise DecryptionError(WRONG_KEY_MESSAGE) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("decrypted data is not UTF-8 text") from None


def decrypt_with_fallback(
    ciphertext: str,
    keys: Sequence[str | None],
    key_id: str = DEFAULT_KEY_ID,
    *,
    bound_to: str | None = None,
) -> str:
    """Decrypt with the first key that works (current, then previous); None keys are skipped.

    With `bound_to`, each key is tried on the blob bound to it, then on an unbound blob
    (the original's format, still readable until `credentials rotate` binds it).
    """
    candidates = [key for key in keys if key]
    if not candidates:
        raise DecryptionError("no encryption key configured")
    scopes = (None,) if bound_to is None else (bound_to, None)
    attempts = [(key, scope) for key in candidates for scope in scopes]
    for key, scope in attempts[:-1]:
        try:
            return decrypt(ciphertext, key, key_id, bound_to=scope)
        except DecryptionError:
            continue
    key, scope = attempts[-1]
    return decrypt(ciphertext, key, key_id, bound_to=scope)
