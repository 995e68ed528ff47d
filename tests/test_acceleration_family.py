"""``rate_limit="auto"`` across a family of acceleration models (issue 21), not one.

The emulator's own model (x2 per second above half the budget) is one point; mParticle
does not publish its acceleration rule, so the law is held to the same target on each of
a family: growth of 1.3x to 2x per second, floors of 10 % to 50 % of the budget, alone and
beside a neighbour using 40 % of it. Each run is 3,000 requests at 32 workers through the
law and its pacer against the emulator's `RateLimits`, on a virtual clock (exact figures,
no wall time), and its wall time is compared with the physical minimum on the same model:
a client that never bursts and starts a request whenever the server would admit one.
"""

from __future__ import annotations

import math

import pytest

from mpasync.emulator.ratelimit import RateLimits
from mpasync.priority import BACKGROUND
from tests.test_adaptive_pacer import _drive

BUDGET = 150.0
N = 3000


def physical_minimum(growth: float, floor: float, neighbour: float) -> float:
    """The wall time of the best client that never bursts (requests at most 1/B apart,
    each as soon as the server admits it), on the same model, in 0.5 ms steps."""
    limits = RateLimits(
        BUDGET, acceleration=growth, acceleration_floor=floor * BUDGET, neighbour=neighbour
    )
    spacing = 1.0 / BUDGET
    done, t, last, step = 0, 0.0, -math.inf, 5e-4
    while True:
        if t - last >= spacing and limits.acquire(1, None, t).admitted:
            done, last = done + 1, t
            if done == N:
                return t
        t += step


MODELS = [
    pytest.param(g, f, nb, id=f"x{g}/s-floor{int(f * 100)}%-" + ("neighbour" if nb else "alone"))
    for g in (1.3, 1.5, 2.0)
    for f in (0.1, 0.3, 0.5)
    for nb in (0.0, 0.4)
]


@pytest.mark.parametrize(("growth", "floor", "neighbour"), MODELS)
def test_auto_within_1_2x_of_the_physical_minimum_with_at_most_1_percent_429s(
    growth: float, floor: float, neighbour: float
) -> None:
    # In the background lane, as the bulk runs that ramp up against such limits send.
    wall, throttled, _ = _drive(
        N,
        budget=BUDGET,
        neighbour=neighbour,
        acceleration=growth,
        floor=floor,
        priority=BACKGROUND,
    )
    best = physical_minimum(growth, floor, neighbour)
    assert throttled <= 0.01 * N
    assert wall / best <= 1.2, f"{wall:.2f}s against a minimum of {best:.2f}s"
