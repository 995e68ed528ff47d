"""Fault injection: shares per kind with a fixed seed, lost responses really applied,
per-route rules, latency, reproducibility and the request log's records of faults."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from mpasync.emulator import Emulator, FaultRule, Faults
from tests.emulator.emu_helpers import Api

FT = "/platform/v2/workspaces/4302/transformations/fields"


def transformation(n: int) -> dict:
    return {
        "id": f"ft-{n}",
        "name": f"Transformation {n}",
        "destination_type": "event_batch",
        "mappings": [{"mapping_type": "column", "source": "a", "destination": "b"}],
    }


async def post_many(api: Api, count: int, concurrency: int = 16) -> Counter[str]:
    """POST `count` field transformations (POST: aiohttp never re-sends it after a drop)."""
    token = await api.token()
    headers = {"Authorization": f"Bearer {token}"}
    seen: Counter[str] = Counter()
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            try:
                async with api.session.post(
                    api.emu.url(FT), json=transformation(n), headers=headers
                ) as r:
                    await r.read()
                    seen[str(r.status)] += 1
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                seen["disconnected"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return seen


async def test_fault_shares_with_fixed_seed(session: aiohttp.ClientSession) -> None:
    faults = Faults(
        error_rate=0.1, rate_limited_rate=0.1, drop_rate=0.1, lost_response_rate=0.1, seed=42
    )
    async with Emulator(faults=faults) as emu:
        api = Api(emu, session)
        total = 2000
        seen = await post_many(api, total)
        api_entries = [e for e in emu.request_log if e.path == FT]
        assert len(api_entries) == total
        by_fault = Counter(e.fault for e in api_entries)
        for kind in ("error", "rate_limited", "drop", "lost_response"):
            assert by_fault[kind] / total == pytest.approx(0.1, abs=0.025), (kind, by_fault)
        # what the client saw matches what the request log says happened
        errors = sum(seen[str(s)] for s in (500, 502, 503, 504))
        assert errors == by_fault["error"]
        assert seen["429"] == by_fault["rate_limited"]
        assert seen["disconnected"] == by_fault["drop"] + by_fault["lost_response"]
        assert seen["200"] == by_fault[None]
        statuses = {e.status for e in api_entries if e.fault == "error"}
        assert statuses == {500, 502, 503, 504}

        # lost responses were applied, drops and errors were not
        stored = {key[1] for key in emu.state.field_transformations}
        for entry in api_entries:
            ft_id = entry.body["id"]
            applied = entry.fault in (None, "lost_response")
            assert (ft_id in stored) is applied, entry
            assert entry.applied is applied
            if entry.fault in ("drop", "lost_response"):
                assert entry.status is None and entry.dropped


async def test_same_seed_same_faults(session: aiohttp.ClientSession) -> None:
    async def run() -> list[str | None]:
        faults = Faults(error_rate=0.2, rate_limited_rate=0.2, seed=7)
        async with Emulator(faults=faults) as emu:
            api = Api(emu, session)
            for _ in range(60):
                await api.get("/v1/apps")
            return [e.fault for e in emu.request_log if e.path == "/v1/apps"]

    first, second = await run(), await run()
    assert first == second
    assert {"error", "rate_limited", None} <= set(first)


async def test_drop_closes_connection_without_response(session: aiohttp.ClientSession) -> None:
    async with Emulator(faults=Faults(drop_rate=1.0)) as emu:
        api = Api(emu, session)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.post(FT, transformation(1))
        assert emu.request_log[-1].fault == "drop" and emu.request_log[-1].status is None
        assert not emu.request_log[-1].applied
        assert (4302, "ft-1") not in emu.state.field_transformations
        # the token endpoint is not faulted by default
        assert emu.token_requests == 1


async def test_lost_response_applies_writes_only(session: aiohttp.ClientSession) -> None:
    async with Emulator(apps=1, faults=Faults(lost_response_rate=1.0)) as emu:
        api = Api(emu, session)
        assert (await api.get("/v1/apps/1")).status == 200  # reads are unaffected
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.post("/v1/apps", {"name": "Lost But Real", "platforms": [{"os": "iOS"}]})
        entry = emu.request_log[-1]
        assert (entry.fault, entry.applied, entry.dropped, entry.status) == (
            "lost_response",
            True,
            True,
            None,
        )
        assert any(app.name == "Lost But Real" for app in emu.state.apps.values())


async def test_rate_limited_fault_headers(session: aiohttp.ClientSession) -> None:
    async with Emulator(faults=Faults(rate_limited_rate=1.0, retry_after=3)) as emu:
        reply = await Api(emu, session).get("/v1/apps")
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "3"
        assert reply.headers["X-mp-rate-limit-exceeded"] == "account"


async def test_per_route_faults(session: aiohttp.ClientSession) -> None:
    faults = {
        "GET /v1/apps/*": Faults(error_rate=1.0, error_statuses=(503,)),
        "/platform/v2/*": Faults(rate_limited_rate=1.0),
    }
    async with Emulator(apps=2, faults=faults) as emu:
        api = Api(emu, session)
        assert (await api.get("/v1/apps/1")).status == 503
        assert (await api.get("/v1/apps/1/platforms")).status == 503
        assert (await api.get("/v1/apps")).status == 200  # "/v1/apps" is not "/v1/apps/*"
        assert (await api.put("/v1/apps/1", {"name": "Fine"})).status == 202
        assert (await api.get(FT)).status == 429
        assert (await api.get("/v1/workspace")).status == 200

        # rules can be changed while running; the first matching rule wins
        emu.faults = [
            FaultRule("PUT /v1/apps/*/*/datapoints", Faults(error_rate=1.0)),
            ("*", Faults()),
        ]
        assert (await api.get("/v1/apps/1")).status == 200
        reply = await api.put("/v1/apps/1/GoogleAnalyticsEventForwarder/datapoints", [])
        assert reply.status in (500, 502, 503, 504)
        assert reply.body["errors"][0]["code"]


async def test_faults_on_token_endpoint(session: aiohttp.ClientSession) -> None:
    async with Emulator(faults=Faults(error_rate=1.0), faults_on_token=True) as emu:
        response = await Api(emu, session).fetch_token()
        assert response.status in (500, 502, 503, 504)
        assert emu.token_requests == 0


async def test_latency(session: aiohttp.ClientSession) -> None:
    async with Emulator(faults=Faults(latency=(0.05, 0.08))) as emu:
        api = Api(emu, session)
        await api.token()
        started = time.monotonic()
        assert (await api.get("/v1/apps")).status == 200
        assert time.monotonic() - started >= 0.05


def test_faults_validation() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError):
        Faults(error_rate=0.6, drop_rate=0.6)
    with pytest.raises(ValueError):
        Faults(latency=(0.2, 0.1))
    split = Faults.from_fault_rate(0.2, seed=1)
    assert (split.error_rate, split.rate_limited_rate, split.seed) == (0.1, 0.1, 1)
