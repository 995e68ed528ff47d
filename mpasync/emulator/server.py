"""The `Emulator` (a real HTTP server on 127.0.0.1 running the stateful API) and the
`serve()` / `describe()` helpers behind `mpasync emulator`."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mpasync.emulator.app import TOKEN_PATH, build_app
from mpasync.emulator.auth import TokenStore
from mpasync.emulator.faults import FaultInjector, Faults, FaultsSpec
from mpasync.emulator.other_apis import (
    ANALYTICS_PREFIX,
    DSR_PREFIX,
    DSR_PREFIXES,
    SEEDING_PREFIX,
    OtherApiState,
    add_other_api_routes,
)
from mpasync.emulator.ratelimit import RateLimits
from mpasync.emulator.request_log import LoggedRequest
from mpasync.emulator.runtime import Runtime
from mpasync.emulator.seed import seed_steps
from mpasync.emulator.state import EmulatorState

if TYPE_CHECKING:
    from mpasync.analytics import AnalyticsClient
    from mpasync.client import Client
    from mpasync.dsr import DSRClient
    from mpasync.seeding import SeedingClient

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Emulator",
    "describe",
    "serve",
]

DEFAULT_CLIENT_ID = "emulator-client"
DEFAULT_CLIENT_SECRET = "emulator-secret"
DEFAULT_AUDIENCE = "https://api.mparticle.com"


class _Unset:
    """Sentinel: an optional keyword was not given."""


_UNSET = _Unset()


class Emulator:
    """A stateful, in-memory mParticle Platform API (v1 + v2 + token endpoint) on localhost.

    Example::

        async with Emulator(apps=5, faults=Faults(error_rate=0.1, seed=1)) as emu:
            async with emu.client() as mp:
                apps = await mp.apps.list()
            assert emu.state.apps[1].name == apps[0].name
            print(len(emu.request_log), emu.token_requests)

    Args:
        apps: how many apps to seed in the primary account (each with 1-3 platforms,
            datapoints and configured services).
        token_ttl: bearer-token lifetime in seconds (tokens really expire).
        rate_limit: requests per second per account before 429s (sliding 1-second
            window), None = unlimited. The limits' model is in `ratelimit.py`.
        app_rate_limit: requests per second per app (`/v1/apps/{id}...`) before 429s
            with `X-mp-rate-limit-exceeded: app`; None = none.
        acceleration_limit: factor by which one second's admitted requests may exceed
            the previous second's (above `acceleration_floor` requests), e.g. 2.0;
            None = none. Refusals say `X-mp-rate-limit-exceeded: acceleration`.
        neighbour: share of `rate_limit` another (unseen) consumer of each account uses,
            e.g. 0.4; its requests always get through and count against the budget.
        faults: a `Faults` for every API route, or per-route rules (a mapping of pattern to
            `Faults`, or a list of `FaultRule`/`(pattern, Faults)`); see `faults.py`.
        token_latency: seconds the token endpoint waits before answering.
        host, port: where to listen; port 0 picks a free port.
        client_id, client_secret, audience: the credentials the token endpoint accepts.
        account_id: the primary account; `other_account_id` is a second account (its own
            apps 9001/9002, workspace 5101, ...) for cross-account tests; None = none.
        seed: seed of the generated data (same seed, same state).
        faults_on_token: also inject faults into `POST /oauth/token`.
        request_log_limit: keep at most about this many entries in `request_log`
            (None = all). ``journal_limit`` is its old name, still accepted.
        calculation_seconds: how long a calculated attribute "calculates" after activation.
        seed_in_start: seed the apps in `start()` instead of here, awaiting between chunks
            of apps, so that seeding a big emulator can be cancelled (Ctrl-C) at once.
        on_seed: called with the number of apps seeded so far: 0 as seeding begins, then
            every few hundred apps and once all are seeded.
    """

    def __init__(
        self,
        apps: int = 0,
        token_ttl: float = 28800.0,
        rate_limit: float | None = None,
        faults: FaultsSpec = None,
        *,
        token_latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        audience: str = DEFAULT_AUDIENCE,
        account_id: int = 1,
        other_account_id: int | None = 2,
        seed: int = 0,
        faults_on_token: bool = False,
        request_log_limit: int | None = None,
        journal_limit: int | _Unset | None = _UNSET,
        calculation_seconds: float = 2.0,
        app_rate_limit: float | None = None,
        acceleration_limit: float | None = None,
        acceleration_floor: float = 50.0,
        neighbour: float = 0.0,
        seed_in_start: bool = False,
        on_seed: Callable[[int], None] | None = None,
    ) -> None:
        if apps < 0:
            raise ValueError("apps must be >= 0")
        if token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        if other_account_id == account_id:
            raise ValueError("other_account_id must differ from account_id")
        if not isinstance(journal_limit, _Unset):  # the old name
            if request_log_limit is not None and request_log_limit != journal_limit:
                raise ValueError(
                    "give request_log_limit only (journal_limit is its old name), not both"
                )
            request_log_limit = journal_limit
        self.host = host
        self._requested_port = port
        self._client_id = client_id
        self._client_secret = client_secret
        self._account_id = account_id
        state = EmulatorState(
            primary_account_id=account_id, calculation_seconds=calculation_seconds
        )
        self._seeding: Iterator[int] | None = seed_steps(
            state, apps=apps, seed=seed, other_account_id=other_account_id
        )
        self._on_seed = on_seed
        if not seed_in_start:
            for done in self._seeding:
                self._seeded(done)
            self._seeding = None
        self._faults_spec: FaultsSpec = faults
        self._runtime = Runtime(
            state=state,
            tokens=TokenStore(token_ttl),
            client_id=client_id,
            client_secret=client_secret,
            audience=audience,
            token_latency=token_latency,
            faults=FaultInjector(faults),
            faults_on_token=faults_on_token,
            limiter=None,
            request_log_limit=request_log_limit,
        )
        self._limit_options: dict[str, Any] = {
            "app_rate": app_rate_limit,
            "acceleration": acceleration_limit,
            "acceleration_floor": acceleration_floor,
            "neighbour": neighbour,
        }
        self.rate_limit = rate_limit
        #: State of the seeding, DSR and Analytics APIs served under `SEEDING_PREFIX`,
        #: `DSR_PREFIX` and `ANALYTICS_PREFIX` (credentials, stored seeds, requests, events).
        self.other_apis = OtherApiState()
        self._runtime.other_prefixes = (
            SEEDING_PREFIX + "/",
            *(prefix + "/" for prefix in DSR_PREFIXES.values()),
            ANALYTICS_PREFIX + "/",
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def _seeded(self, done: int) -> None:
        if self._on_seed is not None:
            self._on_seed(done)

    async def start(self) -> Emulator:
        """Bind, seed (with `seed_in_start`) and start serving (`async with` does this)."""
        if self._runner is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))  # a busy port is said before seeding
            sock.setblocking(False)
            if self._seeding is not None:
                for done in self._seeding:
                    self._seeded(done)
                    await asyncio.sleep(0)  # where a cancellation (Ctrl-C) gets in
                self._seeding = None
        except BaseException:
            sock.close()
            raise
        app = build_app(self._runtime)
        add_other_api_routes(app, state=self.other_apis)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        try:
            await runner.setup()
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner
        self.other_apis.base_url = self.base_url  # DSR discovery's certificate URL
        return self

    async def stop(self) -> None:
        """Stop serving and close open connections (the state stays readable)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._runner is not None

    # ---- where and who ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise RuntimeError("the emulator is not started; use `async with Emulator() as emu`")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`: v1 lives at `/v1`, v2 at `/platform/v2`."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint, `{base_url}/oauth/token`."""
        return self.base_url + TOKEN_PATH

    def url(self, path: str) -> str:
        """An absolute URL for a path, e.g. `emu.url("/v1/apps?accountId=1")`."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def client_id(self) -> str:
        """The client id the token endpoint accepts."""
        return self._client_id

    @property
    def client_secret(self) -> str:
        """The client secret the token endpoint accepts."""
        return self._client_secret

    @property
    def account_id(self) -> int:
        """The primary account's id."""
        return self._account_id

    # ---- what happened ---------------------------------------------------------------------

    @property
    def state(self) -> EmulatorState:
        """The live in-memory state (read it to check what requests really changed)."""
        return self._runtime.state

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every request received, in arrival order, including faulted ones (at most about
        ``request_log_limit`` of the latest)."""
        return self._runtime.request_log

    def reset_request_log(self) -> None:
        """Forget the logged requests (and the token request count)."""
        self._runtime.request_log.clear()
        self._runtime.token_requests = 0

    @property
    def journal(self) -> list[LoggedRequest]:
        """The old name of `request_log` (read-only), kept so old code keeps working; not
        to be confused with the bulk journal, `mpasync.journal`."""
        return self.request_log

    def reset_journal(self) -> None:
        """The old name of `reset_request_log`."""
        self.reset_request_log()

    @property
    def token_requests(self) -> int:
        """How many `POST /oauth/token` requests reached the endpoint."""
        return self._runtime.token_requests

    # ---- knobs you can turn while running ----------------------------------------------------

    @property
    def faults(self) -> FaultsSpec:
        """The fault configuration; assign a new one to change it (random sources restart)."""
        return self._faults_spec

    @faults.setter
    def faults(self, spec: FaultsSpec) -> None:
        self._faults_spec = spec
        self._runtime.faults = FaultInjector(spec)

    @property
    def rate_limit(self) -> float | None:
        """Requests per second per account, or None; assignable (the limits restart)."""
        limiter = self._runtime.limiter
        return limiter.rate if limiter is not None else None

    @rate_limit.setter
    def rate_limit(self, rate: float | None) -> None:
        options = dict(self._limit_options)
        if rate is None:
            options["neighbour"] = 0.0  # a share of nothing
        limits = RateLimits(rate, **options)
        self._runtime.limiter = limits if limits.active else None

    @property
    def rate_limits(self) -> RateLimits | None:
        """The live limits (speed, app, acceleration, neighbour), or None."""
        return self._runtime.limiter

    def issue_token(self) -> str:
        """A valid bearer token without an HTTP round trip (not counted in `token_requests`)."""
        return self._runtime.tokens.issue()

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as if they had all expired."""
        self._runtime.tokens.expire_all()

    def client(self, **overrides: Any) -> Client:
        """An `mpasync.Client` wired to this emulator; use it with `async with`.

        Keyword arguments override the defaults (`client_id`, `client_secret`, `account_id`,
        `base_url`, `token_url`) or add any other `Client` option.
        """
        from mpasync.client import Client

        options: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "account_id": self.account_id,
            "base_url": self.base_url,
            "token_url": self.token_url,
        }
        options.update(overrides)
        return Client(**options)

    def seeding_client(self, **overrides: Any) -> SeedingClient:
        """An `mpasync.SeedingClient` wired to this emulator's seeding API."""
        from mpasync.seeding import SeedingClient

        apis = self.other_apis
        options: dict[str, Any] = {"base_url": self.base_url + SEEDING_PREFIX, **overrides}
        return SeedingClient(apis.workspace_key, apis.workspace_secret, **options)

    def dsr_client(self, **overrides: Any) -> DSRClient:
        """An `mpasync.DSRClient` wired to this emulator's DSR API (v3, or the
        ``api_version=`` given: each version has its own prefix, `DSR_PREFIXES`)."""
        from mpasync.dsr import DSRClient

        apis = self.other_apis
        prefix = DSR_PREFIXES.get(overrides.get("api_version", 3), DSR_PREFIX)
        options: dict[str, Any] = {"base_url": self.base_url + prefix, **overrides}
        return DSRClient(apis.workspace_key, apis.workspace_secret, **options)

    def analytics_client(self, **overrides: Any) -> AnalyticsClient:
        """An `mpasync.AnalyticsClient` wired to this emulator's Analytics API."""
        from mpasync.analytics import AnalyticsClient

        options: dict[str, Any] = {"base_url": self.base_url + ANALYTICS_PREFIX, **overrides}
        return AnalyticsClient(self.other_apis.analytics_key, **options)

    def __repr__(self) -> str:
        where = self.base_url if self.running else "not started"
        return f"<Emulator {where} apps={len(self.state.apps_of(self.account_id))}>"


