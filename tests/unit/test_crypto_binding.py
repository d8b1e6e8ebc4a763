"""Bound blobs (issue 20, item 8): the clinic id and key id as AES-GCM associated data."""

from __future__ import annotations

import pytest

from pims_sync import crypto
from pims_sync.errors import DecryptionError

KEY = "k" * 16 + "0123456789abcdef-current"
OLD_KEY = "o" * 16 + "0123456789abcdef-previous"
ALPHA, BRAVO = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
TEXT = '{"username":"u","password":"p"}'


def test_a_bound_blob_opens_only_for_its_row_and_keeps_the_layout() -> None:
    blob = crypto.encrypt(TEXT, KEY, bound_to=ALPHA)
    assert blob.startswith("\\x")
    assert len(crypto.decode_blob(blob)) == 12 + 16 + len(TEXT)  # IV, tag, ciphertext
    assert crypto.decrypt(blob, KEY, bound_to=ALPHA) == TEXT
    for wrong in (BRAVO, None):
        with pytest.raises(DecryptionError):
            crypto.decrypt(blob, KEY, bound_to=wrong)


def test_the_key_id_is_bound_too() -> None:
    blob = crypto.encrypt(TEXT, KEY, "v2", bound_to=ALPHA)
    assert crypto.decrypt(blob, KEY, "v2", bound_to=ALPHA) == TEXT
    assert crypto.associated_data(ALPHA, "v2") != crypto.associated_data(ALPHA)


def test_the_fallback_reads_bound_then_unbound_blobs_under_either_key() -> None:
    keys = (KEY, OLD_KEY)
    legacy = crypto.encrypt(TEXT, OLD_KEY)  # the original's format, under the previous key
    assert crypto.decrypt_with_fallback(legacy, keys, bound_to=ALPHA) == TEXT
    bound = crypto.encrypt(TEXT, OLD_KEY, bound_to=ALPHA)
    assert crypto.decrypt_with_fallback(bound, keys, bound_to=ALPHA) == TEXT
    with pytest.raises(DecryptionError):
        crypto.decrypt_with_fallback(bound, keys, bound_to=BRAVO)
