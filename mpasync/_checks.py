"""Argument checks shared by the classes that take numeric options (one wording for all)."""

from __future__ import annotations

import math

from mpasync.errors import RequestValidationError

__all__ = ["positive_number"]


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
