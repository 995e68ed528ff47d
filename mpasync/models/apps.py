"""Models for apps and app platforms (``/v1/apps``, ``/v1/apps/{id}/platforms``).

An `AccessKey`'s secret is sent only when an app or platform is created; it is kept on the
model but masked in every ``repr``, including the repr of an `App` or `Platform` holding it.
"""

from __future__ import annotations

from typing import Any

from mpasync.models.base import Model

__all__ = ["AccessKey", "App", "Platform"]

_MASK = "***"


class AccessKey(Model, kw_only=True):
    """An app platform's access key. ``secret`` is only present in create responses.

    >>> AccessKey(key="AccessKey", secret="AccessSecret")
    AccessKey(key='AccessKey', secret='***', data_type=None)
    """

    key: str
    secret: str | None = None
    data_type: str | None = None

    def __repr__(self) -> str:
        secret = None if self.secret is None else _MASK
        return f"AccessKey(key={self.key!r}, secret={secret!r}, data_type={self.data_type!r})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec's default rich repr would print the secret field as is.
        secret = None if self.secret is None else _MASK
        return [("key", self.key), ("secret", secret), ("data_type", self.data_type)]


class Platform(Model, kw_only=True):
    """An app platform: one ``os`` of an app, with its access keys and settings.

    Also usable as a create/update body: ``Platform(os="iOS", profile_merging=True)``.
    """

    os: str
    application_id: int | None = None
    access_keys: list[AccessKey] | None = None
    crash_handling: str | None = None
    network_performance: str | None = None
    social_mode: str | None = None
    profile_merging: bool | None = None
    push_attribution_timer: int | None = None
    created_on: str | None = None
    last_modified_on: str | None = None
    data_type: str | None = None


class App(Model, kw_only=True):
    """An app ("application family") and its platforms."""

    id: int
    name: str
    platforms: list[Platform] | None = None
    created_on: str | None = None
    last_modified_on: str | None = None
    data_type: str | None = None
