"""Same seed, same world; another seed, another world."""

from __future__ import annotations

from typing import Any

from tests.simulator.conftest import client_for, login, make_app, set_clock, week


async def snapshot(seed: int) -> dict[str, Any]:
    async with client_for(make_app(seed=seed)) as client:
        await set_clock(client)
        await login(client)
        events = await week(client, "2026-01-15", "2026-01-28")
        pages = [
            (await client.get(f"/consultations/{e['consultation_id']}/page-data")).json()
            for e in events
            if e["consultation_id"]
        ][:40]
        search = (await client.get("/search/patients", params={"q": "bella"})).json()
        return {"events": events, "pages": pages, "search": search}


async def test_same_seed_gives_identical_data() -> None:
    assert await snapshot(11) == await snapshot(11)


async def test_another_seed_gives_other_data() -> None:
    first, second = await snapshot(11), await snapshot(12)
    assert first["events"] != second["events"]
    assert first["pages"] != second["pages"]


async def test_order_of_generation_does_not_change_a_day() -> None:
    async with client_for(make_app()) as early, client_for(make_app()) as late:
        for client in (early, late):
            await set_clock(client)
            await login(client)
        await week(late, "2026-03-01", "2026-03-10")  # generate other days first
        assert await week(early, "2026-01-20", "2026-01-21") == await week(
            late, "2026-01-20", "2026-01-21"
        )
