"""Apply one datapoint-filter policy to every app of the account, then check it.

python examples/bulk_filters.py
"""

from __future__ import annotations

import asyncio

from _connect import connect

from mpasync.models import DataPointFilter
from mpasync.progress import ProgressBar

SERVICE = "GoogleAnalyticsEventForwarder"
POLICY = [
    DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="$LastName", type="UserAttribute", enabled=False),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
    DataPointFilter(name="social", type="EventType", enabled=False),
]


async def main() -> int:
    # rate_limit="auto" finds the account's budget from the API's rate-limit headers and
    # 429s; without it, 16 requests in flight meet 429s until retries run out.
    async with connect(apps=12, max_concurrency=16, rate_limit="auto") as mp:
        app_ids = [app.id for app in await mp.apps.list()]
        # Dry run first: what would change?
        preview = await mp.bulk.sync_datapoint_filters(app_ids, SERVICE, POLICY, dry_run=True)
        print(
            f"dry run: {sum(bool(c.changes) for c in preview.results.values())} apps would change"
        )

        bar = ProgressBar(len(app_ids), label="apps")
        report = await mp.bulk.sync_datapoint_filters(app_ids, SERVICE, POLICY, on_progress=bar)
        bar.finish()
        print(report.summary())
        for app_id, exc in report.failed.items():
            print(f"  app {app_id} failed: {exc}")

        again = await mp.bulk.sync_datapoint_filters(app_ids, SERVICE, POLICY, dry_run=True)
        left = sum(bool(c.changes) for c in again.results.values())
        print(f"after: {left} apps differ from the policy")
        return 0 if report.ok and left == 0 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
