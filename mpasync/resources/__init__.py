"""The resource classes: one per Platform API resource group, each a thin request describer."""

from mpasync.resources.accounts import Accounts
from mpasync.resources.apps import Apps
from mpasync.resources.audiences import Audiences
from mpasync.resources.calculated_attributes import CalculatedAttributes
from mpasync.resources.datapoints import DataPointFilters, DataPoints
from mpasync.resources.directory import Services, Users, Workspaces
from mpasync.resources.feeds import Feeds
from mpasync.resources.field_transformations import FieldTransformations
from mpasync.resources.platforms import Platforms, PlatformServices

__all__ = [
    "Accounts",
    "Apps",
    "Audiences",
    "CalculatedAttributes",
    "DataPointFilters",
    "DataPoints",
    "Feeds",
    "FieldTransformations",
    "PlatformServices",
    "Platforms",
    "Services",
    "Users",
    "Workspaces",
]
