"""Adaptive rate control from mParticle's rate-limit signals (``rate_limit="auto"``).

Three parts, each importable alone: `cubic` (botocore's CUBIC curve and rate clock, pure
functions), `law` (the pure `ControlLaw` over a serialisable `RateState`, also run with
the state in Redis by `mpasync.redis`) and `limiter` (the in-process
`AdaptiveRateLimiter` that paces requests with the law). Every name is importable from
``mpasync.adaptive`` itself.
"""

from __future__ import annotations

from mpasync.adaptive.cubic import (
    BETA,
    SCALE_CONSTANT,
    cubic_decrease,
    cubic_rate,
    cubic_zero_point,
    measure_rate,
)
from mpasync.adaptive.law import (
    ACCELERATION,
    EXCEEDED_HEADER,
    USAGE_HEADER,
    ControlLaw,
    RateState,
    parse_usage,
)
from mpasync.adaptive.limiter import AdaptiveRateLimiter, rate_control

__all__ = [
    "ACCELERATION",
    "BETA",
    "EXCEEDED_HEADER",
    "SCALE_CONSTANT",
    "USAGE_HEADER",
    "AdaptiveRateLimiter",
    "ControlLaw",
    "RateState",
    "cubic_decrease",
    "cubic_rate",
    "cubic_zero_point",
    "measure_rate",
    "parse_usage",
    "rate_control",
]
