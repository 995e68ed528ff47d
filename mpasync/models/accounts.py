"""Models for the Accounts resource (``/v1/accounts``)."""

from __future__ import annotations

from mpasync.models.base import Model

__all__ = ["Account"]


class Account(Model, kw_only=True):
    """An mParticle account."""

    id: int
    name: str
    created_on: str | None = None
    last_modified_on: str | None = None
    data_type: str | None = None
