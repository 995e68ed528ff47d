"""The documented enumerations of the Platform API, as plain constant classes.

Model fields stay typed ``str`` so that values the server adds later still decode; these
classes give the documented values names, and ``ALL`` lets validators check membership.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "OPERATOR_SUPPORT",
    "AttributeCategory",
    "CalculationType",
    "CommerceEventType",
    "ConditionOperator",
    "ConditionType",
    "CrashHandling",
    "DataPointType",
    "DefinitionDataPointType",
    "DestinationType",
    "EventType",
    "FeedOS",
    "FilterType",
    "MappingType",
    "NetworkPerformance",
    "PlatformOS",
    "RecipeType",
    "SocialMode",
    "TimePeriodType",
    "UserIdentityType",
    "WithinUnit",
    "canonical_os",
]


class PlatformOS:
    """The ``os`` of an app platform (apps and app platforms)."""

    IOS: Final = "iOS"
    TVOS: Final = "tvOS"
    ANDROID: Final = "Android"
    MOBILE_WEB: Final = "MobileWeb"
    ROKU: Final = "Roku"
    ALEXA: Final = "Alexa"
    SMART_TV: Final = "SmartTV"
    FIRE_TV: Final = "FireTV"
    XBOX: Final = "Xbox"
    ALL: Final[frozenset[str]] = frozenset(
        {IOS, TVOS, ANDROID, MOBILE_WEB, ROKU, ALEXA, SMART_TV, FIRE_TV, XBOX}
    )


class FeedOS:
    """The ``os`` a partner feed acts as: every `PlatformOS` value plus ``Unknown``."""

    UNKNOWN: Final = "Unknown"
    ALL: Final[frozenset[str]] = PlatformOS.ALL | {UNKNOWN}


def canonical_os(value: str, *, allowed: frozenset[str] = PlatformOS.ALL) -> str | None:
    """The documented spelling of an os name matched case-insensitively, or None if unknown.

    >>> canonical_os("ios"), canonical_os("ANDROID"), canonical_os("VisionOS")
    ('iOS', 'Android', None)

    Pass ``allowed=FeedOS.ALL`` for feeds, which also accept ``Unknown``.
    """
    if not isinstance(value, str):
        return None
    folded = value.casefold()
    for name in allowed:
        if name.casefold() == folded:
            return name
    return None


class CrashHandling:
    """App platform ``crash_handling`` setting."""

    APP_DEFINED: Final = "AppDefined"
    FORCE_CATCH: Final = "ForceCatch"
    FORCE_IGNORE: Final = "ForceIgnore"
    ALL: Final[frozenset[str]] = frozenset({APP_DEFINED, FORCE_CATCH, FORCE_IGNORE})


class NetworkPerformance:
    """App platform ``network_performance`` setting."""

    APP_DEFINED: Final = "AppDefined"
    FORCE_TRUE: Final = "ForceTrue"
    FORCE_FALSE: Final = "ForceFalse"
    ALL: Final[frozenset[str]] = frozenset({APP_DEFINED, FORCE_TRUE, FORCE_FALSE})


class SocialMode:
    """App platform ``social_mode`` setting."""

    APP_DEFINED: Final = "AppDefined"
    FACEBOOK: Final = "Facebook"
    TWITTER: Final = "Twitter"
    FACEBOOK_AND_TWITTER: Final = "FacebookAndTwitter"
    ALL: Final[frozenset[str]] = frozenset({APP_DEFINED, FACEBOOK, TWITTER, FACEBOOK_AND_TWITTER})


class DataPointType:
    """The ``type`` of a DataPoint (Supported DataPoint Types)."""

    EVENT: Final = "Event"
    EVENT_ATTRIBUTE: Final = "EventAttribute"
    USER_ATTRIBUTE: Final = "UserAttribute"
    SCREEN_VIEW: Final = "ScreenView"
    SCREEN_VIEW_ATTRIBUTE: Final = "ScreenViewAttribute"
    IDENTITY: Final = "Identity"
    COMMERCE: Final = "Commerce"
    COMMERCE_ATTRIBUTE: Final = "CommerceAttribute"
    ALL: Final[frozenset[str]] = frozenset(
        {
            EVENT,
            EVENT_ATTRIBUTE,
            USER_ATTRIBUTE,
            SCREEN_VIEW,
            SCREEN_VIEW_ATTRIBUTE,
            IDENTITY,
            COMMERCE,
            COMMERCE_ATTRIBUTE,
        }
    )


class FilterType:
    """The ``type`` of a DataPoint filter (Supported DataPoint Filter Types)."""

    EVENT: Final = "Event"
    EVENT_ATTRIBUTE: Final = "EventAttribute"
    USER_ATTRIBUTE: Final = "UserAttribute"
    EVENT_TYPE: Final = "EventType"
    SCREEN_VIEW: Final = "ScreenView"
    SCREEN_VIEW_ATTRIBUTE: Final = "ScreenViewAttribute"
    USER_IDENTITY: Final = "UserIdentity"
    COMMERCE: Final = "Commerce"
    COMMERCE_ATTRIBUTE: Final = "CommerceAttribute"
    ALL_USER_ATTRIBUTES: Final = "All_User_Attributes"
    ALL_WORKSPACE_USER_ATTRIBUTES: Final = "All_Workspace_User_Attributes"
    ALL_ACCOUNT_USER_ATTRIBUTES: Final = "All_Account_User_Attributes"
    ALL: Final[frozenset[str]] = frozenset(
        {
            EVENT,
            EVENT_ATTRIBUTE,
            USER_ATTRIBUTE,
            EVENT_TYPE,
            SCREEN_VIEW,
            SCREEN_VIEW_ATTRIBUTE,
            USER_IDENTITY,
            COMMERCE,
            COMMERCE_ATTRIBUTE,
            ALL_USER_ATTRIBUTES,
            ALL_WORKSPACE_USER_ATTRIBUTES,
            ALL_ACCOUNT_USER_ATTRIBUTES,
        }
    )


class EventType:
    """App (custom) event types: ``event_type`` of Event/EventAttribute, or an EventType
    filter's ``name``."""

    UNKNOWN: Final = "unknown"
    NAVIGATION: Final = "navigation"
    LOCATION: Final = "location"
    SEARCH: Final = "search"
    TRANSACTION: Final = "transaction"
    USER_CONTENT: Final = "user_content"
    USER_PREFERENCE: Final = "user_preference"
    SOCIAL: Final = "social"
    OTHER: Final = "other"
    MEDIA: Final = "media"
    ALL: Final[frozenset[str]] = frozenset(
        {
            UNKNOWN,
            NAVIGATION,
            LOCATION,
            SEARCH,
            TRANSACTION,
            USER_CONTENT,
            USER_PREFERENCE,
            SOCIAL,
            OTHER,
            MEDIA,
        }
    )


