"""A seeded world for the simulation: an mParticle-shaped server (token endpoint and API,
with the account's one-second budget and its rate-limit headers), a fleet of client
processes sharing a fake Redis, traffic with daily curves, and a fault schedule, all on
the virtual clock of `tests.sim.loop`; invariants are checked at every step.

Everything random comes from one ``random.Random(seed)``: the traffic, the faults, the
server's latencies, and (patched in by `seeded_library`) the transport's retry jitter and
`mpasync.redis`'s ids and compare-and-set jitter. So a seed is a replayable run, and
`Report.digest` (a hash of the event trace) proves it.

Requests reach the server through aioresponses callbacks (no sockets): each call runs in
a task whose context names its process, so the server knows who sent what.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import itertools
import json
import math
import random
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

import mpasync.redis as mpredis
import mpasync.redis.budget as mpbudget
import mpasync.redis.connection as mpconnection
import mpasync.redis.token as mptoken
import mpasync.transport as mptransport
from mpasync import Client, RetryPolicy, TokenCache
from mpasync.adaptive import AdaptiveRateLimiter, RateState
from mpasync.auth import refresh_margin
from mpasync.errors import APIError, DeadlineExceededError, MParticleError, TokenError
from tests.sim.fakeredis import HANG, FakeRedis, FakeRedisServer

BASE_URL = "https://api.sim.invalid"
TOKEN_URL = "https://sso.sim.invalid/oauth/token"
DAY = 86400.0
#: mParticle's tokens last about 8 hours (api-facts §4).
TOKEN_LIFETIME = 28800.0
#: A call must end within this (attempts x (timeout + Retry-After cap + backoff), with
#: room for token waits); a longer one means something waits for a reason nobody gave.
CALL_BOUND = 3600.0
#: The "bounded" of "the rate stays finite and bounded": far above any budget here.
RATE_CEILING = 1e6

_PROC: contextvars.ContextVar[int] = contextvars.ContextVar("sim_process", default=-1)

HOSTILE_USAGE = ["NaN", "-5", "1e309", "abc", "99999", "", '"', "0", "inf", "7" * 400, "0x10"]


@dataclass(frozen=True)
class Scenario:
    """What to simulate (everything else is drawn from the seed)."""

    name: str
    seconds: float
    processes: int = 3
    fleet: bool = True  # shared token and budget through the fake Redis
    adaptive: bool = True  # the budget learns (False: a fixed fleet budget of 0.8 x budget)
    share_token: bool = True  # False: each process has its own TokenCache (a checker test)
    budget: float = 40.0  # the account's requests per second
    peak_calls: int = 60  # calls per traffic episode at the day's peak
    episodes_per_hour: float = 3.0
    faults_per_day: float = 24.0
    fault_kinds: tuple[str, ...] = (
        "storm",
        "neighbour",
        "headers_missing",
        "headers_hostile",
        "redis_down",
        "redis_hang",
        "redis_restart",
        "redis_clock_step",
        "token_storm",
        "token_rotation",
        "server_errors",
    )
    #: Retry-After values the token endpoint sends in a token storm.
    token_retry_after: tuple[str, ...] = ("1", "5", "30")
    #: The longest token storm (seconds).
    token_storm_max: float = 120.0
    #: Hostile values written into the shared state (the "redis_corrupt" fault).
    corrupt_values: bool = False
    #: Seconds over which an episode's calls start (0: all at once).
    spread: float = 0.0
    #: Each call's total deadline (``Client(deadline=...)``), or None.
    deadline: float | None = None
    #: How long a command to a hanging Redis waits before its timeout.
    redis_hang_seconds: float = HANG
    #: Steps of Redis's clock: "both" ways, or only "back".
    clock_steps: str = "both"
    #: A fixed first idle gap (seconds) before the traffic starts again.
    idle_gap: float = 0.0


@dataclass
class Fault:
    at: float
    kind: str
    until: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    seed: int
    scenario: str
    trace: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    calls: int = 0
    succeeded: int = 0
    failed_by_server: int = 0
    arrivals: int = 0
    token_fetches: int = 0
    max_rate: float = 0.0
    transition_excess: int = 0

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.trace).encode()).hexdigest()

    def summary(self) -> str:
        return (
            f"seed={self.seed} scenario={self.scenario} calls={self.calls} "
            f"ok={self.succeeded} failed_by_server={self.failed_by_server} "
            f"arrivals={self.arrivals} token_fetches={self.token_fetches} "
            f"max_rate={self.max_rate:.1f} transition_excess={self.transition_excess} "
            f"digest={self.digest[:16]}"
        )


def bound(rate: float) -> int:
    """Starts one second may hold at ``rate``: ``floor(rate)`` (the window rule of
    `limits.AdjustableRateLimiter` and `_RESERVE`), ``floor(rate) + 1`` below 2/s, where
    the pacer is a plain GCRA whose first start in a window may sit at its edge."""
    if not math.isfinite(rate):
        return 2**62  # "rate finite and bounded" reports this one
    return math.floor(rate) if rate >= 2.0 else math.floor(rate) + 1


@contextmanager
def seeded_library(rng: random.Random) -> Iterator[None]:
    """Route mpasync's own randomness through ``rng`` (the seams a simulation needs)."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(
            mptransport,
            "random",
            SimpleNamespace(Random=lambda: random.Random(rng.getrandbits(64))),
        )
        mp.setattr(mpbudget, "random", SimpleNamespace(uniform=rng.uniform))
        # One counter for both modules' ids, as when they were one module.
        counter = itertools.count()
        ids = SimpleNamespace(token_hex=lambda n=16: f"{next(counter):0{2 * n}x}"[-2 * n :])
        mp.setattr(mpbudget, "secrets", ids)
        mp.setattr(mptoken, "secrets", ids)
        yield
    finally:
        mp.undo()


