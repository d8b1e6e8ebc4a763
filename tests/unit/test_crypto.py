"""crypto.encrypt/decrypt against an independent implementation of the original's layout."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pims_sync import crypto
from pims_sync.errors import DecryptionError

KEY = "k" * 16 + "0123456789abcdef-current"
OTHER_KEY = "o" * 16 + "0123456789abcdef-previous"
PLAINTEXT = '{"username":"clinic@example.com","password":"secure-password","companyId":"p-1"}'

# Computed once with `_reference_blob` below and a fixed IV 00..0b; a change of
# algorithm, parameters or layout makes this stop decrypting.
KNOWN_KEY = "known-answer-test-key-0123456789abcdef"
KNOWN_PLAINTEXT = (
    '{"username":"clinic@example.com","password":"secure-password","companyId":"practice-123"}'
)
KNOWN_CIPHERTEXT = (
    "\\x000102030405060708090a0bdbfcb00afac5113aa14ba1492035b43966752573fa0b5b776d7ad4"
    "4151cebf7e25ee968de90ced73eda32e67886bb36b557bd7c3be41adee70a522bce1501afe7ac586"
    "939c3dcd7c705a98ef3d698953016b1c30c715a0831b55eb324db5934843267cf84aae05c8bc"
)


def _reference_key(key: str, key_id: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", key.encode(), key_id.encode(), 100_000, 32)


def _reference_blob(plaintext: str, key: str, key_id: str = "default", iv: bytes = b"") -> bytes:
    """The original's layout (docs/security.md#stored-credentials), built from primitives."""
    iv = iv or os.urandom(12)
    encryptor = Cipher(algorithms.AES(_reference_key(key, key_id)), modes.GCM(iv)).encryptor()
    body = encryptor.update(plaintext.encode("utf-8")) + encryptor.finalize()
    return iv + encryptor.tag + body


def _reference_open(blob: bytes, key: str, key_id: str = "default") -> str:
    iv, tag, body = blob[:12], blob[12:28], blob[28:]
    decryptor = Cipher(algorithms.AES(_reference_key(key, key_id)), modes.GCM(iv, tag)).decryptor()
    return (decryptor.update(body) + decryptor.finalize()).decode("utf-8")


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda b: "\\x" + b.hex(), id="bytea"),
        pytest.param(lambda b: b.hex(), id="plain-hex"),
        pytest.param(lambda b: b.hex().upper(), id="upper-hex"),
        pytest.param(lambda b: base64.b64encode(b).decode(), id="base64"),
        pytest.param(lambda b: base64.b64encode(b).decode().rstrip("="), id="base64-unpadded"),
        pytest.param(lambda b: base64.urlsafe_b64encode(b).decode(), id="base64-urlsafe"),
        pytest.param(lambda b: base64.encodebytes(b).decode(), id="base64-wrapped"),
    ],
)
def test_decrypt_opens_the_original_layout(encode: Callable[[bytes], str]) -> None:
    blob = _reference_blob(PLAINTEXT, KEY)
    assert crypto.decrypt(encode(blob), KEY) == PLAINTEXT


def test_known_answer_vector() -> None:
    assert crypto.decrypt(KNOWN_CIPHERTEXT, KNOWN_KEY) == KNOWN_PLAINTEXT
    blob = _reference_blob(KNOWN_PLAINTEXT, KNOWN_KEY, iv=bytes(range(12)))
    assert crypto.encode_blob(blob) == KNOWN_CIPHERTEXT


def test_encrypt_writes_the_exact_layout() -> None:
    text = crypto.encrypt(PLAINTEXT, KEY)
    assert text.startswith("\\x")
    hex_part = text[2:]
    assert hex_part == hex_part.lower()
    assert len(text) == 2 + 2 * (12 + 16 + len(PLAINTEXT.encode()))
    assert _reference_open(bytes.fromhex(hex_part), KEY) == PLAINTEXT


def test_encrypt_uses_a_fresh_iv() -> None:
    assert crypto.encrypt(PLAINTEXT, KEY) != crypto.encrypt(PLAINTEXT, KEY)


def test_seal_with_fixed_iv_matches_reference() -> None:
    iv = bytes(range(12))
    ours = crypto.seal(PLAINTEXT.encode(), crypto.derive_key(KEY), iv)
    assert ours == _reference_blob(PLAINTEXT, KEY, iv=iv)


def test_key_id_is_the_salt() -> None:
    blob = _reference_blob(PLAINTEXT, KEY, key_id="v2")
    assert crypto.decrypt(blob.hex(), KEY, key_id="v2") == PLAINTEXT
    with pytest.raises(DecryptionError):
        crypto.decrypt(blob.hex(), KEY)
    text = crypto.encrypt(PLAINTEXT, KEY, key_id="v2")
    assert _reference_open(bytes.fromhex(text[2:]), KEY, key_id="v2") == PLAINTEXT


def test_wrong_key_is_a_clear_error_without_the_data() -> None:
    text = crypto.encrypt(PLAINTEXT, KEY)
    with pytest.raises(DecryptionError) as caught:
        crypto.decrypt(text, OTHER_KEY)
    message = str(caught.value)
    assert "wrong ENCRYPTION_KEY" in message
    assert "secure-password" not in message
    assert text[2:20] not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_tampered_data_is_refused() -> None:
    blob = bytearray(_reference_blob(PLAINTEXT, KEY))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        crypto.decrypt(bytes(blob).hex(), KEY)


@pytest.mark.parametrize("text", ["\\x00ff", "", "abcd", base64.b64encode(b"x" * 27).decode()])
def test_too_short(text: str) -> None:
    with pytest.raises(DecryptionError, match="too short"):
        crypto.decrypt(text, KEY)


@pytest.mark.parametrize("text", ["\\xzz00", "not base64 at all!"])
def test_garbage_is_a_decryption_error(text: str) -> None:
    with pytest.raises(DecryptionError):
        crypto.decrypt(text, KEY)


def test_unicode_round_trip() -> None:
    text = "mot de passe: çà ñ 密码 🐾"
    assert crypto.decrypt(crypto.encrypt(text, KEY), KEY) == text
    assert _reference_open(bytes.fromhex(crypto.encrypt(text, KEY)[2:]), KEY) == text


def test_previous_key_fallback() -> None:
    old = crypto.encrypt(PLAINTEXT, OTHER_KEY)
    new = crypto.encrypt(PLAINTEXT, KEY)
    assert crypto.decrypt_with_fallback(old, [KEY, OTHER_KEY]) == PLAINTEXT
    assert crypto.decrypt_with_fallback(new, [KEY, OTHER_KEY]) == PLAINTEXT
    assert crypto.decrypt_with_fallback(new, [KEY, None]) == PLAINTEXT
    with pytest.raises(DecryptionError, match="wrong ENCRYPTION_KEY"):
        crypto.decrypt_with_fallback(old, [KEY])
    with pytest.raises(DecryptionError, match="no encryption key"):
        crypto.decrypt_with_fallback(old, [None])


def test_derived_keys_are_cached() -> None:
    crypto.derive_key.cache_clear()
    crypto.encrypt(PLAINTEXT, KEY)
    crypto.encrypt(PLAINTEXT, KEY)
    assert crypto.derive_key.cache_info().hits >= 1
    assert crypto.derive_key(KEY) == _reference_key(KEY, "default")
