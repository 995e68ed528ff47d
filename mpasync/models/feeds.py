"""Models for partner feeds, their output configurations and subscriptions
(``/v1/workspace/{id}/partnerfeeds``, ``/v1/partnerfeeds/...``)."""

from __future__ import annotations

from mpasync.models.base import Model, SettingValue

__all__ = ["EntityRef", "Feed", "FeedSetting", "FeedSubscription", "ServiceConfiguration"]


class FeedSetting(Model, kw_only=True):
    """One ``{name, value}`` setting of a feed or feed subscription."""

    name: str
    value: SettingValue = None


class Feed(Model, kw_only=True):
    """A partner feed. The list call returns only id, name and created_on (id as a string)."""

    id: int
    name: str | None = None
    module_name: str | None = None
    os: str | None = None
    is_debug: bool | None = None
    settings: list[FeedSetting] | None = None
    created_on: str | None = None
    data_type: str | None = None


class ServiceConfiguration(Model, kw_only=True):
    """An output configuration of a module, which feed subscriptions connect feeds to."""

    id: int
    name: str | None = None
    created_on: str | None = None
    data_type: str | None = None


class FeedSubscription(Model, kw_only=True):
    """A connection between a feed and an output configuration."""

    id: int
    service_configuration_id: int | None = None
    config_name: str | None = None
    is_active: bool | None = None
    settings: list[FeedSetting] | None = None
    created_on: str | None = None
    data_type: str | None = None


class EntityRef(Model, kw_only=True):
    """What feed and subscription create/update calls return: ``{data_type, id, created_on}``."""

    id: int
    created_on: str | None = None
    data_type: str | None = None
