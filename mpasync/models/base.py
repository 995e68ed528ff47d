"""The base of every model, and the v1 response envelope that wraps most Platform API answers.

Models are msgspec Structs: keyword-only, unknown fields ignored (new server fields never
break old clients), and fields left at their default omitted when encoding a request body.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Envelope", "ErrorBody", "Model", "SettingValue", "always_sent"]

T = TypeVar("T")

# A setting's value: documented as strings ("True"), but requests send booleans too
# (feed subscription example: {"name": "useCustomerId", "value": true}).
SettingValue = str | bool | int | float | None


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base class of every mpasync model: a msgspec Struct.

    Unknown fields in a response are ignored; fields equal to their default are left out
    when the model is encoded as a request body. msgspec does not inherit ``kw_only``, so
    each subclass repeats ``kw_only=True`` to keep constructors keyword-only.

    ``gc=False`` (inherited): instances are not tracked by the cyclic garbage collector.
    Models are trees decoded from JSON or built from arguments and never refer back to
    themselves, so there is no cycle to collect; a program that keeps many decoded
    results no longer makes every collection walk them (`benchmarks/retention.py`:
    0.58x-0.77x the CPU of tracked models with 2,000 lists of 200 apps kept alive).
    """


def always_sent(value: Any) -> Any:
    """A field default that is still encoded under ``omit_defaults``.

    msgspec omits a field whose value *is* its default; a default built by a factory is
    compared by type instead, so a plain ``True``/``"event_batch"`` produced by one is sent.
    Use it for defaults the API requires to be present (``enabled``, ``destination_type``).
    """
    return msgspec.field(default_factory=lambda: value)


class ErrorBody(Model, kw_only=True):
    """One entry of a v1 envelope's ``errors`` list."""

    code: str | None = None
    message: str | None = None


class Envelope(Model, Generic[T], kw_only=True):
    """The v1 response envelope: ``{"data": [...], "dataType": "...", "errors": [...]}``.

    Feeds spell the type key ``data_type`` instead of ``dataType``; both decode, and the
    `data_type` property returns whichever was sent.
    """

    data: list[T] | None = None
    data_type_camel: str | None = msgspec.field(default=None, name="dataType")
    data_type_snake: str | None = msgspec.field(default=None, name="data_type")
    errors: list[ErrorBody] | None = None

    @property
    def data_type(self) -> str | None:
        """The envelope's entity type, from ``dataType`` or ``data_type``."""
        return self.data_type_camel if self.data_type_camel is not None else self.data_type_snake
