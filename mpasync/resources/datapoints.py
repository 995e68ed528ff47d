"""DataPoints (``/v1/apps/{id}/datapoints``) and per-service datapoint filtering."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from mpasync.decoding import bare, empty, envelope_list, envelope_one
from mpasync.models import DataPoint, DataPointFilter, ServiceFiltering
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, flag, text
from mpasync.resources._base import Resource
from mpasync.resources.datapoints_checks import validate_datapoints, validate_filters

__all__ = ["MAX_FILTERS_PER_REQUEST", "DataPointFilters", "DataPoints"]

#: Filter updates longer than this are sent in several requests (large updates are
#: reported to time out); each filter is set explicitly, so the split changes nothing.
MAX_FILTERS_PER_REQUEST = 500


class DataPoints(Resource):
    """The data points known for an app."""

    __slots__ = ()

    async def list(self, app_id: int) -> list[DataPoint]:
        """Every data point of an app."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "datapoints")
        return await self._send(Request("GET", p, envelope_list(DataPoint), scope=str(aid)))

    async def add(self, app_id: int, datapoints: Iterable[DataPoint | dict[str, Any]]) -> None:
        """Add data points to an app ahead of instrumentation (models or dicts)."""
        body = validate_datapoints(datapoints)
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, "datapoints")
        await self._send(Request("PUT", p, empty, body=body, scope=str(aid)))


class DataPointFilters(Resource):
    """Which data points an app forwards to a service, and the service's default."""

    __slots__ = ()

    async def list(self, app_id: int, service: str) -> list[DataPointFilter]:
        """The filters of an app for a service (only types the service supports)."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, text(service, "service"), "datapoints")
        return await self._send(Request("GET", p, envelope_list(DataPointFilter), scope=str(aid)))

    async def update(
        self,
        app_id: int,
        service: str,
        filters: Iterable[DataPointFilter | dict[str, Any]],
    ) -> builtins.list[DataPointFilter]:
        """Set filters (models or dicts); returns the filters as the server stored them.

        The body is a bare JSON array; lists longer than `MAX_FILTERS_PER_REQUEST` go in
        several requests, transparently.
        """
        checked = validate_filters(filters)
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, text(service, "service"), "datapoints")
        decode = bare(list[DataPointFilter])
        if len(checked) <= MAX_FILTERS_PER_REQUEST:
            return await self._send(Request("PUT", p, decode, body=checked, scope=str(aid)))
        result: builtins.list[DataPointFilter] = []
        for start in range(0, len(checked), MAX_FILTERS_PER_REQUEST):
            chunk = checked[start : start + MAX_FILTERS_PER_REQUEST]
            result.extend(await self._send(Request("PUT", p, decode, body=chunk, scope=str(aid))))
        return result

    async def get_service_filtering(self, app_id: int, service: str) -> ServiceFiltering:
        """Whether newly detected data points go to the service by default."""
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, text(service, "service"))
        return await self._send(Request("GET", p, envelope_one(ServiceFiltering), scope=str(aid)))

    async def set_service_filtering(
        self, app_id: int, service: str, *, send_new_datapoints_by_default: bool
    ) -> None:
        """Set whether newly detected data points go to the service by default."""
        # The reference's heading says PUT /apps/1/{service}; its curl adds /datapoints,
        # which is the filter-list path. We follow the heading, like the GET.
        aid = entity_id(app_id, "app_id")
        p = path("apps", aid, text(service, "service"))
        body = {
            "sendNewDataPointsByDefault": flag(
                send_new_datapoints_by_default, "send_new_datapoints_by_default"
            )
        }
        await self._send(Request("PUT", p, empty, body=body, scope=str(aid)))
