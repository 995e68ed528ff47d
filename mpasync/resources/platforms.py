"""App platforms (``/v1/apps/{id}/platforms``) and the services configured on them."""

from __future__ import annotations

from typing import Any

import msgspec

from mpasync._checks import fail as _fail
from mpasync._validate import check_keys, listing
from mpasync.decoding import empty, envelope_list, envelope_one, maybe_one
from mpasync.errors import MethodNotAllowedError, NotFoundError, RequestValidationError
from mpasync.models import Platform, PlatformService
from mpasync.models.enums import (
    CrashHandling,
    NetworkPerformance,
    PlatformOS,
    SocialMode,
    canonical_os,
)
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, flag, setting_list, text
from mpasync.resources._base import Resource
from mpasync.transport import Transport

__all__ = ["PlatformServices", "Platforms", "validate_os"]

_CHOICES = {
    "crash_handling": CrashHandling.ALL,
    "network_performance": NetworkPerformance.ALL,
    "social_mode": SocialMode.ALL,
}


_SETTINGS = frozenset({"profile_merging", "push_attribution_timer", *_CHOICES})


def platform_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Check the platform settings the API documents; unknown names are rejected."""
    for name, value in settings.items():
        if name == "profile_merging":
            flag(value, name)
        elif name == "push_attribution_timer":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RequestValidationError(
                    "push_attribution_timer must be a non-negative integer (minutes)", field=name
                )
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                allowed = ", ".join(sorted(_CHOICES[name]))
                raise RequestValidationError(f"{name} must be one of {allowed}", field=name)
        else:
            check_keys({name: value}, _SETTINGS, "settings")
    return settings


def validate_os(os: str, *, allowed: frozenset[str] = PlatformOS.ALL, field: str = "os") -> str:
    """The documented spelling of an app platform os ("ios" -> "iOS").

    Pass ``allowed=FeedOS.ALL`` for feeds, which also accept ``Unknown``.
    """
    if not isinstance(os, str):
        _fail(field, f"must be a string, not {type(os).__name__}")
    found = canonical_os(os, allowed=allowed)
    if found is None:
        _fail(field, f"{os!r} is not a valid os; expected one of: {listing(allowed)}")
    return found


def _os_segment(os: str) -> str:
    # The reference addresses platforms by lower-case os in paths (/platforms/android).
    return validate_os(os).lower()


class Platforms(Resource):
    """Get, list, create, update and delete an app's platforms."""

    __slots__ = ("_older_create_path",)

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        # None until a create succeeds; then whether this server takes the older path.
        self._older_create_path: bool | None = None

    async def get(self, app_id: int, os: str) -> Platform:
        """One platform of an app."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms", _os_segment(os))
        return await self._send(Request("GET", p, envelope_one(Platform), scope=str(aid)))

    async def list(self, app_id: int) -> list[Platform]:
        """Every platform of an app."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms")
        return await self._send(Request("GET", p, envelope_list(Platform), scope=str(aid)))

    async def create(self, app_id: int, os: str, **settings: Any) -> Platform:
        """Add a platform to an app; the answer holds its access key and (only now) secret.

        Settings: ``profile_merging``, ``push_attribution_timer``, ``crash_handling``,
        ``network_performance``, ``social_mode``.

        Sent to ``POST /apps/{id}/platforms``; a server answering that with 404 or 405 is
        asked once more on ``POST /apps/{id}``, and the path that worked is remembered for
        this client.
        """
        aid = entity_id(app_id, "app_id")
        request = Request(
            "POST",
            path("apps", aid, "platforms"),
            envelope_one(Platform),
            body={"os": validate_os(os), **platform_settings(settings)},
            scope=str(aid),
        )
        # The newer Apps page documents POST /apps/{id}/platforms; the older reference
        # (platform-api.md line 650) shows POST /apps/{id}. The newer one wins.
        older = msgspec.structs.replace(request, path=path("apps", aid))
        if self._older_create_path:
            return await self._send(older)
        try:
            platform = await self._send(request)
        except (NotFoundError, MethodNotAllowedError):
            if self._older_create_path is False:
                raise  # this server takes the newer path: a 404 means the app is missing
            platform = await self._send(older)
            self._older_create_path = True
            return platform
        self._older_create_path = False
        return platform

    async def update(self, app_id: int, os: str, **settings: Any) -> Platform | None:
        """Change a platform's settings."""
        if not settings:
            raise RequestValidationError("update needs at least one setting", field="settings")
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms", _os_segment(os))
        body = platform_settings(settings)
        return await self._send(Request("PUT", p, maybe_one(Platform), body=body, scope=str(aid)))

    async def delete(self, app_id: int, os: str) -> None:
        """Remove a platform from an app."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms", _os_segment(os))
        await self._send(Request("DELETE", p, empty, scope=str(aid)))


class PlatformServices(Resource):
    """The output services configured on an app platform."""

    __slots__ = ()

    async def list(self, app_id: int, os: str) -> list[PlatformService]:
        """Services configured on a platform (confidential values come back masked)."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms", _os_segment(os), "services")
        return await self._send(Request("GET", p, envelope_list(PlatformService), scope=str(aid)))

    async def configure(
        self,
        app_id: int,
        os: str,
        *,
        name: str,
        settings: Any = None,
        account: str | None = None,
        is_active: bool = True,
        is_visible: bool = True,
    ) -> PlatformService | None:
        """Configure a service on a platform.

        ``settings`` is ``{"apiKey": "..."}`` or a list of ``{"name", "value"}``; list or
        dict values (e.g. Google Analytics ``customDimensions``) are sent as JSON strings.
        ``account`` names the service account (the server defaults it to "Default Account").
        """
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "platforms", _os_segment(os), "services")
        body: dict[str, Any] = {
            "name": text(name, "name"),
            "isActive": flag(is_active, "is_active"),
            "isVisible": flag(is_visible, "is_visible"),
            "settings": setting_list(settings),
        }
        if account is not None:
            body["account"] = text(account, "account")
        return await self._send(
            Request("PUT", p, maybe_one(PlatformService), body=body, scope=str(aid))
        )
