"""Models for the Users resource (``/v1/users``)."""

from __future__ import annotations

from mpasync.models.base import Model

__all__ = ["User"]


class User(Model, kw_only=True):
    """A user of the mParticle account (dashboard login)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    data_type: str | None = None
