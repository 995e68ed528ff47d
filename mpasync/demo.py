"""The main job (``mpasync demo`` / ``make demo``): one filter policy across 200 apps, under faults.

It starts the embedded emulator with 200 apps and light faults (some 429s with
Retry-After, some 5xx, a little latency), reconciles every app's Google Analytics
filters with a privacy policy through `Bulk.sync_datapoint_filters` with a live progress
bar, then checks the emulator's own state: every app must hold exactly the intended
filters. A second pass must find nothing left to change.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mpasync.bulk import FilterChange
from mpasync.models import DataPointFilter
from mpasync.progress import ProgressBar
from mpasync.retry import RetryPolicy

__all__ = ["DEMO_POLICY", "DEMO_SERVICE", "run_demo", "verify_filters"]

DEMO_SERVICE = "GoogleAnalyticsEventForwarder"

#: A realistic policy: forward commerce and search events, keep personal data and
#: social events away from the analytics vendor.
DEMO_POLICY: list[DataPointFilter] = [
    DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Checkout", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Purchase", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Search", type="Event", event_type="search", enabled=True),
    DataPointFilter(
        name="Add To Cart",
        type="EventAttribute",
        event_type="transaction",
        attribute_name="price",
        enabled=True,
    ),
    DataPointFilter(
        name="Checkout",
        type="EventAttribute",
        event_type="transaction",
        attribute_name="payment_method",
        enabled=False,
    ),
    DataPointFilter(
        name="Search",
        type="EventAttribute",
        event_type="search",
        attribute_name="query",
        enabled=False,
    ),
    DataPointFilter(name="social", type="EventType", enabled=False),
    DataPointFilter(name="$FirstName", type="UserAttribute", enabled=False),
    DataPointFilter(name="$LastName", type="UserAttribute", enabled=False),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
    DataPointFilter(name="Home", type="ScreenView", enabled=True),
]


def verify_filters(
    state: object, app_ids: list[int], service: str, policy: list[DataPointFilter]
) -> list[str]:
    """Problems found in the emulator's state: apps whose filters differ from the policy."""
    problems: list[str] = []
    for app_id in app_ids:
        actual = {
            (f.type.lower(), f.name, f.attribute_name, f.event_type): f.enabled
            for f in state.filters(app_id, service)  # type: ignore[attr-defined]
        }
        for want in policy:
            got = actual.get(want.key())
            if got is not want.enabled:
                problems.append(
                    f"app {app_id}: {want.type} {want.name!r}"
                    f"{'/' + want.attribute_name if want.attribute_name else ''} is {got}, "
                    f"wanted {want.enabled}"
                )
    return problems


async def run_demo(
    *,
    apps: int = 200,
    seed: int = 7,
    concurrency: int = 32,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo; returns the exit status (0 when every app holds the policy)."""
    from mpasync.emulator import Emulator, Faults

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    faults = Faults(error_rate=0.04, rate_limited_rate=0.06, latency=(0.001, 0.02), seed=seed)
    # Sized for the faults above: enough attempts that a request meeting a few faults
    # in a row still lands, short backoff because the emulator recovers at once.
    retry = RetryPolicy(max_attempts=8, backoff_base=0.05, backoff_max=1.0)
    out.write(
        f"mpasync demo: {apps} apps on the embedded emulator, faults: 6% 429 (Retry-After), "
        f"4% 5xx, 1-20 ms latency\n"
    )
    async with Emulator(apps=apps, faults=faults, seed=seed) as emu:
        app_ids = sorted(a.id for a in emu.state.apps_of(emu.account_id))
        async with emu.client(max_concurrency=concurrency, retry=retry) as mp:
            out.write(
                f"policy: {len(DEMO_POLICY)} filters for {DEMO_SERVICE}, "
                f"concurrency {concurrency}\n"
            )
            started = time.monotonic()
            bar = ProgressBar(len(app_ids), label="apps", stream=err)
            report = await mp.bulk.sync_datapoint_filters(
                app_ids, DEMO_SERVICE, DEMO_POLICY, on_progress=bar
            )
            bar.finish()
            elapsed = time.monotonic() - started
            changed = sum(
                1 for c in report.results.values() if isinstance(c, FilterChange) and c.changes
            )
            requests = report.requests
            retries = report.retries
            served = sum(1 for e in emu.journal if e.path.startswith("/v1/"))
            # Second pass: everything should already match.
            again = await mp.bulk.sync_datapoint_filters(
                app_ids, DEMO_SERVICE, DEMO_POLICY, dry_run=True
            )
            pending = sum(
                1 for c in again.results.values() if isinstance(c, FilterChange) and c.changes
            )
        problems = verify_filters(emu.state, app_ids, DEMO_SERVICE, DEMO_POLICY)
    rows = [
        (
            "apps",
            f"{len(app_ids)} ({len(report.succeeded)} succeeded, {len(report.failed)} failed)",
        ),
        ("apps changed", str(changed)),
        ("requests", f"{requests} ({requests + retries} attempts; the emulator saw {served})"),
        ("retries", str(retries)),
        ("elapsed", f"{elapsed:.2f}s"),
        ("requests/s", f"{(requests + retries) / elapsed:.0f} attempts/s" if elapsed else "-"),
        (
            "verified",
            "every app holds exactly the policy" if not problems else f"{len(problems)} problems",
        ),
        ("second pass", "nothing left to change" if pending == 0 else f"{pending} apps differ"),
    ]
    width = max(len(k) for k, _ in rows)
    out.write("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows) + "\n")
    for line in problems[:20]:
        out.write(f"  ! {line}\n")
    for app_id, exc in list(report.failed.items())[:20]:
        out.write(f"  failed app {app_id}: {type(exc).__name__}: {exc}\n")
    return 0 if report.ok and not problems and pending == 0 else 1
