"""Fault injection for the emulator: `Faults` (what to inject), `FaultRule` (where), and the
seeded decision logic the front-door middleware consults for every API request.

Faults can be global or per route::

    Emulator(faults=Faults(error_rate=0.1, seed=7))                  # every API route
    Emulator(faults={"PUT /v1/apps/*/*/datapoints": Faults(drop_rate=0.5, seed=1),
                     "/platform/v2/*": Faults(latency=(0.05, 0.1))})
    Emulator(faults=[FaultRule("GET /v1/apps*", Faults(error_rate=1.0))])

A pattern is an `fnmatch` glob (case-sensitive, `*` also matches `/`). A pattern that
contains a space is matched against `"METHOD /path"`, any other pattern against the path
alone. Rules are tried in order and the first match applies; a plain `Faults` is the rule
`"*"`. Each rule draws from its own `random.Random(faults.seed)`, so a run is reproducible
for a given seed and request order.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias

__all__ = ["FaultDecision", "FaultInjector", "FaultKind", "FaultRule", "Faults", "FaultsSpec"]

FaultKind = Literal["error", "rate_limited", "drop", "lost_response"]
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class Faults:
    """Shares of API requests to disturb, an added latency range and a seed.

    Args:
        error_rate: share answered with a random status of `error_statuses` (500/502/503/504).
        rate_limited_rate: share answered 429 with `Retry-After: retry_after`.
        drop_rate: share whose connection is closed without any response.
        lost_response_rate: share of writes (POST/PUT/DELETE) that are applied to the state
            and then have their connection closed, so the caller cannot know they succeeded.
        latency: `(lo, hi)` seconds added uniformly to every matching request.
        seed: seed for the rule's random source; None = not reproducible.
        retry_after: the `Retry-After` seconds sent with injected 429s.
        error_statuses: the statuses `error_rate` picks from.

    One draw per request decides the fault, so the four shares are exclusive and must not
    add up to more than 1.
    """

    error_rate: float = 0.0
    rate_limited_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)
    seed: int | None = None
    retry_after: int = 1
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.rate_limited_rate, self.drop_rate, self.lost_response_rate)
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fault rates must be between 0 and 1")
        if sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must not add up to more than 1")
        lo, hi = self.latency
        if lo < 0 or hi < lo:
            raise ValueError("latency must be (lo, hi) with 0 <= lo <= hi")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.error_rate and not self.error_statuses:
            raise ValueError("error_statuses must not be empty")

    @classmethod
    def from_fault_rate(cls, fault_rate: float, seed: int | None = None) -> Faults:
        """The CLI's `--fault-rate F`: half 5xx errors (F/2), half 429s (F/2)."""
        return cls(error_rate=fault_rate / 2, rate_limited_rate=fault_rate / 2, seed=seed)


@dataclass(frozen=True)
class FaultRule:
    """Apply `faults` to requests matching `pattern` (see the module docstring for syntax)."""

    pattern: str
    faults: Faults

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is covered by this rule."""
        if " " in self.pattern:
            return fnmatchcase(f"{method} {path}", self.pattern)
        return fnmatchcase(path, self.pattern)


#: What `Emulator(faults=...)` accepts.
FaultsSpec: TypeAlias = (
    "Faults | FaultRule | Mapping[str, Faults] | Sequence[FaultRule | tuple[str, Faults]] | None"
)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: an added delay and at most one fault."""

    latency: float
    kind: FaultKind | None
    status: int = 0
    retry_after: int = 0


def normalize_rules(spec: FaultsSpec) -> list[FaultRule]:
    """Turn any accepted `faults=` value into an ordered list of rules."""
    if spec is None:
        return []
    if isinstance(spec, Faults):
        return [FaultRule("*", spec)]
    if isinstance(spec, FaultRule):
        return [spec]
    if isinstance(spec, Mapping):
        return [FaultRule(pattern, faults) for pattern, faults in spec.items()]
    rules: list[FaultRule] = []
    for item in spec:
        rules.append(item if isinstance(item, FaultRule) else FaultRule(item[0], item[1]))
    return rules


class FaultInjector:
    """Decides, per request, which fault (if any) to inject, from the matching rule's seed."""

    def __init__(self, spec: FaultsSpec = None) -> None:
        self.rules = normalize_rules(spec)
        self._sources = [(rule, random.Random(rule.faults.seed)) for rule in self.rules]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def decide(self, method: str, path: str) -> FaultDecision | None:
        """The decision for one request, or None when no rule matches."""
        for rule, rng in self._sources:
            if rule.matches(method, path):
                return _draw(rule.faults, rng, method)
        return None


def _draw(faults: Faults, rng: random.Random, method: str) -> FaultDecision:
    lo, hi = faults.latency
    latency = rng.uniform(lo, hi) if hi > 0 else 0.0
    u = rng.random()
    edge = faults.drop_rate
    if u < edge:
        return FaultDecision(latency, "drop")
    edge += faults.error_rate
    if u < edge:
        return FaultDecision(latency, "error", status=rng.choice(faults.error_statuses))
    edge += faults.rate_limited_rate
    if u < edge:
        return FaultDecision(latency, "rate_limited", status=429, retry_after=faults.retry_after)
    edge += faults.lost_response_rate
    if u < edge and method in _WRITE_METHODS:
        return FaultDecision(latency, "lost_response")
    return FaultDecision(latency, None)
