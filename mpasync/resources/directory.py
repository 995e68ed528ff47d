"""Read-only directories of the account: services, users and workspaces (v1)."""

from __future__ import annotations

from mpasync.decoding import envelope_list, envelope_one
from mpasync.models import Service, User, Workspace
from mpasync.request import Request, path
from mpasync.resources._args import text
from mpasync.resources._base import Resource

__all__ = ["Services", "Users", "Workspaces", "encode_email"]


def encode_email(email: str) -> str:
    """The user-id form the Users API expects: every character that is not a letter or a
    digit becomes its UTF-8 bytes in upper-case hex.

    >>> encode_email("test@mparticle.com")
    'test40mparticle2Ecom'
    """
    out = []
    for ch in email:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.append(ch.encode("utf-8").hex().upper())
    return "".join(out)


class Services(Resource):
    """The output services available to the account, with their settings."""

    __slots__ = ()

    async def list(self) -> list[Service]:
        """Every service and its settings."""
        return await self._send(Request("GET", "/services", envelope_list(Service)))

    async def get(self, name: str) -> Service:
        """One service's settings (e.g. ``"Amplitude"``)."""
        p = path("services", text(name, "name"))
        return await self._send(Request("GET", p, envelope_one(Service)))


class Users(Resource):
    """The account's users."""

    __slots__ = ()

    async def list(self) -> list[User]:
        """Every user of the account."""
        return await self._send(Request("GET", "/users", envelope_list(User)))

    async def get(self, email: str) -> User:
        """One user by e-mail address (encoded as the API expects)."""
        address = text(email, "email")
        if "@" not in address:
            from mpasync.errors import RequestValidationError

            raise RequestValidationError("email must be an e-mail address", field="email")
        p = path("users", encode_email(address))
        return await self._send(Request("GET", p, envelope_one(User)))


class Workspaces(Resource):
    """The account's workspaces."""

    __slots__ = ()

    async def list(self) -> list[Workspace]:
        """Every workspace of the account."""
        return await self._send(Request("GET", "/workspace", envelope_list(Workspace)))
