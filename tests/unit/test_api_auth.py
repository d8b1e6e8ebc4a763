"""API-key verification without a database: constant-time comparison over every candidate."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.api.auth import authenticate, check_permissions, matching_key, record_use
from pims_sync.api.errors import status_for
from pims_sync.domain.api_keys import ApiKey, hash_key, key_prefix
from pims_sync.errors import ApiKeyDisabledError, PermissionDeniedError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stored(key: str, **fields: object) -> ApiKey:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "clinic_id": uuid.uuid4(),
        "name": "k",
        "key_prefix": key_prefix(key),
        "key_hash": hash_key(key),
        "permissions": None,
        "is_active": True,
        "expires_at": None,
        "last_used_at": None,
        "created_at": NOW,
    }
    values.update(fields)
    return ApiKey(**values)  # type: ignore[arg-type]


class FakeStore:
    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys
        self.touched: list[uuid.UUID] = []

    async def find_by_prefix(self, prefix: str) -> list[ApiKey]:
        return [key for key in self.keys if key.key_prefix == prefix]

    async def touch(self, key_id: uuid.UUID, now: datetime) -> None:
        self.touched.append(key_id)


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Record every hmac.compare_digest call (and still compare)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    return calls


@pytest.mark.parametrize("position", [0, 1, 2])
def test_every_candidate_is_compared_in_constant_time(
    compare_calls: list[tuple[bytes, bytes]], position: int
) -> None:
    keys = ["abcd1234" + str(i) * 56 for i in range(3)]
    candidates = [stored(key) for key in keys]
    assert matching_key(candidates, keys[position]) is candidates[position]
    assert len(compare_calls) == 3  # not stopping at the match
    assert {a for a, _ in compare_calls} == {c.key_hash.encode() for c in candidates}


def test_no_match_still_compares_every_candidate(
    compare_calls: list[tuple[bytes, bytes]],
) -> None:
    candidates = [stored("abcd1234" + str(i) * 56) for i in range(4)]
    assert matching_key(candidates, "abcd1234" + "9" * 56) is None
    assert len(compare_calls) == 4


async def test_checks_come_in_the_spec_order() -> None:
    key = "abcd1234" + "1" * 56
    disabled_and_expired = stored(key, is_active=False, expires_at=NOW - timedelta(days=1))
    with pytest.raises(ApiKeyDisabledError) as raised:
        await authenticate(FakeStore([disabled_and_expired]), key, NOW)
    assert (status_for(raised.value), raised.value.message) == (401, "API key is disabled")
    expiring_now = stored(key, expires_at=NOW)
    assert await authenticate(FakeStore([expiring_now]), key, NOW) is expiring_now


async def test_use_is_recorded_at_most_once_a_minute() -> None:
    fresh = stored("x" * 64, last_used_at=NOW - timedelta(seconds=30))
    stale = stored("y" * 64, last_used_at=NOW - timedelta(minutes=2))
    store = FakeStore([fresh, stale])
    await record_use(store, fresh, NOW)
    await record_use(store, stale, NOW)
    assert store.touched == [stale.id]


async def test_a_failing_touch_does_not_fail_the_request() -> None:
    class Broken(FakeStore):
        async def touch(self, key_id: uuid.UUID, now: datetime) -> None:
            raise OSError("database is locked")

    await record_use(Broken([]), stored("z" * 64), NOW)


def test_permission_alias_and_message() -> None:
    key = stored("k" * 64, permissions=("sync:reconciliation",))
    check_permissions(key, ["sync:reconcile"])
    with pytest.raises(PermissionDeniedError) as raised:
        check_permissions(key, ["sync:inbound", "sync:cases"])
    assert (status_for(raised.value), raised.value.code) == (403, "permission_denied")
    assert raised.value.message == "Permission denied: sync:inbound"


async def test_authenticate_compares_every_stored_candidate_of_the_prefix(
    compare_calls: list[tuple[bytes, bytes]],
) -> None:
    keys = ["abcd1234" + str(i) * 56 for i in range(5)]
    store = FakeStore([stored(key) for key in keys] + [stored("ffff0000" + "1" * 56)])
    assert await authenticate(store, keys[0], NOW) is store.keys[0]
    assert len(compare_calls) == 5  # every key sharing the prefix, none of the others


@pytest.mark.parametrize("presented", ["99999999" + "1" * 56, "short", "x" * 500])
def test_an_unknown_prefix_costs_one_comparison_of_equal_length(
    compare_calls: list[tuple[bytes, bytes]], presented: str
) -> None:
    assert matching_key([], presented) is None
    [(stand_in, hashed)] = compare_calls
    assert len(stand_in) == len(hashed) == 64  # compare_digest's time depends on length only
