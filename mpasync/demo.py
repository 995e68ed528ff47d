"""The main job (``mpasync demo`` / ``make demo``): one filter policy across 200 apps, under faults.

It starts the embedded emulator with 200 apps and light faults (some 429s with
Retry-After, some 5xx, a little latency), reconciles every app's Google Analytics
filters with a privacy policy through `Bulk.sync_datapoint_filters`, showing progress
for every phase, then checks the emulator's own state: every app must hold exactly the intended
filters. A second pass must find nothing left to change.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mpasync.bulk import FilterChange
from mpasync.models import DataPointFilter
from mpasync.progress import Progress
from mpasync.retry import RetryPolicy

__all__ = ["DEMO_POLICY", "DEMO_SERVICE", "run_demo", "start_seeding", "verify_filters"]

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


def start_seeding(progress: Progress, apps: int) -> None:
    """Begin the "seeding N apps" phase; feed it `Emulator(on_seed=progress.update)`."""
    progress.start(f"seeding {apps} apps", apps, unit="apps")
    if progress.mode == "plain":  # a counted phase's first plain line comes seconds later
        progress.log(f"seeding {apps} apps (Ctrl-C stops) ...")


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
    progress: Progress | None = None,
) -> int:
    """Run the demo; returns the exit status (0 when every app holds the policy).

    Every phase reports to ``progress`` (default: a bar on a terminal, plain lines
    otherwise, on ``err``): seeding the emulator, the sync, the read-back second pass and
    the check of the emulator's state.
    """
    from mpasync.emulator import Emulator, Faults

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    progress = progress if progress is not None else Progress("auto", stream=err)
    say = out.write if progress.mode != "json" else (lambda _: 0)
    faults = Faults(error_rate=0.04, rate_limited_rate=0.06, latency=(0.001, 0.02), seed=seed)
    # Sized for the faults above: enough attempts that a request meeting a few faults
    # in a row still lands, short backoff because the emulator recovers at once.
    retry = RetryPolicy(max_attempts=8, backoff_base=0.05, backoff_max=1.0)
    say(f"mpasync demo: {apps} apps on the embedded emulator\n")
    say("faults: 6% 429 (Retry-After), 4% 5xx, 1-20 ms latency\n")
    start_seeding(progress, apps)
    emulator = Emulator(
        apps=apps, faults=faults, seed=seed, seed_in_start=True, on_seed=progress.update
    )
    async with emulator as emu:
        app_ids = sorted(a.id for a in emu.state.apps_of(emu.account_id))
        progress.end()
        async with emu.client(max_concurrency=concurrency, retry=retry) as mp:
            say(f"policy: {len(DEMO_POLICY)} filters for {DEMO_SERVICE}, ")
            say(f"concurrency {concurrency}\n")
            started = time.monotonic()
            progress.start("applying policy", len(app_ids), unit="apps")
            report = await mp.bulk.sync_datapoint_filters(
                app_ids, DEMO_SERVICE, DEMO_POLICY, on_progress=progress
            )
            progress.end()
            elapsed = time.monotonic() - started
            changed = sum(
                1 for c in report.results.values() if isinstance(c, FilterChange) and c.changes
            )
            requests = report.requests
            retries = report.retries
            served = sum(1 for e in emu.request_log if e.path.startswith("/v1/"))
            # Second pass: read every app back; everything should already match. At 10,000
            # apps this takes about half as long as the first pass, so it has its own bar.
            progress.start("second pass (read back)", len(app_ids), unit="apps")
            again = await mp.bulk.sync_datapoint_filters(
                app_ids, DEMO_SERVICE, DEMO_POLICY, dry_run=True, on_progress=progress
            )
            progress.end()
            pending = sum(
                1 for c in again.results.values() if isinstance(c, FilterChange) and c.changes
            )
        progress.start("checking the emulator's state", len(app_ids), unit="apps")
        problems: list[str] = []
        for app_id in app_ids:
            problems += verify_filters(emu.state, [app_id], DEMO_SERVICE, DEMO_POLICY)
            progress.advance()
        progress.end()
    attempts = requests + retries
    rows = [
        (
            "apps",
            f"{len(app_ids)} ({len(report.succeeded)} succeeded, {len(report.failed)} failed)",
        ),
        ("apps changed", str(changed)),
        ("requests", f"{requests} (API calls the sync made)"),
        (
            "attempts",
            f"{attempts} ({retries} {'retry' if retries == 1 else 'retries'}; "
            f"the emulator served {served})",
        ),
        ("elapsed", f"{elapsed:.2f}s (first pass)"),
        ("throughput", f"{requests / elapsed:.0f} requests/s, {attempts / elapsed:.0f} attempts/s"),
        (
            "verified",
            "every app holds exactly the policy" if not problems else f"{len(problems)} problems",
        ),
        ("second pass", "nothing left to change" if pending == 0 else f"{pending} apps differ"),
    ]
    ok = report.ok and not problems and pending == 0
    if progress.mode == "json":
        progress.summary(
            {
                "command": "demo",
                "ok": ok,
                "apps": len(app_ids),
                "succeeded": len(report.succeeded),
                "failed": len(report.failed),
                "changed": changed,
                "requests": requests,
                "attempts": attempts,
                "retries": retries,
                "served": served,
                "elapsed": round(elapsed, 3),
                "requests_per_s": round(requests / elapsed, 1) if elapsed else None,
                "attempts_per_s": round(attempts / elapsed, 1) if elapsed else None,
                "problems": problems[:20],
                "second_pass_pending": pending,
            }
        )
        return 0 if ok else 1
    width = max(len(k) for k, _ in rows)
    out.write("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows) + "\n")
    for line in problems[:20]:
        out.write(f"  ! {line}\n")
    for app_id, exc in list(report.failed.items())[:20]:
        out.write(f"  failed app {app_id}: {type(exc).__name__}: {exc}\n")
    return 0 if ok else 1
