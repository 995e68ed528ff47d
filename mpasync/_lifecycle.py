"""What every client shares: the transport it owns (its counters public as `stats`), closed
by `aclose()` or ``async with``."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from mpasync.auth import BasicAuth
from mpasync.bulk import BulkReport, RunOptions, run
from mpasync.errors import RequestValidationError
from mpasync.options import TransportOptions, check_option_names
from mpasync.priority import Priority
from mpasync.retry import RetryPolicy
from mpasync.transport import Root, Transport, TransportStats, _Keep

__all__ = ["TransportOwner", "basic_auth_transport", "each"]

C = TypeVar("C", bound="TransportOwner")
B = TypeVar("B")  # a prepared request body

#: What `TransportOwner.with_options` changes per view.
_VIEW_OPTIONS = ("timeout", "retry", "deadline", "priority")


class TransportOwner:
    """Base of the clients: holds ``_transport`` and gives the async-context lifecycle."""

    _transport: Transport

    @property
    def stats(self) -> TransportStats:
        """What this client has done so far, as a snapshot (a copy, taken now):
        ``requests`` (calls sent), ``attempts`` (HTTP attempts, retries included),
        ``retries``, ``replays_401`` (calls replayed once with a fresh token) and
        ``rate_limit_usage`` (the last ``X-mp-rate-limit-percentage-used``, or None).
        A `with_options` view counts into its client's stats.

        >>> before = mp.stats
        >>> await mp.apps.list()
        >>> mp.stats.requests - before.requests
        1
        """
        return dataclasses.replace(self._transport.stats)

    @property
    def transport(self) -> Transport:
        """Internal: the transport (not part of the public API; use `stats`,
        `rate_limit_usage`)."""
        return self._transport

    async def aclose(self) -> None:
        """Close the session (unless borrowed). Same as leaving ``async with``."""
        await self._transport.aclose()

    def with_options(
        self: C,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        deadline: float | type[_Keep] | None = _Keep,
        priority: Priority | None = None,
        **unknown: Any,
    ) -> C:
        """A view of this client with other per-call options, sharing its pool, token,
        limits and stats (no new session; closing the view closes nothing).

        >>> patient = mp.with_options(timeout=120, deadline=600)
        >>> await patient.apps.list()

        ``priority`` puts the view's requests in a lane (`mpasync.priority`):
        ``"interactive"`` (a plain call's) goes before ``"background"`` (a bulk run's).
        """
        # A typo is a RequestValidationError with a suggestion, not a TypeError.
        check_option_names(unknown, _VIEW_OPTIONS, where="with_options")
        view = copy.copy(self)
        view._transport = self._transport.with_options(
            timeout=timeout, retry=retry, deadline=deadline, priority=priority
        )
        view._bind(view._transport)
        return view

    async def _run_prepared(
        self,
        prepared: AsyncIterable[tuple[int, B | RequestValidationError]],
        send: Callable[[B], Awaitable[Any]],
        report: BulkReport[int, Any],
        options: RunOptions,
    ) -> None:
        """A bulk run of request bodies checked (and numbered) as the input is read: each
        position's body is sent with ``send``, and one that failed its check fails that
        position with its `RequestValidationError`, nothing sent (`submit_bulk`,
        `seed_bulk`). The run's limits are this client's, its concurrency too unless
        ``options`` name one; ``report`` is filled in."""
        bodies: dict[int, B | RequestValidationError] = {}

        async def positions() -> AsyncIterator[int]:
            async for index, body in prepared:
                bodies[index] = body
                yield index

        async def one(index: int) -> Any:
            body = bodies.pop(index)
            if isinstance(body, RequestValidationError):
                raise body
            return await send(body)

        await run(
            one,
            positions(),
            options.with_default_concurrency(self._transport.concurrency.capacity),
            stats=self._transport.stats,
            report=report,
        )

    def _bind(self, transport: Transport) -> None:
        """Attach whatever holds a transport (resources) to ``transport``."""

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """Iterate a plain or an async iterable the same way, lazily."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def basic_auth_transport(
    api_key: str,
    api_secret: str,
    *,
    base_url: str,
    options: TransportOptions,
) -> Transport:
    """The transport of a workspace-key API (seeding, DSR): HTTP Basic, paths from the base."""
    if not isinstance(api_key, str) or not api_key:
        raise RequestValidationError("api_key is required", field="api_key")
    if not isinstance(api_secret, str) or not api_secret:
        raise RequestValidationError("api_secret is required", field="api_secret")
    return Transport(
        base_url=base_url,
        auth=BasicAuth(api_key, api_secret),
        roots={"": Root("", {})},
        options=options,
    )
