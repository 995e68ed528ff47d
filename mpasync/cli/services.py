"""``mpasync services list``, and the service-name check the filters commands make before
sending anything: an unknown name is refused with a suggestion, an unreachable API is bad
input (a wrong ``MPARTICLE_BASE_URL``), not a failed run."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import AsyncIterator
from typing import TextIO

from mpasync.cli.input import CLIError, client_from_env
from mpasync.client import Client
from mpasync.errors import NotFoundError, TransportError
from mpasync.filter_migrations import canonical_service

__all__ = ["check_service", "first_contact", "services_list"]


@contextlib.asynccontextmanager
async def first_contact() -> AsyncIterator[None]:
    """Around a run's first request: an API that cannot be reached at all is a wrong
    MPARTICLE_BASE_URL (bad input, exit 2), not a failed run."""
    try:
        yield
    except TransportError as exc:
        raise CLIError(f"cannot reach the API: {exc}; is MPARTICLE_BASE_URL right?") from None


async def check_service(mp: Client, service: str) -> str:
    """The service's canonical name, before anything is sent or written with it: as the
    API names it, or as ``services list`` spells it when only case and separators differ
    (``google-analytics-event-forwarder``); an unknown name is refused with a hint."""
    async with first_contact():
        return await _find_service(mp, service)


async def _find_service(mp: Client, service: str) -> str:
    try:
        found = await mp.services.get(service)
    except NotFoundError:
        names = [s.name for s in await mp.services.list() if s.name]
        match = canonical_service(service, names)
        if match is not None:
            return match
        close = difflib.get_close_matches(service, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CLIError(f"unknown service {service!r} ({hint}see mpasync services list)") from None
    return found.name or service


async def services_list(out: TextIO) -> int:
    """``mpasync services list``: the names ``--service`` accepts, one a line."""
    async with client_from_env() as mp, first_contact():
        services = await mp.services.list()
    for name in sorted((s.name for s in services if s.name), key=str.lower):
        out.write(name + "\n")
    return 0
