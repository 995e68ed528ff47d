"""Deterministic simulation (FoundationDB's simulation testing, TigerBeetle's VOPR): a
fleet of clients, a fake mParticle and a fake Redis on one virtual clock, driven by a
seeded fault schedule, with invariants checked at every step (`tests.sim.world`).

Every run prints its seed. To replay one: ``MPASYNC_SIM_SEED=<seed> pytest -s tests/sim``
(or ``--sim-seed=<seed>`` when tests/sim is on the command line). The soak
(``make soak``) runs many seeds of the full-density week.
"""

from __future__ import annotations

import asyncio
import os
import time
from importlib import resources

import pytest

from tests.sim.fakeredis import FakeRedisServer
from tests.sim.loop import run_virtual
from tests.sim.world import DAY, Report, Scenario, simulate

#: Every fault except those with a known failure (tests below say which).
_SOUND = (
    "storm",
    "neighbour",
    "headers_missing",
    "headers_hostile",
    "redis_down",
    "redis_hang",
    "redis_restart",
    "token_storm",
    "token_rotation",
    "server_errors",
)


def _seed(request: pytest.FixtureRequest, default: int) -> int:
    given = os.environ.get("MPASYNC_SIM_SEED")
    try:
        option = request.config.getoption("--sim-seed", default=None)
    except ValueError:
        option = None
    if option is not None:
        given = str(option)
    return int(given) if given else default


def _run(seed: int, scenario: Scenario) -> Report:
    report = run_virtual(simulate(seed, scenario))
    print(report.summary())
    return report


def _assert_sound(report: Report) -> None:
    assert not report.violations, (
        f"seed {report.seed} ({report.scenario}) broke invariants; replay with "
        f"MPASYNC_SIM_SEED={report.seed}:\n" + "\n".join(report.violations)
    )
    assert report.calls > 0 and report.succeeded > 0, report.summary()


def test_the_fake_redis_translates_every_script_the_package_ships() -> None:
    """Each ``mpasync/redis/lua/*.lua`` has its Python translation in the fake (a script
    registered without one fails the run; this catches one shipped but not yet used)."""
    shipped = {
        f.read_text(encoding="utf-8")
        for f in resources.files("mpasync.redis").joinpath("lua").iterdir()
        if f.name.endswith(".lua")
    }
    assert len(shipped) == 9
    assert set(FakeRedisServer(lambda: 0.0).scripts()) == shipped


# ---- the clock itself ------------------------------------------------------------------


def test_the_loop_jumps_to_the_next_timer_instead_of_sleeping() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(7 * DAY)
        return before, loop.time()

    wall = time.perf_counter()
    before, after = run_virtual(main())
    assert after - before == pytest.approx(7 * DAY)
    assert time.perf_counter() - wall < 5.0  # a week of sleep costs no week


def test_the_same_seed_gives_the_same_trace(request: pytest.FixtureRequest) -> None:
    seed = _seed(request, 20261203)
    scenario = Scenario("determinism", seconds=DAY, peak_calls=10, faults_per_day=48.0)
    first, second = _run(seed, scenario), _run(seed, scenario)
    assert first.calls > 50 and first.arrivals > 50
    assert first.trace == second.trace, f"seed {seed}: two runs differ"
    assert first.digest == second.digest
    other = _run(seed + 1, scenario)
    assert other.digest != first.digest


def test_the_checker_sees_a_fleet_that_does_not_share_its_token() -> None:
    """The token invariant is not vacuous: processes with a TokenCache each (no Redis
    for the token) fetch one token each per expiry, and the checker says so."""
    scenario = Scenario(
        "unshared-token", seconds=DAY, peak_calls=10, fault_kinds=(), share_token=False
    )
    report = _run(3, scenario)
    assert any("one token fetch per expiry per fleet" in v for v in report.violations), (
        report.summary()
    )
    assert not [v for v in report.violations if "one token fetch" not in v]


# ---- the week ------------------------------------------------------------------------------

_WEEK = Scenario(
    "week",
    seconds=7 * DAY,
    peak_calls=15,
    episodes_per_hour=2.0,
    fault_kinds=_SOUND,
)


def test_a_simulated_week_of_a_web_backend(request: pytest.FixtureRequest) -> None:
    """Three processes sharing a token and an adaptive budget through Redis, a week of
    daily traffic curves and idle nights, with 429 storms, a neighbour's bursts,
    missing and hostile usage headers, Redis outages, hangs and restarts, token
    rotation and token-endpoint storms. Before branch adaptive's fix (120402d) this
    failed on 'no failure the server did not give': the law's slow-start ceiling
    ``rate * 2 ** elapsed`` overflowed after ~17 idle minutes (seed 2, t=46861 s)."""
    _assert_sound(_run(_seed(request, 2), _WEEK))


