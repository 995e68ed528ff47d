"""The emulator's fixed seed data: the service catalogue every account can configure, the
datapoints each seeded app starts with, and the names seeded apps are given."""

from __future__ import annotations

from mpasync.emulator.state import ServiceSpec, SettingSpec

__all__ = ["APP_BRANDS", "APP_DATAPOINTS", "MOBILE_OSES", "SERVICE_CATALOGUE", "TV_OSES"]

#: The services every emulated account can configure (the reference's examples first).
SERVICE_CATALOGUE: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "ActionX",
        [
            SettingSpec(
                "advertiserToken",
                "String",
                "The ActionX Advertiser Token for your app.",
                is_required=True,
                is_confidential=True,
            ),
            SettingSpec(
                "useCustomerId",
                "Bool",
                "If enabled, mParticle will forward your Customer ID values to ActionX.",
            ),
        ],
    ),
    ServiceSpec(
        "Amplitude",
        [
            SettingSpec(
                "apiKey",
                "String",
                'Your app\'s Amplitude API Key.  You can find this on the "My Account" page'
                " of Amplitude's dashboard.",
                is_required=True,
                is_confidential=True,
            ),
            SettingSpec(
                "userIdentification",
                "String",
                'To identify users, choose "Customer ID" to send Customer ID if provided or'
                ' or "Email" to send Email addresses if provided.',
                is_required=True,
            ),
            SettingSpec(
                "includeEmailAsUserProperty",
                "Bool",
                "If true, a hashed Customer ID, when available, will be forwarded as User ID",
            ),
        ],
    ),
    ServiceSpec(
        "Appboy",
        [
            SettingSpec(
                "apiKey",
                "String",
                "Your Braze (formerly Appboy) app identifier API key.",
                is_required=True,
                is_confidential=True,
            ),
            SettingSpec(
                "dataCenterLocation",
                "String",
                "The Braze data cluster your app group lives in (e.g. US-01, EU-01).",
                is_required=True,
            ),
            SettingSpec(
                "enableTypeDetection",
                "Bool",
                "If enabled, attribute values are sent to Braze as numbers and booleans"
                " where possible.",
            ),
        ],
    ),
    ServiceSpec(
        "GoogleAnalyticsEventForwarder",
        [
            SettingSpec(
                "apiKey",
                "String",
                "Your Google Analytics tracking ID (UA-XXXXX-Y).",
                is_required=True,
                is_confidential=True,
            ),
            SettingSpec(
                "useCustomerId",
                "Bool",
                "If enabled, mParticle forwards Customer ID values as the Google Analytics"
                " User ID.",
            ),
            SettingSpec(
                "customDimensions",
                "Custom",
                "Event, user and product attributes mapped to Google Analytics custom dimensions.",
            ),
            SettingSpec(
                "customMetrics",
                "Custom",
                "Event, user and product attributes mapped to Google Analytics custom metrics.",
            ),
        ],
    ),
    ServiceSpec(
        "Mixpanel",
        [
            SettingSpec(
                "token",
                "String",
                "Your Mixpanel project token.",
                is_required=True,
                is_confidential=True,
            ),
            SettingSpec(
                "useMixpanelPeople",
                "Bool",
                "If enabled, user attributes are forwarded to Mixpanel People.",
            ),
        ],
    ),
    ServiceSpec(
        "Webhook",
        [
            SettingSpec(
                "postbackUrl",
                "String",
                "The URL mParticle posts event batches to.",
                is_required=True,
            ),
        ],
    ),
)

# (type, name, attribute_name, event_type, always present)
APP_DATAPOINTS: tuple[tuple[str, str, str | None, str | None, bool], ...] = (
    ("Event", "Search", None, "search", True),
    ("EventAttribute", "Search", "query", "search", True),
    ("EventAttribute", "Search", "results_count", "search", False),
    ("Event", "Add To Cart", None, "transaction", True),
    ("EventAttribute", "Add To Cart", "product_id", "transaction", True),
    ("EventAttribute", "Add To Cart", "price", "transaction", True),
    ("Event", "Checkout", None, "transaction", True),
    ("EventAttribute", "Checkout", "cart_value", "transaction", True),
    ("EventAttribute", "Checkout", "payment_method", "transaction", False),
    ("Event", "Purchase", None, "transaction", False),
    ("Event", "Navigate To Category", None, "navigation", True),
    ("EventAttribute", "Navigate To Category", "category", "navigation", True),
    ("Event", "Open Menu", None, "navigation", False),
    ("Event", "Sign Up", None, "user_preference", False),
    ("Event", "Share Product", None, "social", False),
    ("EventAttribute", "Share Product", "network", "social", False),
    ("Event", "Play Video", None, "media", False),
    ("Event", "Store Locator", None, "location", False),
    ("ScreenView", "Home", None, None, True),
    ("ScreenView", "Product Detail", None, None, True),
    ("ScreenViewAttribute", "Product Detail", "product_id", None, False),
    ("ScreenView", "Cart", None, None, True),
    ("ScreenView", "Settings", None, None, False),
    ("UserAttribute", "$FirstName", None, None, True),
    ("UserAttribute", "$LastName", None, None, False),
    ("UserAttribute", "membership_tier", None, None, True),
    ("UserAttribute", "favorite_category", None, None, False),
    ("Identity", "CustomerId", None, None, True),
    ("Identity", "Email", None, None, True),
    ("Commerce", "Product Purchase", None, "product_purchase", False),
    ("CommerceAttribute", "Product Purchase", "coupon_code", "product_purchase", False),
    ("Commerce", "Product View Detail", None, "product_view_detail", False),
)

APP_BRANDS = (
    "Acme Shop",
    "Acme Travel",
    "Acme News",
    "Acme Music",
    "Acme Fitness",
    "Acme Bank",
    "Acme Eats",
    "Acme Games",
)
MOBILE_OSES = ("iOS", "Android", "MobileWeb")
TV_OSES = ("tvOS", "Roku", "FireTV", "SmartTV")
