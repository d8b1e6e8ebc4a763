"""Does the API-key check take longer the more of the stored hash the presented key matches?

Run: .venv/bin/python -m bench.key_check [--rounds 300] [--batch 400]

Spec §4: keys are looked up by their first 8 characters, then the SHA-256 hex of the
presented key is compared in constant time against every candidate. This times
`matching_key` (hash + compare over the candidates, what `authenticate` does after the
lookup) for a stored hash that agrees with the presented key's hash in its first 0, 16,
32 and 63 hex characters, the right key (64), and a prefix no key has (no candidate).
The comparison alone (`hmac.compare_digest` on the two hex strings) is timed the same way,
next to a naive `==` for reference. Cases are interleaved round by round so that drift
of a shared machine hits every case alike; each round times `--batch` calls, and the
figures are per call: the median over the rounds and its spread (p10–p90).
"""

from __future__ import annotations

import argparse
import hmac
import operator
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from pims_sync.api.auth import matching_key
from pims_sync.domain.api_keys import ApiKey, hash_key, key_prefix

PRESENTED = "abcd1234" + "5e" * 28
MATCHING_CHARS = (0, 16, 32, 63, 64)


def stored_with(matching: int) -> ApiKey:
    """A stored key whose hash equals the presented key's in its first `matching` chars."""
    target = hash_key(PRESENTED)
    if matching < len(target):
        differs = "0" if target[matching] != "0" else "1"
        tail = "".join("f" if c != "f" else "e" for c in target[matching + 1 :])
        target = target[:matching] + differs + tail
    return ApiKey(
        id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        name="bench",
        key_prefix=key_prefix(PRESENTED),
        key_hash=target,
        permissions=None,
        is_active=True,
        expires_at=None,
        last_used_at=None,
        created_at=datetime.now(UTC),
    )


def per_call_ns(call: Callable[[], object], batch: int) -> float:
    """Nanoseconds per call over one batch."""
    started = time.perf_counter_ns()
    for _ in range(batch):
        call()
    return (time.perf_counter_ns() - started) / batch


def measure(
    cases: dict[str, Callable[[], object]], rounds: int, batch: int
) -> dict[str, list[float]]:
    """Per-call times of every case, one batch each per round, cases interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            samples[name].append(per_call_ns(call, batch))
    return samples


def report(title: str, samples: dict[str, list[float]]) -> None:
    """Median and p10–p90 per case, and how far apart the medians are."""
    print(title)
    medians = {}
    for name, values in samples.items():
        deciles = statistics.quantiles(values, n=10)
        medians[name] = statistics.median(values)
        spread = f"p10–p90 {deciles[0]:8.1f} – {deciles[-1]:8.1f} ns"
        print(f"  {name:<24} median {medians[name]:8.1f} ns   {spread}")
    low, high = min(medians.values()), max(medians.values())
    print(f"  medians differ by {high - low:.1f} ns ({(high - low) / low:.1%} of the fastest)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=400)
    args = parser.parse_args()

    candidates = {n: [stored_with(n)] for n in MATCHING_CHARS}
    check: dict[str, Callable[[], object]] = {
        f"hash matches {n:>2} chars": partial(matching_key, c, PRESENTED)
        for n, c in candidates.items()
    }
    check["wrong prefix (no row)"] = partial(matching_key, [], PRESENTED)
    presented_hash = hash_key(PRESENTED).encode()
    encoded = {n: c[0].key_hash.encode() for n, c in candidates.items()}
    compare: dict[str, Callable[[], object]] = {
        f"compare_digest {n:>2} chars": partial(hmac.compare_digest, h, presented_hash)
        for n, h in encoded.items()
    }
    naive: dict[str, Callable[[], object]] = {
        f"naive == {n:>2} chars": partial(operator.eq, h, presented_hash)
        for n, h in encoded.items()
    }
    print(
        f"API key check, {args.rounds} rounds x {args.batch} calls per case "
        f"(presented key {PRESENTED[:8]}…, one candidate row)\n"
    )
    report(
        "matching_key (SHA-256 of the presented key + constant-time compare):",
        measure(check, args.rounds, args.batch),
    )
    report("hmac.compare_digest alone:", measure(compare, args.rounds, args.batch))
    report("naive == (reference, not used):", measure(naive, args.rounds, args.batch))


if __name__ == "__main__":
    main()