class CommerceEventType:
    """Commerce event types: ``event_type`` of Commerce/CommerceAttribute datapoints."""

    PRODUCT_ADD_TO_CART: Final = "product_add_to_cart"
    PRODUCT_REMOVE_FROM_CART: Final = "product_remove_from_cart"
    PRODUCT_CHECKOUT: Final = "product_checkout"
    PRODUCT_CHECKOUT_OPTION: Final = "product_checkout_option"
    PRODUCT_CLICK: Final = "product_click"
    PRODUCT_VIEW_DETAIL: Final = "product_view_detail"
    PRODUCT_PURCHASE: Final = "product_purchase"
    PRODUCT_REFUND: Final = "product_refund"
    PROMOTION_VIEW: Final = "promotion_view"
    PROMOTION_CLICK: Final = "promotion_click"
    ALL: Final[frozenset[str]] = frozenset(
        {
            PRODUCT_ADD_TO_CART,
            PRODUCT_REMOVE_FROM_CART,
            PRODUCT_CHECKOUT,
            PRODUCT_CHECKOUT_OPTION,
            PRODUCT_CLICK,
            PRODUCT_VIEW_DETAIL,
            PRODUCT_PURCHASE,
            PRODUCT_REFUND,
            PROMOTION_VIEW,
            PROMOTION_CLICK,
        }
    )


