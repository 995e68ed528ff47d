"""`Client`: the Platform API client — one transport, one token cache, every resource.

>>> async with Client(client_id="...", client_secret="...", account_id=1) as mp:
...     apps = await mp.apps.list()
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mpasync._checks import digits
from mpasync._lifecycle import TransportOwner
from mpasync.auth import DEFAULT_AUDIENCE, DEFAULT_TOKEN_URL, BearerAuth, TokenCache, safe_url
from mpasync.errors import RequestValidationError
from mpasync.options import TransportOptions
from mpasync.resources import (
    Accounts,
    Apps,
    Audiences,
    CalculatedAttributes,
    DataPointFilters,
    DataPoints,
    Feeds,
    FieldTransformations,
    Platforms,
    PlatformServices,
    Services,
    Users,
    Workspaces,
)
from mpasync.retry import RetryPolicy
from mpasync.transport import Root, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from mpasync.migrations import FilterMigrations

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL = "https://api.mparticle.com"


class Client(TransportOwner):
    """The asyncio client for mParticle's Platform API (v1 and v2).

    One pooled aiohttp session (created lazily inside the running loop, closed by
    `aclose()` or leaving ``async with``; a borrowed ``session=`` is never closed), a
    semaphore of ``max_concurrency`` requests in flight, an optional ``rate_limit``
    (requests per second, ``"auto"`` or a limiter), retries per ``retry``, ``timeout``
    seconds per attempt and an optional total ``deadline`` per call; the other transport
    options are listed in `mpasync.options.TransportOptions`. ``token_cache`` shares one
    `TokenCache` between several clients (or processes: `mpasync.redis.RedisTokenCache`).
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        account_id: int | str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token_url: str = DEFAULT_TOKEN_URL,
        audience: str = DEFAULT_AUDIENCE,
        token_cache: TokenCache | None = None,
        **options: Unpack[TransportOptions],
    ) -> None:
        if token_cache is None:
            if not client_id or not client_secret:
                raise RequestValidationError(
                    "client_id and client_secret are required (or pass token_cache=)",
                    field="client_id" if not client_id else "client_secret",
                )
            token_cache = TokenCache(
                client_id,
                client_secret,
                token_url=token_url,
                audience=audience,
                # The client's timeout bounds its token fetch too, and its retry
                # policy caps how long the endpoint's Retry-After can hold the cache.
                timeout=options.get("timeout", 30.0),
                **_retry_after_cap(options.get("retry")),
            )
        elif not isinstance(token_cache, TokenCache):
            raise RequestValidationError("token_cache must be a TokenCache", field="token_cache")
        self.account_id = _account_id(account_id)
        self.token_cache = token_cache
        v1 = (
            Root("/v1", {"accountId": str(self.account_id)})
            if self.account_id is not None
            else Root("/v1", {}, unavailable="account_id is required for v1 endpoints")
        )
        self._transport = Transport(
            base_url=base_url,
            auth=BearerAuth(token_cache),
            roots={"v1": v1, "v2": Root("/platform/v2", {})},
            options=options,
        )
        self._bind(self._transport)

    def _bind(self, t: Transport) -> None:
        self.__dict__.pop("bulk", None)  # a view gets its own bulk helper
        self.accounts = Accounts(t, self.account_id)
        self.apps = Apps(t)
        self.platforms = Platforms(t)
        self.platform_services = PlatformServices(t)
        self.audiences = Audiences(t)
        self.datapoints = DataPoints(t)
        self.datapoint_filters = DataPointFilters(t)
        self.feeds = Feeds(t)
        self.services = Services(t)
        self.users = Users(t)
        self.workspaces = Workspaces(t)
        self.calculated_attributes = CalculatedAttributes(t)
        self.field_transformations = FieldTransformations(t)

    @classmethod
    def from_env(cls, **overrides: Any) -> Client:
        """Build a client from ``MPARTICLE_CLIENT_ID``, ``MPARTICLE_CLIENT_SECRET``,
        ``MPARTICLE_ACCOUNT_ID`` and optionally ``MPARTICLE_BASE_URL`` and
        ``MPARTICLE_TOKEN_URL`` (`mpasync.env`, which the command line reads too);
        keyword arguments override the environment."""
        from mpasync.env import client_kwargs

        kwargs = client_kwargs(given=frozenset(overrides))
        kwargs.update(overrides)
        return cls(**kwargs)

    @functools.cached_property
    def bulk(self) -> FilterMigrations:
        """Fan-out (`mpasync.bulk.Bulk.map`) and the datapoint-filter migrations
        (`mpasync.migrations.FilterMigrations`), sharing this client's limits."""
        from mpasync.migrations import FilterMigrations

        return FilterMigrations(self)

    @property
    def rate_limit_usage(self) -> int | None:
        """The last ``X-mp-rate-limit-percentage-used`` the API sent (0-100), or None."""
        return self._transport.stats.rate_limit_usage

    async def aclose(self) -> None:
        """Close the session (unless borrowed), and what `mpasync.redis.fleet_options`
        made for this client (its shared token cache and budget: parts marked
        ``close_with_client``). A `with_options` view closes nothing."""
        try:
            await super().aclose()
        finally:
            if not self._transport._is_view:
                for part in (self.token_cache, self._transport.limiter):
                    if getattr(part, "close_with_client", False):
                        part.close_with_client = False  # type: ignore[union-attr]  # once
                        await part.aclose()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return (
            f"Client(account_id={self.account_id!r}, "
            f"base_url={safe_url(self._transport.base_url)!r}, "
            f"client_id={self.token_cache.client_id!r}, "
            f"max_concurrency={self._transport.concurrency.capacity})"
        )


def _retry_after_cap(retry: object) -> dict[str, float]:
    # A wrong `retry` is refused by the transport, with its own message.
    return {"max_retry_after": retry.max_retry_after} if isinstance(retry, RetryPolicy) else {}


def _account_id(value: int | str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise RequestValidationError("account_id must be an integer", field="account_id")
    if isinstance(value, str) and digits(value.strip()) is None:
        # int() reads "٣" as 3: ids are ASCII digits only.
        raise RequestValidationError(
            f"account_id must be an integer, got {value!r}", field="account_id"
        )
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestValidationError(
            f"account_id must be an integer, got {value!r}", field="account_id"
        ) from None
    if number <= 0:
        raise RequestValidationError("account_id must be positive", field="account_id")
    return number