async def _ignore(scope: str | None, status: int, headers: Any) -> None:
    return None


class _Process:
    """One simulated process: a Client with its limiter and token cache."""

    def __init__(self, world: World, index: int) -> None:
        self.index = index
        self.world = world
        self.redis: FakeRedis | None = None
        self.starts: deque[float] = deque()
        self.rates: deque[tuple[float, float]] = deque()
        self.limiter: Any
        if world.scenario.fleet:
            assert world.redis is not None
            self.redis = FakeRedis(world.redis)
            cache: TokenCache = (
                mpredis.RedisTokenCache(
                    self.redis, "sim-client", "sim-secret", token_url=TOKEN_URL, timeout=30.0
                )
                if world.scenario.share_token
                else TokenCache("sim-client", "sim-secret", token_url=TOKEN_URL, timeout=30.0)
            )
            self.limiter = mpredis.RedisRateLimiter(
                self.redis,
                "platform-api",
                None if world.scenario.adaptive else 0.8 * world.scenario.budget,
                adaptive=world.scenario.adaptive,
                expected_processes=world.scenario.processes,
            )
        else:
            cache = TokenCache("sim-client", "sim-secret", token_url=TOKEN_URL, timeout=30.0)
            self.limiter = AdaptiveRateLimiter()
        observe = self.limiter.observe
        if not getattr(self.limiter, "observes", True):
            observe = _ignore

        async def observed(scope: str | None, status: int, headers: Any) -> None:
            try:
                await observe(scope, status, headers)
            finally:
                world.sample_rates()

        self.limiter.observe = observed  # before the Client: the transport binds it
        self.cache = cache
        self.client = Client(
            account_id=1,
            base_url=BASE_URL,
            token_cache=cache,
            rate_limit=self.limiter,
            retry=RetryPolicy(max_attempts=4),
            timeout=30.0,
            deadline=world.scenario.deadline,
        )

    def rate(self) -> float:
        """This process's pacing rate now (its local fallback's, if higher)."""
        rate = float(self.limiter.rate)
        local = getattr(self.limiter, "_local", None)
        if local is not None:
            rate = max(rate, float(local.rate))
        return rate


