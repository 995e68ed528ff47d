"""Models for the Audiences resource (``/v1/audiences``, ``/v1/workspace/{id}/audiences``)."""

from __future__ import annotations

from mpasync.models.base import Model
from mpasync.models.workspaces import Workspace

__all__ = ["Audience", "ConnectedOutput", "OutputConfiguration"]


class OutputConfiguration(Model, kw_only=True):
    """One configuration of an output an audience is connected to."""

    name: str | None = None


class ConnectedOutput(Model, kw_only=True):
    """An output platform an audience is connected to, with its configurations."""

    provider_name: str | None = None
    configurations: list[OutputConfiguration] | None = None
    data_type: str | None = None


class Audience(Model, kw_only=True):
    """An audience, with the workspaces it is calculated from and its connected outputs."""

    id: int
    name: str
    external_name: str | None = None
    size: int | None = None
    status: str | None = None
    is_calculated: bool | None = None
    added_last_24_hours: int | None = None
    dropped_last_24_hours: int | None = None
    workspaces: list[Workspace] | None = None
    connected_outputs: list[ConnectedOutput] | None = None
    created_by: str | None = None
    last_modified_by: str | None = None
    last_modified_on: str | None = None
    data_type: str | None = None
