"""Models for field transformations (Platform API v2,
``/platform/v2/workspaces/{id}/transformations/fields``): mappings from external source
fields to fields of the mParticle event batch."""

from __future__ import annotations

from mpasync.models.base import Model, SettingValue, always_sent

__all__ = ["FieldMapping", "FieldTransformation"]


class FieldMapping(Model, kw_only=True):
    """One mapping of a field transformation.

    ``column`` copies ``source`` into ``destination``; ``static`` writes ``value`` into
    ``destination``; ``ignore`` drops ``source``. ``ignore_when`` (column only) skips empty
    or null values; its JSON form is undocumented, so a string or list of strings decodes.

    >>> FieldMapping(mapping_type="static", destination="event_type", value="custom_event")
    ... # doctest: +NORMALIZE_WHITESPACE
    FieldMapping(mapping_type='static', source=None, destination='event_type',
                 value='custom_event', ignore_when=None)
    """

    mapping_type: str
    source: str | None = None
    destination: str | None = None
    value: SettingValue = None
    ignore_when: str | list[str] | None = None


class FieldTransformation(Model, kw_only=True):
    """A named set of mappings, identified by a caller-chosen ``id`` (letters, digits, - and _).

    >>> FieldTransformation(id="events-v1", name="Events", mappings=[
    ...     FieldMapping(mapping_type="column", source="eventId", destination="event_id")])
    ... # doctest: +ELLIPSIS
    FieldTransformation(id='events-v1', name='Events', destination_type='event_batch', ...)
    """

    id: str
    name: str
    # always_sent: the API requires destination_type, so the default must not be omitted.
    destination_type: str = always_sent("event_batch")
    mappings: list[FieldMapping]
