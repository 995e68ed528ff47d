"""Models for services: the account's service catalogue (``/v1/services``) and the services
configured on an app platform (``/v1/apps/{id}/platforms/{os}/services``)."""

from __future__ import annotations

import msgspec

from mpasync.models.base import Model, SettingValue

__all__ = ["PlatformService", "PlatformServiceSetting", "Service", "ServiceSetting"]


class PlatformServiceSetting(Model, kw_only=True):
    """One setting of a service configured on an app platform.

    Confidential values come back masked by the server ("*********** Key").
    """

    name: str
    value: SettingValue = None
    is_confidential: bool | None = msgspec.field(default=None, name="isConfidential")


class PlatformService(Model, kw_only=True):
    """A service (output) configured on an app platform; also the body of ``configure``."""

    name: str
    account: str | None = None
    is_active: bool | None = msgspec.field(default=None, name="isActive")
    is_visible: bool | None = msgspec.field(default=None, name="isVisible")
    settings: list[PlatformServiceSetting] | None = None
    data_type: str | None = None


class ServiceSetting(Model, kw_only=True):
    """The description of a setting a service accepts (its spec, not a value)."""

    name: str
    type: str | None = None
    description: str | None = None
    is_required: bool | None = None


class Service(Model, kw_only=True):
    """A service available to the account, with the settings it accepts."""

    name: str
    settings: list[ServiceSetting] | None = None
    data_type: str | None = None
