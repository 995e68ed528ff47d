"""Copy one app's datapoint filters and platform settings to other apps, resumably.

The journal records each app's outcome; run the script again after an interruption and it
skips the apps already done.

    python examples/migration.py [--journal migration.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from _connect import connect

from mpasync import Client

SERVICE = "GoogleAnalyticsEventForwarder"
SETTINGS = (
    "profile_merging",
    "push_attribution_timer",
    "crash_handling",
    "network_performance",
    "social_mode",
)


async def copy_platform_settings(mp: Client, source: int, target: int) -> int:
    """Give each of the target's platforms the settings of the source's platform of that os."""
    by_os = {p.os: p for p in await mp.platforms.list(source)}
    copied = 0
    for platform in await mp.platforms.list(target):
        model = by_os.get(platform.os)
        if model is None:
            continue
        settings = {k: getattr(model, k) for k in SETTINGS if getattr(model, k) is not None}
        if settings:
            await mp.platforms.update(target, platform.os, **settings)
            copied += 1
    return copied


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", type=Path, default=None)
    args = parser.parse_args()
    journal = args.journal or Path(tempfile.mkdtemp()) / "migration.jsonl"
    async with connect(apps=12, max_concurrency=8, rate_limit="auto") as mp:
        apps = sorted(app.id for app in await mp.apps.list())
        source, targets = apps[0], apps[1:]
        # Make the source distinctive, so the copy is visible.
        await mp.datapoint_filters.update(
            source,
            SERVICE,
            [
                {
                    "name": "Checkout",
                    "type": "Event",
                    "event_type": "transaction",
                    "enabled": False,
                },
                {"name": "$FirstName", "type": "UserAttribute", "enabled": False},
            ],
        )
        for platform in await mp.platforms.list(source):
            await mp.platforms.update(
                source, platform.os, push_attribution_timer=45, crash_handling="ForceCatch"
            )

        filters = await mp.bulk.copy_datapoint_filters(
            source, targets, SERVICE, journal=journal.with_suffix(".filters")
        )
        print(f"filters:  {filters.summary()}")
        settings = await mp.bulk.map(
            lambda t: copy_platform_settings(mp, source, t),
            targets,
            journal=journal.with_suffix(".settings"),
        )
        print(f"settings: {settings.summary()}")
        for target, exc in {**filters.failed, **settings.failed}.items():
            print(f"  app {target} failed: {exc}")
        rerun = await mp.bulk.copy_datapoint_filters(
            source, targets, SERVICE, journal=journal.with_suffix(".filters")
        )
        print(
            f"rerun with the journal: {len(rerun.skipped)} apps skipped, "
            f"{len(rerun.succeeded)} redone"
        )
        check = await mp.platforms.list(targets[-1])
        print(
            f"app {targets[-1]} platforms now: "
            + ", ".join(f"{p.os} timer={p.push_attribution_timer}" for p in check)
        )
        return 0 if filters.ok and settings.ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
