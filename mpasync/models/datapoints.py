"""Models for DataPoints and DataPoint filters (``/v1/apps/{id}/datapoints``,
``/v1/apps/{id}/{service}`` and ``/v1/apps/{id}/{service}/datapoints``)."""

from __future__ import annotations

import msgspec

from mpasync.models.base import Model, always_sent

__all__ = ["DataPoint", "DataPointFilter", "DataPointKey", "ServiceFiltering"]

# (type lower-cased, name, attribute_name, event_type): what makes two datapoints the same.
DataPointKey = tuple[str, str, str | None, str | None]


class DataPoint(Model, kw_only=True):
    """A unique data item detected for an app (an event, attribute, screen view, ...).

    ``attribute_name`` names the attribute of ``*Attribute`` types, whose ``name`` is the
    parent's; ``event_type`` applies to Event/EventAttribute/Commerce/CommerceAttribute.

    >>> DataPoint(name="my event", type="Event", event_type="navigation").key()
    ('event', 'my event', None, 'navigation')
    """

    name: str
    type: str
    event_type: str | None = None
    attribute_name: str | None = None
    created_on: str | None = None
    data_type: str | None = None

    def key(self) -> DataPointKey:
        """The identity tuple ``(type_lower, name, attribute_name, event_type)``.

        ``type`` is compared case-insensitively: requests may send "eventattribute" and the
        server answers "EventAttribute".
        """
        return (self.type.lower(), self.name, self.attribute_name, self.event_type)


class DataPointFilter(Model, kw_only=True):
    """Whether one DataPoint is forwarded to one service of an app.

    >>> import msgspec
    >>> msgspec.json.encode(DataPointFilter(name="my event", type="Event", event_type="navigation"))
    b'{"name":"my event","type":"Event","event_type":"navigation","enabled":true}'
    """

    name: str
    type: str
    event_type: str | None = None
    attribute_name: str | None = None
    # always_sent: a plain `= True` default would be dropped from request bodies.
    enabled: bool = always_sent(True)
    created_on: str | None = None
    data_type: str | None = None

    def key(self) -> DataPointKey:
        """The identity tuple ``(type_lower, name, attribute_name, event_type)``, without
        ``enabled``: two filters with the same key target the same DataPoint."""
        return (self.type.lower(), self.name, self.attribute_name, self.event_type)


class ServiceFiltering(Model, kw_only=True):
    """A service's default filtering for an app: whether new DataPoints are sent to it."""

    name: str | None = None
    send_new_datapoints_by_default: bool | None = msgspec.field(
        default=None, name="sendNewDataPointsByDefault"
    )