class UserIdentityType:
    """The ``name`` of a UserIdentity filter (Supported User Identity Types)."""

    CUSTOMER_ID: Final = "CustomerId"
    FACEBOOK: Final = "Facebook"
    TWITTER: Final = "Twitter"
    GOOGLE: Final = "Google"
    MICROSOFT: Final = "Microsoft"
    YAHOO: Final = "Yahoo"
    EMAIL: Final = "Email"
    OTHER: Final = "Other"
    ALL: Final[frozenset[str]] = frozenset(
        {CUSTOMER_ID, FACEBOOK, TWITTER, GOOGLE, MICROSOFT, YAHOO, EMAIL, OTHER}
    )


class RecipeType:
    """A calculated attribute definition's ``recipe_type``; only ``event`` is supported."""

    EVENT: Final = "event"
    ALL: Final[frozenset[str]] = frozenset({EVENT})


class DefinitionDataPointType:
    """The ``type`` of a calculated attribute definition's datapoint."""

    EVENT: Final = "event"
    EVENT_ATTRIBUTE: Final = "event_attribute"
    USER_ATTRIBUTE: Final = "user_attribute"
    ALL: Final[frozenset[str]] = frozenset({EVENT, EVENT_ATTRIBUTE, USER_ATTRIBUTE})


class AttributeCategory:
    """A calculated attribute datapoint's ``attribute_category``."""

    EVENT_ATTRIBUTE: Final = "event_attribute"
    PRODUCT_ATTRIBUTE: Final = "product_attribute"
    PROMOTION_ATTRIBUTE: Final = "promotion_attribute"
    ALL: Final[frozenset[str]] = frozenset(
        {EVENT_ATTRIBUTE, PRODUCT_ATTRIBUTE, PROMOTION_ATTRIBUTE}
    )


class CalculationType:
    """A calculated attribute definition's ``calculation_type``."""

    COUNT: Final = "count"
    FIRST_OCCURRENCE_TIMESTAMP: Final = "first_occurrence_timestamp"
    LAST_OCCURRENCE_TIMESTAMP: Final = "last_occurrence_timestamp"
    FIRST_OCCURRENCE: Final = "first_occurrence"
    LAST_OCCURRENCE: Final = "last_occurrence"
    SUM: Final = "sum"
    MIN: Final = "min"
    MAX: Final = "max"
    AVERAGE: Final = "average"
    UNIQUE_LIST: Final = "unique_list"
    UNIQUE_VALUES_COUNT: Final = "unique_values_count"
    MOST_FREQUENT: Final = "most_frequent"
    ALL: Final[frozenset[str]] = frozenset(
        {
            COUNT,
            FIRST_OCCURRENCE_TIMESTAMP,
            LAST_OCCURRENCE_TIMESTAMP,
            FIRST_OCCURRENCE,
            LAST_OCCURRENCE,
            SUM,
            MIN,
            MAX,
            AVERAGE,
            UNIQUE_LIST,
            UNIQUE_VALUES_COUNT,
            MOST_FREQUENT,
        }
    )


class ConditionType:
    """The data type a calculated attribute condition operates on."""

    STRING: Final = "string"
    NUMBER: Final = "number"
    BOOLEAN: Final = "boolean"
    DATE: Final = "date"
    ALL: Final[frozenset[str]] = frozenset({STRING, NUMBER, BOOLEAN, DATE})


