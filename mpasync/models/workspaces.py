"""Models for the Workspaces resource (``/v1/workspace``); audiences embed the same shape."""

from __future__ import annotations

from mpasync.models.base import Model

__all__ = ["Workspace"]


class Workspace(Model, kw_only=True):
    """A workspace. The list call sends ``id`` as a string ("4302"); it decodes to ``int``."""

    id: int
    name: str
    created_on: str | None = None
    data_type: str | None = None
