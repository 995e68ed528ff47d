"""Per-attempt timeouts on one timer (`mpasync.timeouts`), and the aiohttp wire using them.

The unit tests run on the virtual clock (`tests.virtual_time`): an attempt that never
ends times out at exactly its due time, whatever the machine's load. The wire's tests
talk to a real aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mpasync import Client
from mpasync.errors import TransportError
from mpasync.retry import RetryPolicy
from mpasync.timeouts import Timeouts
from tests.fakeapi import FakeAPI, client_for, envelope
from tests.virtual_time import run

# -- the timer, on the virtual clock ---------------------------------------------------


async def _attempt(
    timeouts: Timeouts, seconds: float, log: list[tuple[str, float]], name: str
) -> str:
    """What the wire does around an exchange: start, await, turn our cancel into a timeout."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    timeouts.start(task, seconds)
    try:
        await loop.create_future()  # an exchange that never ends
    except asyncio.CancelledError:
        if not timeouts.expired(task):
            raise
        log.append((name, loop.time()))
        return "timed out"
    finally:
        timeouts.stop(task)
    raise AssertionError("unreachable")


def test_each_attempt_times_out_at_its_own_time_on_one_timer() -> None:
    async def main() -> tuple[list[tuple[str, float]], float, int]:
        loop = asyncio.get_running_loop()
        timeouts = Timeouts(loop)
        log: list[tuple[str, float]] = []
        t0 = loop.time()
        # Started long first: the short ones must re-arm the timer earlier.
        tasks = [
            asyncio.ensure_future(_attempt(timeouts, s, log, n))
            for n, s in (("five", 5.0), ("one", 1.0), ("three", 3.0))
        ]
        results = await asyncio.gather(*tasks)
        assert results == ["timed out"] * 3
        pending = [t.cancelling() for t in tasks] if sys.version_info >= (3, 11) else [0]
        return [(n, at - t0) for n, at in log], max(pending), len(timeouts)

    log, pending, left = run(main())
    assert log == [("one", 1.0), ("three", 3.0), ("five", 5.0)]
    assert pending == 0  # the cancellation was ours and is spent: no task is left cancelling
    assert left == 0


def test_an_attempt_that_ends_in_time_is_never_cancelled() -> None:
    async def main() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        timeouts = Timeouts(loop)
        task = asyncio.current_task()
        assert task is not None
        for _ in range(100):
            timeouts.start(task, 2.0)
            try:
                await asyncio.sleep(0.5)
            finally:
                timeouts.stop(task)
        await asyncio.sleep(10)  # the armed timer fires with nothing overdue
        timeouts.close()
        return "ok", len(timeouts)

    assert run(main()) == ("ok", 0)


def test_a_cancellation_from_elsewhere_propagates() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        timeouts = Timeouts(loop)
        task = asyncio.ensure_future(_attempt(timeouts, 60.0, [], "x"))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(timeouts) == 0

    assert run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="uncancel() counts from 3.11")
def test_a_cancellation_beside_the_timeout_still_propagates() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        timeouts = Timeouts(loop)
        task = asyncio.ensure_future(_attempt(timeouts, 1.0, [], "x"))
        # Cancelled from elsewhere in the same instant the timeout fires.
        loop.call_at(loop.time() + 1.0, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())


# -- the aiohttp wire ---------------------------------------------------------------------


def _client(api: FakeAPI, **options: Any) -> Client:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return client_for(api, **options)


async def test_a_hanging_server_times_out_and_leaves_the_caller_uncancelled(
    fake_api: FakeAPI,
) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()  # set when the test ends, so the server stops promptly
        return envelope()

    fake_api.handler = hang
    async with _client(fake_api, timeout=0.5) as mp:
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            await mp.apps.list()
        elapsed = time.monotonic() - started
        # The caller's task goes on: not cancelled, nothing pending.
        await asyncio.sleep(0)
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0
    release.set()
    # Not before the timeout; long after it only on a machine far busier than ours.
    assert 0.45 <= elapsed < 15


async def test_the_wire_arms_no_timer_per_request(fake_api: FakeAPI) -> None:
    loop = asyncio.get_running_loop()
    armed = 0
    real_call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal armed
        armed += 1
        return real_call_at(when, callback, *args, **kwargs)

    async with _client(fake_api, max_concurrency=8) as mp:
        await asyncio.gather(*(mp.apps.list() for _ in range(8)))  # token, connections
        loop.call_at = counting_call_at  # type: ignore[method-assign]
        try:
            await asyncio.gather(*(mp.apps.list() for _ in range(200)))
        finally:
            loop.call_at = real_call_at  # type: ignore[method-assign]
    # aiohttp's ClientTimeout(total=...) arms one per request: 200 more here. (The server
    # shares the loop and arms a few of its own.)
    assert armed < 50, armed


async def test_tracing_still_sees_the_body_read(fake_api: FakeAPI) -> None:
    """A body that has wholly arrived is taken without awaiting `read`, except when a
    trace config asks to see chunks read."""
    chunks: list[bytes] = []

    async def on_chunk(session: Any, context: Any, params: Any) -> None:
        chunks.append(params.chunk)

    trace = aiohttp.TraceConfig()
    trace.on_response_chunk_received.append(on_chunk)
    async with _client(fake_api, trace_configs=[trace]) as mp:
        await mp.apps.list()
    assert any(b'"data"' in chunk for chunk in chunks)
