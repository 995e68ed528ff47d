"""The emulator's Analytics (Indicative) REST API: ``POST /service/event``, ``/event/batch``,
``/identify``, ``/alias``, ``/suppress`` and ``/delete``, keyed by the body's ``apiKey``
(400 when wrong), with the reference's field rules answered 422."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mpasync.emulator.api_common import (
    errors_response,
    iso_time,
    json_response,
    read_json,
    same,
    scripted,
    text_ok,
)
from mpasync.emulator.other_state import AnalyticsRequest

if TYPE_CHECKING:
    from mpasync.emulator.other_state import OtherApiState

__all__ = ["AnalyticsRequest", "AnalyticsRoutes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _event_errors(event: object, where: str) -> list[str]:
    if not isinstance(event, dict):
        return [f"{where} must be a JSON object."]
    errors = []
    for key in ("eventName", "eventUniqueId"):
        if not text_ok(event.get(key)):
            errors.append(f"{where}{key} must be between 1 and 255 characters.")
    properties = event.get("properties")
    if properties is not None:
        errors += _property_errors(properties, f"{where}properties")
    moment = event.get("eventTime")
    if moment is not None:
        if isinstance(moment, bool) or not isinstance(moment, (int, float, str)):
            errors.append(f"{where}eventTime must be a unix timestamp or ISO 8601.")
        elif isinstance(moment, str):
            parsed = iso_time(moment)
            if parsed is None or parsed.timestamp() < 0:
                errors.append(f"{where}eventTime must be ISO 8601, not before 1970.")
        elif moment < 0:
            errors.append(f"{where}eventTime must not be negative.")
    return errors


def _property_errors(properties: object, where: str) -> list[str]:
    if not isinstance(properties, dict):
        return [f"{where} must be a JSON object."]
    errors = []
    for name, value in properties.items():
        if not text_ok(name):
            errors.append(f"{where}: property names must be between 1 and 255 characters.")
        elif not isinstance(value, str):
            # The reference lists property values "as Strings"; 422 is its answer to a
            # field value that breaks the listed constraints.
            errors.append(f"{where}.{name}: property values must be strings.")
    return errors


class AnalyticsRoutes:
    """The analytics handlers over the shared state."""

    def __init__(self, state: OtherApiState) -> None:
        self.state = state

    async def _analytics(
        self,
        request: web.Request,
        check: Callable[[dict[str, Any]], list[str]],
        events: Callable[[dict[str, Any]], int] = lambda body: 0,
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        arrived = time.monotonic()
        failure = scripted(self.state, "analytics")
        if failure is not None:
            status, after = failure
            headers = {"Retry-After": f"{after:g}"} if after is not None else None
            return None, errors_response(status, "Injected failure.", headers=headers)
        _, body, ok = await read_json(request)
        if not ok or not isinstance(body, dict):
            return None, errors_response(400, "Malformed request body.")
        key = body.get("apiKey")
        if not isinstance(key, str) or not same(key, self.state.analytics_key):
            return None, errors_response(400, "The API key is invalid.")
        errors = check(body)
        if errors:
            return None, errors_response(422, *errors)
        record = AnalyticsRequest(request.path, events(body), arrived)
        self.state.analytics_requests.append(record)
        return body, None

    async def track(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._analytics(request, lambda b: _event_errors(b, ""), lambda b: 1)
        if failed is not None:
            return failed
        assert body is not None
        self.state.events.append({k: v for k, v in body.items() if k != "apiKey"})
        return json_response({"status": "ok"})

    async def track_batch(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            events = body.get("events")
            if not isinstance(events, list) or not events:
                return ["events must be a non-empty array."]
            return [m for i, e in enumerate(events) for m in _event_errors(e, f"events[{i}].")]

        body, failed = await self._analytics(request, check, lambda b: len(b["events"]))
        if failed is not None:
            return failed
        assert body is not None
        self.state.events.extend(
            {k: v for k, v in event.items() if k != "apiKey"} for event in body["events"]
        )
        return json_response({"status": "ok"})

    async def identify(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            errors = [] if text_ok(body.get("uniqueId")) else ["uniqueId must be 1-255 chars."]
            return errors + _property_errors(body.get("properties", {}), "properties")

        body, failed = await self._analytics(request, check)
        if failed is not None:
            return failed
        assert body is not None
        profile = self.state.profiles.setdefault(body["uniqueId"], {})
        profile.update(body.get("properties") or {})
        return json_response({"status": "ok"})

    async def alias(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            return [
                f"{key} must be between 1 and 255 characters."
                for key in ("previousId", "newId")
                if not text_ok(body.get(key))
            ]

        body, failed = await self._analytics(request, check)
        if failed is not None:
            return failed
        assert body is not None
        self.state.aliases.append((body["previousId"], body["newId"]))
        return json_response({"status": "ok"})

    def _user_call(self, target: set[str]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            def check(body: dict[str, Any]) -> list[str]:
                ok = text_ok(body.get("uniqueId"))
                return [] if ok else ["uniqueId must be between 1 and 255 characters."]

            body, failed = await self._analytics(request, check)
            if failed is not None:
                return failed
            assert body is not None
            target.add(body["uniqueId"])
            return json_response({"status": "ok"})

        return handler

    def add_to(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Register every endpoint under ``{prefix}/service``."""
        service = f"{prefix}/service"
        router.add_post(f"{service}/event", self.track)
        router.add_post(f"{service}/event/batch", self.track_batch)
        router.add_post(f"{service}/identify", self.identify)
        router.add_post(f"{service}/alias", self.alias)
        router.add_post(f"{service}/suppress", self._user_call(self.state.suppressed))
        router.add_post(f"{service}/delete", self._user_call(self.state.deleted))
