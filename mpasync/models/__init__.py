"""Typed msgspec models for every Platform API entity, and the API's enumerations.

Every model ignores unknown fields, so new server fields never break decoding; enumerated
fields stay ``str`` for the same reason, with the documented values in `enums`.
"""

from mpasync.models.accounts import Account
from mpasync.models.apps import AccessKey, App, Platform
from mpasync.models.audiences import Audience, ConnectedOutput, OutputConfiguration
from mpasync.models.base import Envelope, ErrorBody, Model, SettingValue
from mpasync.models.calculated_attributes import (
    ActivationStatus,
    CalculatedAttribute,
    CalculationStatus,
    Condition,
    Definition,
    DefinitionDataPoint,
    Seeding,
    TimePeriod,
)
from mpasync.models.datapoints import DataPoint, DataPointFilter, DataPointKey, ServiceFiltering
from mpasync.models.enums import (
    OPERATOR_SUPPORT,
    AttributeCategory,
    CalculationType,
    CommerceEventType,
    ConditionOperator,
    ConditionType,
    CrashHandling,
    DataPointType,
    DefinitionDataPointType,
    DestinationType,
    EventType,
    FeedOS,
    FilterType,
    MappingType,
    NetworkPerformance,
    PlatformOS,
    RecipeType,
    SocialMode,
    TimePeriodType,
    UserIdentityType,
    WithinUnit,
    canonical_os,
)
from mpasync.models.feeds import (
    EntityRef,
    Feed,
    FeedSetting,
    FeedSubscription,
    ServiceConfiguration,
)
from mpasync.models.field_transformations import FieldMapping, FieldTransformation
from mpasync.models.services import (
    PlatformService,
    PlatformServiceSetting,
    Service,
    ServiceSetting,
)
from mpasync.models.users import User
from mpasync.models.workspaces import Workspace

__all__ = [
    "OPERATOR_SUPPORT",
    "AccessKey",
    "Account",
    "ActivationStatus",
    "App",
    "AttributeCategory",
    "Audience",
    "CalculatedAttribute",
    "CalculationStatus",
    "CalculationType",
    "CommerceEventType",
    "Condition",
    "ConditionOperator",
    "ConditionType",
    "ConnectedOutput",
    "CrashHandling",
    "DataPoint",
    "DataPointFilter",
    "DataPointKey",
    "DataPointType",
    "Definition",
    "DefinitionDataPoint",
    "DefinitionDataPointType",
    "DestinationType",
    "EntityRef",
    "Envelope",
    "ErrorBody",
    "EventType",
    "Feed",
    "FeedOS",
    "FeedSetting",
    "FeedSubscription",
    "FieldMapping",
    "FieldTransformation",
    "FilterType",
    "MappingType",
    "Model",
    "NetworkPerformance",
    "OutputConfiguration",
    "Platform",
    "PlatformOS",
    "PlatformService",
    "PlatformServiceSetting",
    "RecipeType",
    "Seeding",
    "Service",
    "ServiceConfiguration",
    "ServiceFiltering",
    "ServiceSetting",
    "SettingValue",
    "SocialMode",
    "TimePeriod",
    "TimePeriodType",
    "User",
    "UserIdentityType",
    "WithinUnit",
    "Workspace",
    "canonical_os",
]