class ConditionOperator:
    """A calculated attribute condition's ``operator``; see `OPERATOR_SUPPORT` per type."""

    EXISTS: Final = "exists"
    NOT_EXISTS: Final = "not_exists"
    EMPTY: Final = "empty"
    IN_LIST: Final = "in_list"
    CONTAINS: Final = "contains"
    NOT_CONTAINS: Final = "not_contains"
    PATTERN: Final = "pattern"
    EQUALS: Final = "equals"
    NOT_EQUALS: Final = "not_equals"
    GREATER_THAN: Final = "greater_than"
    GREATER_OR_EQUAL: Final = "greater_or_equal"
    LESS_THAN: Final = "less_than"
    LESS_THAN_OR_EQUAL: Final = "less_than_or_equal"
    BEFORE: Final = "before"
    AFTER: Final = "after"
    BETWEEN: Final = "between"
    BETWEEN_DATES: Final = "between_dates"
    # How many of value / values / min_value+max_value each operator takes.
    NO_VALUE: Final[frozenset[str]] = frozenset({EXISTS, NOT_EXISTS, EMPTY})
    LIST: Final[frozenset[str]] = frozenset({IN_LIST})
    RANGE: Final[frozenset[str]] = frozenset({BETWEEN, BETWEEN_DATES})
    ALL: Final[frozenset[str]] = frozenset(
        {
            EXISTS,
            NOT_EXISTS,
            EMPTY,
            IN_LIST,
            CONTAINS,
            NOT_CONTAINS,
            PATTERN,
            EQUALS,
            NOT_EQUALS,
            GREATER_THAN,
            GREATER_OR_EQUAL,
            LESS_THAN,
            LESS_THAN_OR_EQUAL,
            BEFORE,
            AFTER,
            BETWEEN,
            BETWEEN_DATES,
        }
    )


_S, _N = ConditionType.STRING, ConditionType.NUMBER
_B, _D = ConditionType.BOOLEAN, ConditionType.DATE

OPERATOR_SUPPORT: Final[dict[str, frozenset[str]]] = {
    # The reference's "Operator - Type Support Map": operator -> condition types allowing it.
    ConditionOperator.EXISTS: frozenset({_S, _N, _B, _D}),
    ConditionOperator.NOT_EXISTS: frozenset({_S, _N, _B, _D}),
    ConditionOperator.EMPTY: frozenset({_S, _N, _B, _D}),
    ConditionOperator.IN_LIST: frozenset({_S, _N}),
    ConditionOperator.CONTAINS: frozenset({_S}),
    ConditionOperator.NOT_CONTAINS: frozenset({_S}),
    ConditionOperator.PATTERN: frozenset({_S}),
    ConditionOperator.EQUALS: frozenset({_S, _N, _B, _D}),
    ConditionOperator.NOT_EQUALS: frozenset({_S, _N}),
    ConditionOperator.GREATER_THAN: frozenset({_N}),
    ConditionOperator.GREATER_OR_EQUAL: frozenset({_N}),
    ConditionOperator.LESS_THAN: frozenset({_N}),
    ConditionOperator.LESS_THAN_OR_EQUAL: frozenset({_N}),
    ConditionOperator.BEFORE: frozenset({_D}),
    ConditionOperator.AFTER: frozenset({_D}),
    ConditionOperator.BETWEEN: frozenset({_N}),
    ConditionOperator.BETWEEN_DATES: frozenset({_D}),
}


class TimePeriodType:
    """A calculated attribute time period's ``type``."""

    ALL_TIME: Final = "all"
    SINCE: Final = "since"
    WITHIN: Final = "within"
    ALL: Final[frozenset[str]] = frozenset({ALL_TIME, SINCE, WITHIN})


class WithinUnit:
    """The ``within_unit`` of a ``within`` time period."""

    DAYS: Final = "days"
    WEEKS: Final = "weeks"
    ALL: Final[frozenset[str]] = frozenset({DAYS, WEEKS})


class MappingType:
    """A field transformation mapping's ``mapping_type``."""

    COLUMN: Final = "column"
    STATIC: Final = "static"
    IGNORE: Final = "ignore"
    ALL: Final[frozenset[str]] = frozenset({COLUMN, STATIC, IGNORE})


class DestinationType:
    """A field transformation's ``destination_type``; ``event_batch`` is the only documented one."""

    EVENT_BATCH: Final = "event_batch"
    ALL: Final[frozenset[str]] = frozenset({EVENT_BATCH})
