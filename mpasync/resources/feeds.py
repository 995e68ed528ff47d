"""Partner feeds, their output configurations and subscriptions (v1; ``data_type`` envelopes)."""

from __future__ import annotations

import builtins
from typing import Any

from mpasync.decoding import envelope_list, envelope_one
from mpasync.errors import RequestValidationError
from mpasync.models import EntityRef, Feed, FeedSubscription, ServiceConfiguration
from mpasync.models.enums import FeedOS, canonical_os
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, flag, setting_list, text
from mpasync.resources._base import Resource

__all__ = ["Feeds"]


def _feed_os(os: str) -> str:
    canonical = canonical_os(os, allowed=FeedOS.ALL)
    if canonical is None:
        allowed = ", ".join(sorted(FeedOS.ALL))
        raise RequestValidationError(f"os must be one of {allowed}, got {os!r}", field="os")
    return canonical


class Feeds(Resource):
    """Partner feeds of a workspace."""

    __slots__ = ()

    async def list(self, workspace_id: int) -> list[Feed]:
        """The partner feeds of a workspace."""
        p = path("workspace", entity_id(workspace_id, "workspace_id"), "partnerfeeds")
        return await self._send(Request("GET", p, envelope_list(Feed)))

    async def get(self, feed_id: int) -> Feed:
        """One feed with its settings."""
        p = path("partnerfeeds", entity_id(feed_id, "feed_id"))
        return await self._send(Request("GET", p, envelope_one(Feed)))

    async def create(
        self,
        workspace_id: int,
        *,
        module_name: str,
        name: str,
        os: str,
        settings: Any = None,
        is_debug: bool = False,
    ) -> EntityRef:
        """Create a feed; returns its id."""
        p = path("workspace", entity_id(workspace_id, "workspace_id"), "partnerfeeds")
        body = _feed_body(module_name, name, os, settings, is_debug)
        return await self._send(Request("POST", p, envelope_one(EntityRef), body=body))

    async def update(
        self,
        workspace_id: int,
        feed_id: int,
        *,
        module_name: str,
        name: str,
        os: str,
        settings: Any = None,
        is_debug: bool = False,
    ) -> EntityRef:
        """Replace a feed's configuration."""
        p = path(
            "workspace",
            entity_id(workspace_id, "workspace_id"),
            "partnerfeeds",
            entity_id(feed_id, "feed_id"),
        )
        body = _feed_body(module_name, name, os, settings, is_debug)
        return await self._send(Request("PUT", p, envelope_one(EntityRef), body=body))

    async def list_output_configurations(
        self, workspace_id: int, module_name: str
    ) -> builtins.list[ServiceConfiguration]:
        """The output configurations available for a module."""
        p = path(
            "workspace",
            entity_id(workspace_id, "workspace_id"),
            text(module_name, "module_name"),
            "serviceconfigurations",
        )
        return await self._send(Request("GET", p, envelope_list(ServiceConfiguration)))

    async def list_subscriptions(self, workspace_id: int) -> builtins.list[FeedSubscription]:
        """Every feed subscription (feed → output configuration) of a workspace."""
        p = path("partnerfeeds", entity_id(workspace_id, "workspace_id"), "subscriptions")
        return await self._send(Request("GET", p, envelope_list(FeedSubscription)))

    async def create_subscription(
        self,
        feed_id: int,
        *,
        service_configuration_id: int,
        is_active: bool,
        settings: Any = None,
    ) -> EntityRef:
        """Connect a feed to an output configuration."""
        p = path("partnerfeeds", entity_id(feed_id, "feed_id"), "subscriptions")
        body = {
            "service_configuration_id": entity_id(
                service_configuration_id, "service_configuration_id"
            ),
            "is_active": flag(is_active, "is_active"),
            "settings": setting_list(settings),
        }
        return await self._send(Request("POST", p, envelope_one(EntityRef), body=body))


def _feed_body(
    module_name: str, name: str, os: str, settings: Any, is_debug: bool
) -> dict[str, Any]:
    return {
        "module_name": text(module_name, "module_name"),
        "name": text(name, "name"),
        "os": _feed_os(os),
        "settings": setting_list(settings),
        "is_debug": flag(is_debug, "is_debug"),
    }
