"""Argument checks shared across the client (one wording for all): numeric options,
ASCII-digit ids, and the one-line refusal of a bad field."""

from __future__ import annotations

import math
from typing import NoReturn

from mpasync.errors import RequestValidationError

__all__ = ["digits", "fail", "positive_number"]


def positive_number(value: object, name: str) -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool), else a
    `RequestValidationError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestValidationError(f"{name} must be a number > 0", field=name)
    try:
        number = float(value)  # an int too large for a float overflows here
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number <= 0:
        raise RequestValidationError(f"{name} must be a finite number > 0", field=name)
    return number


def digits(text: str) -> int | None:
    """``text`` as a non-negative integer if it is ASCII digits only, else None.

    ``str.isdigit`` alone also accepts "²" (which `int` refuses) and "٣" (which `int`
    reads as 3, so the wrong entity would be addressed): ids are ASCII digits.
    """
    return int(text) if text.isascii() and text.isdigit() else None


def fail(where: str, rule: str) -> NoReturn:
    """Refuse the value at ``where`` (a field path) for breaking ``rule``."""
    raise RequestValidationError(f"{where}: {rule}", field=where)
