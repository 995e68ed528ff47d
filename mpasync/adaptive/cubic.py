"""botocore's adaptive retry mode as pure functions: the CUBIC rate curve and the
smoothed response-rate clock (``botocore/retries/throttling.py``, ``bucket.py``); the AWS
SDKs' test vectors check these (tests/test_adaptive.py).
"""

from __future__ import annotations

import math

__all__ = [
    "BETA",
    "BUCKET_SECONDS",
    "SCALE_CONSTANT",
    "cubic_decrease",
    "cubic_rate",
    "cubic_zero_point",
    "measure_rate",
]

#: botocore's CUBIC constants (``botocore/retries/throttling.py``).
BETA = 0.7
SCALE_CONSTANT = 0.4
#: botocore's `RateClocker`: smoothing of the measured rate, updated every half second.
_SMOOTHING = 0.8
BUCKET_SECONDS = 0.5
#: CUBIC's clock is taken at most this many seconds either side of its zero point, so any
#: time gap gives a finite rate.
_CUBIC_SPAN = 1e5


def cubic_zero_point(w_max: float, *, beta: float = BETA, c: float = SCALE_CONSTANT) -> float:
    """Seconds after a decrease at which the CUBIC curve is back at ``w_max`` (K)."""
    return float(math.pow(max(0.0, w_max) * (1.0 - beta) / c, 1.0 / 3.0))


def cubic_rate(
    w_max: float, last_decrease: float, now: float, *, beta: float = BETA, c: float = SCALE_CONSTANT
) -> float:
    """The CUBIC rate ``now``: ``C * (t - K)^3 + w_max`` with ``t`` since the decrease.

    ``t - K`` is taken within `_CUBIC_SPAN` seconds (about a day) either way, so any
    time gap or clock step gives a finite rate (the law bounds it further).
    """
    k = cubic_zero_point(w_max, beta=beta, c=c)
    dt = min(max(now - last_decrease - k, -_CUBIC_SPAN), _CUBIC_SPAN)
    return c * dt**3 + w_max


def cubic_decrease(rate_to_use: float, *, beta: float = BETA) -> float:
    """The rate after a throttle at ``rate_to_use`` (which becomes the new ``w_max``)."""
    return rate_to_use * beta


def measure_rate(
    measured: float, bucket: float, count: int, now: float
) -> tuple[float, float, int]:
    """botocore's `RateClocker.record` as a pure step: one response at ``now``.

    Returns ``(measured, bucket, count)``: responses are counted per half-second bucket
    and the per-second rate of each finished span is smoothed into ``measured``.
    """
    this_bucket = math.floor(now / BUCKET_SECONDS) * BUCKET_SECONDS
    count += 1
    if this_bucket > bucket:
        current = count / (this_bucket - bucket)
        measured = current * _SMOOTHING + measured * (1.0 - _SMOOTHING)
        return measured, this_bucket, 0
    return measured, bucket, count
