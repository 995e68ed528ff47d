"""Seeding, DSR and Analytics clients against the full Emulator (its faults included)."""

from __future__ import annotations

from mpasync import RetryPolicy
from mpasync.emulator import Emulator, FaultRule, Faults

FAST = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.05)


def seed_user(mpid: int) -> dict[str, object]:
    return {
        "environment": "production",
        "mpid": mpid,
        "calculated_attributes": {
            "workspace": [
                {
                    "attribute_name": "LTV",
                    "calculation_type": "sum",
                    "cutoff_date": "2019-12-01",
                    "seed": {"value": 10.0 * mpid},
                }
            ]
        },
    }


async def test_all_three_clients_on_one_emulator() -> None:
    async with Emulator() as emu:
        async with emu.seeding_client() as seeding:
            report = await seeding.seed_bulk(seed_user(m) for m in range(1, 251))
            assert report.ok and len(report.chunks) == 3
        assert len(emu.other_apis.seeded) == 250
        async with emu.dsr_client() as dsr:
            receipt = await dsr.submit("gdpr", "erasure", {"email": "a@b.com"})
            status = await dsr.status(receipt.subject_request_id)
            assert status.request_status == "pending"
        async with emu.analytics_client() as analytics:
            await analytics.track("Sign Up", "user-1", {"plan": "pro"})
        assert [e["eventName"] for e in emu.other_apis.events] == ["Sign Up"]
        # The analytics key rides in the body; the request log masks it.
        bodies = [e.body for e in emu.request_log if e.path.startswith("/analytics/")]
        assert bodies and all(b["apiKey"] == "***" for b in bodies)


async def test_emulator_faults_reach_the_other_apis_and_retries_absorb_them() -> None:
    faults = [
        FaultRule("/s2s/*", Faults(error_rate=0.3, rate_limited_rate=0.2, seed=4, retry_after=0))
    ]
    async with Emulator(faults=faults) as emu:
        async with emu.seeding_client(retry=FAST) as seeding:
            report = await seeding.seed_bulk((seed_user(m) for m in range(1, 1001)), concurrency=4)
        assert report.ok, report.summary()
        faulted = [e for e in emu.request_log if e.fault]
        assert faulted and all(e.path.startswith("/s2s/") for e in faulted)
        assert report.retries == len(faulted)
        assert len(emu.other_apis.seeded) == 1000
