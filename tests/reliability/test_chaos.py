"""Chaos: filter updates across many apps while the emulator throws every fault it has.

Short versions run in `make test`; `make soak` runs the full-size ones (2,000 updates
across 400 apps, 10 s of 1-second tokens).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mpasync import RetryPolicy
from mpasync.emulator import Emulator, Faults
from mpasync.models import DataPointFilter

SERVICE = "GoogleAnalyticsEventForwarder"


def chaos(seed: int, retry_after: int = 1) -> Faults:
    # 15% 429 with Retry-After, 10% 5xx, 3% dropped connections, 3% of writes applied but
    # their response lost, and up to 50 ms of latency on every request.
    return Faults(
        rate_limited_rate=0.15,
        error_rate=0.10,
        drop_rate=0.03,
        lost_response_rate=0.03,
        latency=(0.0, 0.05),
        seed=seed,
        retry_after=retry_after,
    )


def policy(round_no: int) -> list[DataPointFilter]:
    """A different policy per round, so the final state proves the last round landed."""
    flip = round_no % 2 == 0
    return [
        DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=flip),
        DataPointFilter(name="Search", type="Event", event_type="search", enabled=not flip),
        DataPointFilter(name="$FirstName", type="UserAttribute", enabled=flip),
        DataPointFilter(name="Email", type="UserIdentity", enabled=not flip),
        DataPointFilter(name=f"Round {round_no}", type="Event", event_type="other", enabled=False),
    ]


def holds(emu: Emulator, app_id: int, wanted: list[DataPointFilter]) -> bool:
    state = {
        (f.type.lower(), f.name, f.attribute_name, f.event_type): f.enabled
        for f in emu.state.filters(app_id, SERVICE)
    }
    return all(state.get(f.key()) is f.enabled for f in wanted)


async def _chaos_with_retries(apps: int, rounds: int, outside: int) -> None:
    sized = RetryPolicy(max_attempts=12, backoff_base=0.02, backoff_max=0.5)
    async with Emulator(apps=apps + outside, faults=chaos(seed=11)) as emu:
        job = list(range(1, apps + 1))
        untouched = {
            a: list(emu.state.filters(a, SERVICE)) for a in range(apps + 1, apps + outside + 1)
        }
        async with emu.client(max_concurrency=48, retry=sized) as mp:
            for round_no in range(1, rounds + 1):
                report = await mp.bulk.update_datapoint_filters(job, SERVICE, policy(round_no))
                assert report.ok, report.summary()
                assert report.retries > 0  # the faults really hit
        faults = {e.fault for e in emu.request_log if e.fault}
        assert {"rate_limited", "error", "drop", "lost_response"} <= faults
        wrong = [a for a in job if not holds(emu, a, policy(rounds))]
        assert wrong == []
        # Nothing was written for apps outside the job.
        written = {e.path for e in emu.request_log if e.method == "PUT"}
        assert written == {f"/v1/apps/{a}/{SERVICE}/datapoints" for a in job}
        for app_id, before in untouched.items():
            assert emu.state.filters(app_id, SERVICE) == before


async def test_chaos_with_a_sized_retry_policy_ends_right() -> None:
    await _chaos_with_retries(apps=80, rounds=3, outside=10)  # 240 updates


@pytest.mark.soak
async def test_chaos_soak_2000_updates_across_400_apps() -> None:
    await _chaos_with_retries(apps=400, rounds=5, outside=20)  # 2,000 updates


async def test_without_retries_no_app_reported_succeeded_is_wrong() -> None:
    wanted = policy(1)
    async with Emulator(apps=150, faults=chaos(seed=5)) as emu:
        async with emu.client(max_concurrency=32, retry=RetryPolicy.disabled()) as mp:
            report = await mp.bulk.update_datapoint_filters(range(1, 151), SERVICE, wanted)
        assert report.failed  # with these faults and no retries, some apps must fail
        wrong = {a for a in range(1, 151) if not holds(emu, a, wanted)}
        failed = set(report.failed)
        # Every app whose state is wrong was reported failed ...
        assert wrong <= failed
        assert not wrong & set(report.succeeded)
        # ... and a failed app whose state is right had its write applied with the answer
        # lost (or dropped after aiohttp's own silent re-send of an idempotent request).
        lost = {
            int(e.path.split("/")[3]) for e in emu.request_log if e.method == "PUT" and e.applied
        }
        assert failed - wrong <= lost
        assert len(failed) + len(report.succeeded) == 150


async def _token_rotation(seconds: float) -> None:
    async with Emulator(apps=20, token_ttl=1.0) as emu:
        async with emu.client(max_concurrency=16, rate_limit=150) as mp:
            started = time.monotonic()

            async def one(i: int) -> None:
                await mp.apps.get(1 + i % 20)

            count = int(seconds * 150)
            report = await mp.bulk.map(one, range(count))
            elapsed = time.monotonic() - started
        assert report.ok, report.summary()
        # Close to one fetch per token lifetime: no stampede on expiry.
        assert emu.token_requests <= elapsed / 0.9 + 2
        assert emu.token_requests >= elapsed - 1


async def test_token_rotation_short() -> None:
    await _token_rotation(3.0)


@pytest.mark.soak
async def test_token_rotation_10s() -> None:
    await _token_rotation(10.0)


async def test_cancel_half_way_then_resume_from_journal(tmp_path: object) -> None:
    from pathlib import Path

    journal = Path(str(tmp_path)) / "chaos.jsonl"
    wanted = policy(2)
    sized = RetryPolicy(max_attempts=12, backoff_base=0.02, backoff_max=0.5)
    faults = Faults(error_rate=0.1, latency=(0.005, 0.02), seed=2)
    async with Emulator(apps=100, faults=faults) as emu:
        async with emu.client(max_concurrency=10, retry=sized) as mp:
            tasks_before = asyncio.all_tasks()
            fifty = asyncio.Event()
            run = asyncio.create_task(
                mp.bulk.update_datapoint_filters(
                    range(1, 101),
                    SERVICE,
                    wanted,
                    journal=journal,
                    on_event=lambda e: e.done >= 50 and fifty.set(),
                )
            )
            await fifty.wait()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            assert mp.transport.connections_in_use() == 0
            assert mp.transport.concurrency.in_use == 0
            assert mp.transport.concurrency.available == 10
            leftover = {
                t
                for t in asyncio.all_tasks() - tasks_before
                if "RequestHandler" not in repr(t.get_coro())
            }
            assert leftover == set()
            done_first = {
                int(e.path.split("/")[3])
                for e in emu.request_log
                if e.method == "PUT" and e.status is not None and e.status < 300
            }
            emu.reset_request_log()
            resumed = await mp.bulk.update_datapoint_filters(
                range(1, 101), SERVICE, wanted, journal=journal
            )
        assert resumed.ok
        rewritten = {int(e.path.split("/")[3]) for e in emu.request_log if e.method == "PUT"}
        # Only the remaining apps were written (apps whose success was journalled are skipped).
        assert rewritten.isdisjoint(resumed.skipped)
        assert set(resumed.skipped) | set(resumed.succeeded) == set(range(1, 101))
        assert len(resumed.skipped) >= 50 - 10  # at most the in-flight items were lost
        assert done_first >= set(resumed.skipped)
        assert all(holds(emu, a, wanted) for a in range(1, 101))
