"""An item's outcome in a bulk run: its result, the fields it adds to its journal
record, and its error; what an item function returns to say more than its bare result.

Apart from the scheduler (`mpasync.bulk`) so that code building outcomes (the filter
migrations' per-app steps) needs nothing of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic

from typing_extensions import TypeVar

from mpasync.errors import RequestValidationError

__all__ = ["Outcome"]

#: The result type; defaults to Any, as `mpasync.bulk.BulkReport`'s does.
R = TypeVar("R", default=Any)


# Not slots=True: on Python 3.10 a frozen slotted generic cannot be built as
# ``Outcome[int](...)`` (typing's __orig_class__ assignment breaks its __setattr__).
@dataclass(frozen=True)
class Outcome(Generic[R]):
    """An item's result together with what its journal record says: an item function
    may return one instead of its bare result.

    ``value`` is the result (in ``report.results`` unless None). ``record`` holds extra
    JSON-encodable fields for the item's journal record (unused without a journal); the
    filter migrations record each app's filters ``before`` and ``after`` a write this
    way. ``error``, when set, fails the item exactly as raising it would, and ``record``
    is still journaled: a write that failed midway leaves what the app held before it.

    >>> async def one(app_id: int) -> Outcome[None]:
    ...     before = await read(app_id)
    ...     try:
    ...         await write(app_id)
    ...     except Exception as exc:
    ...         return Outcome(error=exc, record={"before": before})
    ...     return Outcome(record={"before": before, "after": await read(app_id)})

    A record the journal cannot hold (not JSON-encodable, or naming a field of the
    format itself: ``item``, ``ok``, ``time``, ``error``, ``dry``) fails its item with a
    `RequestValidationError`; the run goes on.
    """

    value: R | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.record, Mapping) or not all(isinstance(k, str) for k in self.record):
            raise RequestValidationError(
                "an Outcome's record must map field names (str) to values", field="record"
            )
        if self.error is not None and not isinstance(self.error, BaseException):
            raise RequestValidationError(
                "an Outcome's error must be an exception or None", field="error"
            )
