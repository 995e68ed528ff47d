"""What every client shares: the transport it owns, closed by `aclose()` or ``async with``."""

from __future__ import annotations

import copy
import difflib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import Any, TypeVar

from mpasync.auth import BasicAuth
from mpasync.errors import RequestValidationError
from mpasync.options import TransportOptions
from mpasync.priority import Priority
from mpasync.retry import RetryPolicy
from mpasync.transport import Root, Transport, _Keep

__all__ = ["TransportOwner", "basic_auth_transport", "each"]

C = TypeVar("C", bound="TransportOwner")

#: What `TransportOwner.with_options` changes per view.
_VIEW_OPTIONS = ("timeout", "retry", "deadline", "priority")


class TransportOwner:
    """Base of the clients: holds ``_transport`` and gives the async-context lifecycle."""

    _transport: Transport

    @property
    def transport(self) -> Transport:
        """The transport: its limits, its stats, its session."""
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
        for name in unknown:  # a typo is a RequestValidationError with a suggestion
            close = difflib.get_close_matches(name, _VIEW_OPTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RequestValidationError(
                f"with_options: unknown option {name!r}{hint}; it takes "
                + ", ".join(_VIEW_OPTIONS),
                field=name,
            )
        view = copy.copy(self)
        view._transport = self._transport.with_options(
            timeout=timeout, retry=retry, deadline=deadline, priority=priority
        )
        view._bind(view._transport)
        return view

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