class World:
    def __init__(self, seed: int, scenario: Scenario) -> None:
        self.seed = seed
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.report = Report(seed, scenario.name)
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.redis = FakeRedisServer(self.loop.time) if scenario.fleet else None
        if self.redis is not None:
            self.redis.hang = scenario.redis_hang_seconds
        self.faults: list[Fault] = []
        self.fault_log: list[tuple[float, float, str]] = []  # (from, until, kind) as applied
        self.arrivals: deque[float] = deque()  # the account window (our answered starts)
        self.fleet_starts: deque[float] = deque()
        self.shared_rates: deque[tuple[float, float]] = deque()
        self.tokens: dict[str, tuple[float, float]] = {}  # token -> (issued, expires)
        self.revoked_before = -math.inf
        self.issues: list[tuple[float, float]] = []  # (issued, lifetime)
        self.token_errors: dict[int, list[tuple[float, int, float]]] = {}
        self.api_statuses: dict[int, list[tuple[float, int]]] = {}
        self.noticed_at: dict[int, float] = {}  # a process's first deadline in an outage
        self.processes: list[_Process] = []
        self._ids = itertools.count()

    # ---- time and trace ------------------------------------------------------------

    def now(self) -> float:
        return self.loop.time() - self.t0

    def log(self, *parts: object) -> None:
        self.report.trace.append(f"{self.now():.6f} " + " ".join(map(str, parts)))

    def violate(self, invariant: str, detail: str) -> None:
        text = f"t={self.now():.3f}s [{invariant}] {detail}"
        self.log("VIOLATION", text)
        if len(self.report.violations) < 20:
            self.report.violations.append(text)

    def active(self, kind: str) -> Fault | None:
        now = self.now()
        for fault in self.faults:
            if fault.kind == kind and fault.at <= now < fault.until:
                return fault
        return None

    # ---- the fault schedule --------------------------------------------------------

    def plan_faults(self) -> None:
        sc, rng = self.scenario, self.rng
        kinds = list(sc.fault_kinds)
        if not kinds:
            return
        count = int(sc.faults_per_day * sc.seconds / DAY + 0.5)
        for _ in range(count):
            kind = rng.choice(kinds)
            at = rng.uniform(0.0, sc.seconds)
            length = {
                "storm": rng.uniform(20, 300),
                "neighbour": rng.uniform(10, 180),
                "headers_missing": rng.uniform(600, 3 * 3600),
                "headers_hostile": rng.uniform(300, 3600),
                "redis_down": rng.uniform(3, 600),
                "redis_hang": rng.uniform(3, 120),
                "redis_restart": 0.0,
                "redis_clock_step": 0.0,
                "redis_corrupt": 0.0,
                "token_storm": rng.uniform(5, sc.token_storm_max),
                "token_rotation": rng.uniform(3600, 6 * 3600),
                "server_errors": rng.uniform(5, 60),
            }[kind]
            params: dict[str, Any] = {}
            if kind == "storm":
                params = {
                    "p": rng.uniform(0.3, 0.95),
                    "limit": rng.choice(["account", "acceleration", "app", None]),
                    "retry_after": rng.choice(["1", "2", "5", None]),
                }
            elif kind == "neighbour":
                params = {"rate": sc.budget * rng.uniform(0.3, 1.2)}
            elif kind == "redis_clock_step":
                sign = rng.choice([-1, 1]) if sc.clock_steps == "both" else -1
                params = {"step": sign * rng.uniform(1, 7200)}
            elif kind == "token_storm":
                params = {
                    "status": rng.choice([429, 429, 503]),
                    "retry_after": rng.choice(sc.token_retry_after),
                }
            elif kind == "token_rotation":
                params = {"lifetime": rng.choice([60.0, 600.0, 3600.0]), "revoke": True}
            self.faults.append(Fault(at, kind, at + length, params))
        self.faults.sort(key=lambda f: (f.at, f.kind))

    async def run_faults(self) -> None:
        """Apply the faults that act on state (Redis), in time order."""
        assert self.redis is not None or not any(f.kind.startswith("redis") for f in self.faults)
        for fault in self.faults:
            await self.sleep_until(fault.at)
            self.log("fault", fault.kind, f"{fault.until - fault.at:.1f}s", fault.params)
            self.fault_log.append((fault.at, fault.until, fault.kind))
            redis = self.redis
            if fault.kind in ("redis_down", "redis_hang") and redis is not None:
                redis.mode = "down" if fault.kind == "redis_down" else "hang"
                self.loop.call_at(self.t0 + fault.until, self._redis_back, fault)
            elif fault.kind == "redis_restart" and redis is not None:
                redis.restart()
            elif fault.kind == "redis_clock_step" and redis is not None:
                redis.step_clock(fault.params["step"])
            elif fault.kind == "redis_corrupt" and redis is not None:
                self.corrupt()
            elif fault.kind == "token_rotation":
                self.revoked_before = self.now()

    def _redis_back(self, fault: Fault) -> None:
        assert self.redis is not None
        if not any(
            f is not fault
            and f.kind in ("redis_down", "redis_hang")
            and f.at <= self.now() < f.until
            for f in self.faults
        ):
            self.redis.mode = "up"
            self.log("redis up")

    def corrupt(self) -> None:
        """Hostile values in Redis: what a buggy or foreign writer could leave there."""
        assert self.redis is not None
        rng = self.rng
        proc = self.processes[0]
        lim, cache = proc.limiter, proc.cache
        value = rng.choice(["NaN", "Infinity", "-1", "1e999", "abc", "0"])
        which = rng.choice(["lifetime", "state"])
        if which == "lifetime":
            self.redis.data.pop(cache.key.encode(), None)
            h = self.redis._hash(cache.key)
            h[b"box"], h[b"exp"], h[b"id"] = b"tok-foreign", value.encode(), value.encode()
            self.redis.pexpire(cache.key, 3_600_000)
        else:
            state = RateState(rate=10.0, last_update=0.0, bucket=0.0).to_dict()
            state["rate"] = value
            body = json.dumps({"version": 7, "state": state, "read": True})
            self.redis.set(lim._state_key, body)
        self.log("corrupt", which, value)

    # ---- traffic ---------------------------------------------------------------------

    def plan_traffic(self) -> list[tuple[float, int, int]]:
        """(when, process, calls) episodes: daily curves, quiet weekends, idle nights."""
        sc, rng = self.scenario, self.rng
        episodes = []
        hours = math.ceil(sc.seconds / 3600)
        for hour in range(hours):
            start = hour * 3600.0
            if start < sc.idle_gap and hour > 0:
                continue
            of_day = hour % 24
            weekend = (hour // 24) % 7 in (5, 6)
            if of_day < 7:
                continue  # the night is idle: hours with no traffic at all
            weight = math.sin(math.pi * (of_day - 7) / 16) ** 2  # peaks mid-afternoon
            if weekend:
                weight *= 0.3
            n = rng.random() * 2 * sc.episodes_per_hour * weight
            for _ in range(int(n + 0.5)):
                at = start + rng.uniform(0, 3600)
                if at >= sc.seconds:
                    continue
                calls = max(1, int(sc.peak_calls * weight * rng.uniform(0.3, 1.5)))
                episodes.append((at, rng.randrange(sc.processes), calls))
        if sc.idle_gap:
            episodes.append((0.0, 0, 5))
            episodes.append((sc.idle_gap, 0, 5))
        episodes.sort()
        return episodes

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    async def call(self, proc: _Process, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        _PROC.set(proc.index)
        call_id = next(self._ids)
        started = self.now()
        self.report.calls += 1
        try:
            apps = await proc.client.apps.list()
        except BaseException as exc:
            self.judge_failure(proc, call_id, started, exc)
        else:
            self.report.succeeded += 1
            self.log("call", call_id, "p", proc.index, "ok", len(apps))
        finally:
            self.check_rates()
        if self.now() - started > CALL_BOUND:
            self.violate(
                "calls end",
                f"call {call_id} of process {proc.index} took {self.now() - started:.0f}s",
            )

    def judge_failure(
        self, proc: _Process, call_id: int, started: float, exc: BaseException
    ) -> None:
        """Invariant: no call fails for a reason the server did not give."""
        now = self.now()
        name = type(exc).__name__
        self.log("call", call_id, "p", proc.index, "failed", name, getattr(exc, "status", ""))
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        if isinstance(exc, TokenError) and exc.status is not None:
            given = self.token_errors.get(proc.index, [])
            if any(
                status == exc.status and (started <= t <= now or t + wait >= started)
                for t, status, wait in given
            ):
                self.report.failed_by_server += 1
                return
        elif isinstance(exc, APIError):
            given_api = self.api_statuses.get(proc.index, [])
            if any(s == exc.status and started <= t <= now for t, s in given_api):
                self.report.failed_by_server += 1
                return
        elif (
            isinstance(exc, (DeadlineExceededError, TokenError))
            and getattr(exc, "status", None) is None
            and self._redis_hung(started, now)
        ):
            if self._outage_noticed(proc.index, started, now):
                return
            self.violate(
                "a Redis outage is noticed",
                f"call {call_id} of process {proc.index} started {now - started:.1f}s ago, "
                f"after the outage cost it a deadline at {self.noticed_at[proc.index]:.1f}s, "
                "and still waited for Redis",
            )
            return
        elif not isinstance(exc, MParticleError):
            self.violate("no failure the server did not give", f"{name}: {exc!r}"[:300])
            return
        self.violate(
            "no failure the server did not give",
            f"call {call_id} of process {proc.index}: {name}: {exc}"[:300],
        )

    def _redis_hung(self, started: float, now: float) -> bool:
        return any(
            kind == "redis_hang"
            and begin <= now
            and end + self.scenario.redis_hang_seconds >= started
            for begin, end, kind in self.fault_log
        )

    def _outage_noticed(self, index: int, started: float, now: float) -> bool:
        """Invariant: a Redis outage is noticed. A call's deadline may pass while Redis
        hangs, but then the process works alone for a while (`_RETRY_REDIS_AFTER`):
        a call it starts after that first deadline must not wait for Redis again."""
        first = self.noticed_at.get(index)
        if first is None or started >= first + mpconnection._RETRY_REDIS_AFTER:
            self.noticed_at[index] = now
            return True
        return started <= first  # already waiting when the outage showed

    # ---- invariants over rates and starts --------------------------------------------

    def shared_state_rate(self) -> float | None:
        if self.redis is None or not self.processes:
            return None
        raw = self.redis.get(self.processes[0].limiter._state_key)
        if raw is None:
            return None
        try:
            return float(json.loads(raw)["state"]["rate"])
        except (ValueError, KeyError, TypeError):
            return None

    def fleet_rate(self) -> float | None:
        """The fleet's promised rate: the fixed one, or the shared law state's."""
        if not self.scenario.adaptive:
            return 0.8 * self.scenario.budget
        shared = self.shared_state_rate()
        if shared is None:
            # No state (before the first answer, after a restart): each process books
            # at the fleet rate it last saw.
            return max((p.rate() for p in self.processes), default=None)
        return shared if math.isfinite(shared) and shared > 0 else None

    def sample_rates(self) -> None:
        now = self.now()
        for proc in self.processes:
            proc.rates.append((now, proc.rate()))
        shared = self.fleet_rate()
        if shared is not None:
            self.shared_rates.append((now, shared))

    def check_rates(self) -> None:
        """Invariant: every rate is finite, positive and bounded."""
        for proc in self.processes:
            rate = proc.rate()
            self.report.max_rate = max(self.report.max_rate, rate if math.isfinite(rate) else 0)
            if not (math.isfinite(rate) and 0 < rate <= RATE_CEILING):
                self.violate("rate finite and bounded", f"process {proc.index} rate={rate!r}")
        shared = self.shared_state_rate()
        if shared is not None and not (math.isfinite(shared) and 0 < shared <= RATE_CEILING):
            if not self.scenario.corrupt_values:
                self.violate("rate finite and bounded", f"shared rate={shared!r}")

    @staticmethod
    def _window_max(samples: deque[tuple[float, float]], now: float, current: float) -> float:
        # A sample holds until the next one: keep the last one from before the window.
        while len(samples) > 1 and samples[1][0] <= now - 3.0:
            samples.popleft()
        return max([current] + [r for _, r in samples])

    def _redis_settled(self, now: float) -> bool:
        """No Redis fault in the last few seconds (a process may still be pacing alone)."""
        settle = mpconnection._RETRY_REDIS_AFTER + self.scenario.redis_hang_seconds + 2.0
        return not any(
            kind.startswith("redis") and start - 1.0 <= now and now <= end + settle
            for start, end, kind in self.fault_log
        )

    def check_start(self, proc: _Process, now: float) -> None:
        """Invariant: no second holds more starts than the rate (with the documented
        window rule); per process always, fleet-wide while Redis is settled."""
        self.sample_rates()  # the rates this start was paced at
        starts = proc.starts
        starts.append(now)
        while starts and starts[0] <= now - 1.0:
            starts.popleft()
        allowed = bound(self._window_max(proc.rates, now, proc.rate()))
        if len(starts) > allowed:
            self.violate(
                "starts per second <= rate",
                f"process {proc.index}: {len(starts)} starts in 1s, allowed {allowed}",
            )
        if self.redis is None:
            return
        fleet = self.fleet_starts
        fleet.append(now)
        while fleet and fleet[0] <= now - 1.0:
            fleet.popleft()
        shared = self.fleet_rate()
        if shared is None:
            return
        allowed = bound(self._window_max(self.shared_rates, now, shared))
        if len(fleet) > allowed:
            if self._redis_settled(now):
                self.violate(
                    "starts per second <= rate",
                    f"fleet: {len(fleet)} starts in 1s, allowed {allowed}",
                )
            else:
                self.report.transition_excess += 1

    # ---- the server ------------------------------------------------------------------

    def _usage_headers(self, count: float) -> dict[str, str]:
        if self.active("headers_missing"):
            return {}
        if self.active("headers_hostile"):
            return {"X-mp-rate-limit-percentage-used": self.rng.choice(HOSTILE_USAGE)}
        return {"X-mp-rate-limit-percentage-used": str(int(100 * count / self.scenario.budget))}

    def _neighbour(self, now: float) -> float:
        total = 0.0
        for fault in self.faults:
            if fault.kind == "neighbour" and fault.at < now and fault.until > now - 1.0:
                overlap = min(now, fault.until) - max(now - 1.0, fault.at)
                total += fault.params["rate"] * overlap
        return total

    async def api(self, url: Any, **kwargs: Any) -> CallbackResult:
        proc_index = _PROC.get()
        proc = self.processes[proc_index]
        now = self.now()
        self.report.arrivals += 1
        self.check_start(proc, now)
        rng = self.rng
        auth = (kwargs.get("headers") or {}).get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        issued = self.tokens.get(token)
        headers: dict[str, str] = {}
        if issued is None or now >= issued[1] or issued[0] < self.revoked_before:
            status = 401
        elif self.active("server_errors") and rng.random() < 0.7:
            status = rng.choice([500, 502, 503])
        elif (storm := self.active("storm")) and rng.random() < storm.params["p"]:
            status = 429
            if storm.params["limit"] is not None:
                headers["X-mp-rate-limit-exceeded"] = storm.params["limit"]
            if storm.params["retry_after"] is not None:
                headers["Retry-After"] = storm.params["retry_after"]
        else:
            window = self.arrivals
            while window and window[0] <= now - 1.0:
                window.popleft()
            count = len(window) + 1 + self._neighbour(now)
            if count > self.scenario.budget:
                status = 429
                headers = {"X-mp-rate-limit-exceeded": "account", "Retry-After": "1"}
            else:
                window.append(now)
                status = 200
                headers = self._usage_headers(count)
        self.api_statuses.setdefault(proc_index, []).append((now, status))
        self.log("api p", proc_index, status, headers.get("X-mp-rate-limit-percentage-used", "-"))
        await asyncio.sleep(rng.uniform(0.02, 0.2))
        body = b'{"data": [{"id": 1, "name": "sim"}], "dataType": "application"}'
        if status != 200:
            body = b'{"errors": [{"code": "x", "message": "simulated"}]}'
        return CallbackResult(status=status, headers=headers, body=body)

    async def token(self, url: Any, **kwargs: Any) -> CallbackResult:
        proc_index = _PROC.get()
        now = self.now()
        self.report.token_fetches += 1
        storm = self.active("token_storm")
        if storm is not None:
            status = storm.params["status"]
            raw = storm.params["retry_after"]
            try:
                wait = float(raw)
            except ValueError:
                wait = 0.0
            if not math.isfinite(wait):
                wait = 0.0
            self.token_errors.setdefault(proc_index, []).append((now, status, wait))
            self.log("token p", proc_index, status, raw)
            await asyncio.sleep(self.rng.uniform(0.05, 0.5))
            return CallbackResult(
                status=status, headers={"Retry-After": raw}, body=b'{"error": "slow down"}'
            )
        rotation = self.active("token_rotation")
        lifetime = rotation.params["lifetime"] if rotation is not None else TOKEN_LIFETIME
        token = f"tok-{len(self.issues)}-{self.rng.getrandbits(32):08x}"
        self.tokens[token] = (now, now + lifetime)
        self.issues.append((now, lifetime))
        self.log("token p", proc_index, "issued", lifetime)
        await asyncio.sleep(self.rng.uniform(1.0, 3.0))  # the first fetch takes 1-3 s
        body = json.dumps({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})
        return CallbackResult(status=200, body=body.encode())

    def check_token_fetches(self) -> None:
        """Invariant: one token fetch per expiry per fleet (while Redis is sound)."""
        if self.redis is None:
            return
        resets = sorted(
            (start, end + 60.0)
            for start, end, kind in self.fault_log
            if kind.startswith("redis") or kind in ("token_rotation", "token_storm")
        )
        for (t1, life1), (t2, _) in itertools.pairwise(self.issues):
            due = t1 + life1 - refresh_margin(life1) - 5.0
            if t2 >= due:
                continue
            if any(start <= t2 and end >= t1 for start, end in resets):
                continue
            self.violate(
                "one token fetch per expiry per fleet",
                f"token issued at {t1:.1f}s (life {life1:.0f}s) replaced at {t2:.1f}s",
            )


async def simulate(seed: int, scenario: Scenario) -> Report:
    """Run one scenario from ``seed`` on the running (virtual-clock) loop."""
    world = World(seed, scenario)
    world.plan_faults()
    episodes = world.plan_traffic()
    with seeded_library(world.rng), aioresponses() as mock:
        mock.post(TOKEN_URL, callback=world.token, repeat=True)
        mock.get(re.compile(re.escape(BASE_URL) + r"/.*"), callback=world.api, repeat=True)
        world.processes = [_Process(world, i) for i in range(scenario.processes)]
        world.sample_rates()
        faults = asyncio.ensure_future(world.run_faults())
        tasks: list[asyncio.Task[None]] = []
        for at, index, calls in episodes:
            await world.sleep_until(at)
            world.log("episode p", index, calls)
            proc = world.processes[index]
            spread = scenario.spread
            delays = [world.rng.uniform(0.0, spread) if spread else 0.0 for _ in range(calls)]
            tasks.extend(asyncio.ensure_future(world.call(proc, d)) for d in delays)
            tasks = [t for t in tasks if not t.done()]
        await world.sleep_until(scenario.seconds)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CALL_BOUND)
            for task in pending:
                world.violate("calls end", "a call was still waiting at the end of the run")
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        faults.cancel()
        await asyncio.gather(faults, return_exceptions=True)
        world.check_token_fetches()
        for proc in world.processes:
            await proc.client.aclose()
            if isinstance(proc.cache, mpredis.RedisTokenCache):
                await proc.cache.aclose()
            if scenario.fleet:
                await proc.limiter.aclose()
    world.log("end", world.report.calls, world.report.succeeded)
    return world.report