def describe(emu: Emulator) -> str:
    """The lines `mpasync emulator` prints: URLs, credentials, and matching env exports."""
    return "\n".join(
        [
            f"mParticle emulator listening on {emu.base_url}",
            f"  base URL:      {emu.base_url}  (v1 at /v1, v2 at /platform/v2)",
            f"  token URL:     {emu.token_url}",
            f"  client id:     {emu.client_id}",
            f"  client secret: {emu.client_secret}",
            f"  account id:    {emu.account_id}",
            "",
            "  export MPARTICLE_CLIENT_ID=" + emu.client_id,
            "  export MPARTICLE_CLIENT_SECRET=" + emu.client_secret,
            f"  export MPARTICLE_ACCOUNT_ID={emu.account_id}",
            "  export MPARTICLE_BASE_URL=" + emu.base_url,
            "  export MPARTICLE_TOKEN_URL=" + emu.token_url,
        ]
    )


async def serve(
    port: int = 8787,
    apps: int = 50,
    token_ttl: float = 28800.0,
    rate: float | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    ready: Callable[[Emulator], None] | None = None,
    *,
    host: str = "127.0.0.1",
    **options: Any,
) -> None:
    """Run an emulator until cancelled (the `mpasync emulator` command).

    `fault_rate` F is split evenly: F/2 of API requests get a 5xx and F/2 a 429. `seed`
    seeds both the data and the faults. `ready(emu)` is called once it is listening (print
    `describe(emu)` there). Extra keyword arguments go to `Emulator`.
    """
    faults = Faults.from_fault_rate(fault_rate, seed) if fault_rate > 0 else None
    if "journal_limit" not in options:  # (its old name)
        options.setdefault("request_log_limit", 10_000)
    emulator = Emulator(
        apps=apps,
        token_ttl=token_ttl,
        rate_limit=rate,
        faults=faults,
        host=host,
        port=port,
        seed=seed or 0,
        **options,
    )
    async with emulator as emu:
        if ready is not None:
            ready(emu)
        await asyncio.Event().wait()