def test_one_process_alone_over_idle_gaps(request: pytest.FixtureRequest) -> None:
    """``rate_limit="auto"`` in one process (no Redis): traffic, then 20 quiet minutes
    (the overflow of the slow-start ceiling, fixed on branch adaptive, failed here)."""
    scenario = Scenario(
        "idle-gap",
        seconds=3 * 3600.0,
        processes=1,
        fleet=False,
        idle_gap=20 * 60.0,
        episodes_per_hour=0.0,
        fault_kinds=(),
    )
    _assert_sound(_run(_seed(request, 1), scenario))


def test_a_token_endpoint_asking_for_a_very_long_wait(request: pytest.FixtureRequest) -> None:
    """Token storms with ``Retry-After: 1e9``. Before branch auth's cap (43577b0) every
    call waited for as long (caught by 'calls end', seed 3: calls still waiting at the
    end of the run)."""
    scenario = Scenario(
        "token-retry-after",
        seconds=DAY,
        peak_calls=10,
        fault_kinds=("token_storm",),
        faults_per_day=6.0,
        token_retry_after=("1e9", "86400000"),
        token_storm_max=4 * 3600.0,
        adaptive=False,  # so the adaptive law's own bug stays out of this one
    )
    _assert_sound(_run(_seed(request, 3), scenario))


def test_hostile_values_in_redis(request: pytest.FixtureRequest) -> None:
    """Foreign values planted in the shared token and state. Before branch redis's fix
    (d1ace07) a state rate of "1e999" made every process's rate inf (caught by 'rate
    finite and bounded', seed 4, t=64179 s)."""
    scenario = Scenario(
        "redis-corrupt",
        seconds=DAY,
        peak_calls=10,
        fault_kinds=("redis_corrupt",),
        faults_per_day=12.0,
        corrupt_values=True,
        adaptive=False,
    )
    _assert_sound(_run(_seed(request, 4), scenario))


def test_redis_hangs_under_deadlines(request: pytest.FixtureRequest) -> None:
    """Calls with a 5 s deadline while Redis hangs for 10 s per command. Before branch
    redis's fix (d1ace07) a cancelled wait recorded no outage, so every later call waited
    for Redis again (caught by 'a Redis outage is noticed', seed 6, t=42770 s)."""
    scenario = Scenario(
        "redis-hang-deadline",
        seconds=DAY,
        peak_calls=6,
        episodes_per_hour=40.0,
        spread=60.0,
        fault_kinds=("redis_hang",),
        faults_per_day=96.0,
        deadline=5.0,
        redis_hang_seconds=10.0,
        adaptive=False,
    )
    _assert_sound(_run(_seed(request, 6), scenario))


# ---- found by the simulation -------------------------------------------------------------


_WINDOW_GAP = (
    "found here: after a Redis restart the fleet's one-second window (redis._RESERVE's "
    "booked slots) has lost the starts made just before it, so the starts paced before "
    "the first answer land beside them (up to 42 in one second at 36/s: soak seeds "
    "100-107, not every one); caught by 'starts per second <= rate'. The same gap below "
    "2/s (a drop from 10/s to 0.5/s booked at the old spacing) is fixed: every slot is "
    "recorded and the window holds at least one"
)


def test_the_window_rule_across_two_per_second(request: pytest.FixtureRequest) -> None:
    """Hostile usage headers and 429 storms swing the fleet's rate across 2/s."""
    scenario = Scenario(
        "window-across-2",
        seconds=DAY,
        peak_calls=15,
        episodes_per_hour=2.0,
        fault_kinds=("headers_hostile", "storm"),
        faults_per_day=24.0,
    )
    _assert_sound(_run(_seed(request, 6), scenario))


# ---- the soak ------------------------------------------------------------------------------


@pytest.mark.soak
@pytest.mark.xfail(strict=False, reason=_WINDOW_GAP)
@pytest.mark.parametrize("seed", range(100, 108))
def test_soak_full_weeks(seed: int) -> None:
    """Full-density weeks with every fault whose failure is not already pinned above
    (the backward clock step is), eight seeds (``make soak``)."""
    scenario = Scenario("soak-week", seconds=7 * DAY, fault_kinds=_SOUND)
    _assert_sound(_run(int(os.environ.get("MPASYNC_SIM_SEED", seed)), scenario))
