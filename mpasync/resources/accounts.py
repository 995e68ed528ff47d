"""Accounts (``/v1/accounts``)."""

from __future__ import annotations

from mpasync.decoding import empty, envelope_list, envelope_one, maybe_one
from mpasync.models import Account
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, text
from mpasync.resources._base import Resource
from mpasync.transport import Transport

__all__ = ["Accounts"]


class Accounts(Resource):
    """Get, list, create, rename and delete accounts."""

    __slots__ = ("_account_id",)

    def __init__(self, transport: Transport, account_id: int | None) -> None:
        super().__init__(transport)
        self._account_id = account_id

    async def get(self, account_id: int) -> Account:
        """One account."""
        aid = entity_id(account_id, "account_id")
        return await self._send(Request("GET", path("accounts", aid), envelope_one(Account)))

    async def list(self) -> list[Account]:
        """Every account these credentials can see."""
        return await self._send(Request("GET", "/accounts", envelope_list(Account)))

    async def create(self, *, name: str) -> Account | None:
        """Create an account; returns it when the server sends it back."""
        body = {"name": text(name, "name")}
        return await self._send(Request("POST", "/accounts", maybe_one(Account), body=body))

    async def update(self, account_id: int, *, name: str) -> Account | None:
        """Rename an account (422 if the name is not unique)."""
        aid = entity_id(account_id, "account_id")
        body = {"name": text(name, "name")}
        return await self._send(
            Request("PUT", path("accounts", aid), maybe_one(Account), body=body)
        )

    async def delete(self) -> None:
        """Delete the client's own account (every app must be deleted first)."""
        await self._send(Request("DELETE", "/accounts", empty))
