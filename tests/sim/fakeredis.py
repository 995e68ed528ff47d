"""An in-memory Redis for the simulation: the few commands and the Lua scripts
`mpasync.redis` uses, on the virtual clock, with faults (outages, hangs, restarts,
clock steps, hostile values).

Why a fake and not a real redis-server: a real server has its own clock (``TIME``, key
expiry) and its own scheduling, so a run could not be replayed from a seed. The fake
runs each script as one atomic Python function after a simulated round trip, on a
server clock that is the loop's virtual time plus an offset the fault schedule can step.

The scripts (``mpasync/redis/lua/``) are matched by the module constant they are loaded
into (``token._READ_TOKEN``, ``budget._RESERVE``...). Each translation follows the Lua
line by line; a script mpasync registers that this file does not know is an error (so a
new script is noticed here). `FakeRedis` subclasses ``redis.asyncio.Redis`` only because
`mpasync.redis` accepts a client object of that type; it never opens a connection.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

import mpasync.redis.budget as mpbudget
import mpasync.redis.token as mptoken

#: How long a command takes when Redis is up (one round trip).
ROUND_TRIP = 0.0005
#: How long a command hangs in a "hang" outage before the client's socket timeout
#: (`mpasync.redis`'s default ``redis_timeout``).
HANG = 2.0


@dataclass
class _Entry:
    value: Any  # bytes (string), dict[bytes, bytes] (hash) or dict[bytes, float] (zset)
    expires_us: int | None = None


def _b(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return str(x).encode()


@dataclass
class FakeRedisServer:
    """The shared server: one per simulated fleet. ``mode``: "up", "down" (connections
    refused at once) or "hang" (commands time out after `HANG` seconds)."""

    clock: Callable[[], float]
    mode: str = "up"
    offset: float = 0.0  # the server's wall clock minus the loop's virtual time
    data: dict[bytes, _Entry] = field(default_factory=dict)
    channels: dict[bytes, list[asyncio.Queue[bytes]]] = field(default_factory=dict)
    commands: int = 0
    restarts: int = 0
    hang: float = HANG  # how long a command hangs in a "hang" outage

    # ---- faults ------------------------------------------------------------------

    def restart(self) -> None:
        """A restart without persistence: every key and subscription is gone."""
        self.data.clear()
        self.channels.clear()
        self.restarts += 1

    def step_clock(self, seconds: float) -> None:
        """The Redis host's wall clock jumps (NTP step): TIME and key expiry follow."""
        self.offset += seconds

    # ---- plumbing ----------------------------------------------------------------

    def now_us(self) -> int:
        return round((self.clock() + self.offset) * 1e6)

    async def roundtrip(self) -> None:
        self.commands += 1
        if self.mode == "hang":
            await asyncio.sleep(self.hang)
            raise RedisTimeoutError("Timeout reading from socket")
        await asyncio.sleep(ROUND_TRIP)
        if self.mode == "down":
            raise RedisConnectionError("Connection refused (simulated)")

    def _live(self, key: bytes) -> _Entry | None:
        entry = self.data.get(key)
        if entry is not None and entry.expires_us is not None and entry.expires_us <= self.now_us():
            del self.data[key]
            return None
        return entry

    def get(self, key: Any) -> bytes | None:
        entry = self._live(_b(key))
        return entry.value if entry is not None and isinstance(entry.value, bytes) else None

    def set(self, key: Any, value: Any, *, px: int | None = None, nx: bool = False) -> bool:
        k = _b(key)
        if nx and self._live(k) is not None:
            return False
        expires = self.now_us() + int(px) * 1000 if px is not None else None
        self.data[k] = _Entry(_b(value), expires)
        return True

    def delete(self, key: Any) -> int:
        return 1 if self.data.pop(_b(key), None) is not None else 0

    def pexpire(self, key: Any, ms: Any) -> None:
        entry = self._live(_b(key))
        if entry is not None:
            entry.expires_us = self.now_us() + int(float(ms)) * 1000

    def pttl(self, key: Any) -> int:
        entry = self._live(_b(key))
        if entry is None:
            return -2
        if entry.expires_us is None:
            return -1
        return (entry.expires_us - self.now_us()) // 1000

    def _hash(self, key: Any) -> dict[bytes, bytes]:
        entry = self._live(_b(key))
        if entry is None:
            entry = self.data[_b(key)] = _Entry({})
        assert isinstance(entry.value, dict)
        return entry.value  # type: ignore[no-any-return]

    def _zset(self, key: Any) -> dict[bytes, float]:
        return self._hash(key)  # type: ignore[return-value]

    def publish(self, channel: Any, message: Any) -> None:
        for queue in self.channels.get(_b(channel), []):
            queue.put_nowait(_b(message))

    # ---- the scripts, as Python (each runs atomically: no await inside) -----------

    def now_ms_text(self) -> bytes:
        return f"{self.now_us() // 1000}".encode()

    def read_token(self, keys: list[Any], args: list[Any]) -> Any:
        entry = self._live(_b(keys[0]))
        if entry is None or not isinstance(entry.value, dict):
            return None
        box = entry.value.get(b"box")
        if box is None:
            return None
        return [box, entry.value.get(b"exp") or b"", self.pttl(keys[0]), self.now_ms_text()]

    def take_lock(self, keys: list[Any], args: list[Any]) -> Any:
        now = self.now_ms_text()
        took = 1 if self.set(keys[0], args[0], px=int(float(args[1])), nx=True) else 0
        return [took, now]

    def store_token(self, keys: list[Any], args: list[Any]) -> Any:
        self.delete(keys[0])
        h = self._hash(keys[0])
        h[b"box"], h[b"exp"], h[b"id"] = _b(args[0]), _b(args[1]), _b(args[2])
        self.pexpire(keys[0], args[3])
        if self.get(keys[1]) == _b(args[4]):
            self.delete(keys[1])
        self.publish(args[5], "ready")
        return 1

    def release_lock(self, keys: list[Any], args: list[Any]) -> Any:
        if self.get(keys[0]) == _b(args[0]):
            self.delete(keys[0])
            self.publish(args[1], "released")
            return 1
        return 0

    def drop_token(self, keys: list[Any], args: list[Any]) -> Any:
        entry = self._live(_b(keys[0]))
        if entry is not None and isinstance(entry.value, dict):
            if entry.value.get(_b(args[0])) == _b(args[1]):
                return self.delete(keys[0])
        return 0

    def reserve(self, keys: list[Any], args: list[Any]) -> Any:
        now = self.now_us()
        interval = float(args[0])
        rate = b""
        cap: float = 0
        raw = self.get(keys[1])
        stored: Any = None
        if raw is not None:
            try:
                stored = json.loads(raw)
            except ValueError:
                stored = None
        if isinstance(stored, dict) and isinstance(stored.get("state"), dict):
            r = _lua_tonumber(stored["state"].get("rate"))
            if r is not None and 0 < r < math.inf:
                fill = 1.0
                cap = max(1, math.floor(r))
                if r >= 2 and stored.get("read") is True:
                    fill = float(args[3])
                interval = 1e6 * float(args[1]) / (r * fill)
                rate = f"{r:.6f}".encode()
        horizon = min(float(args[4]) * interval + float(args[5]), float(args[6]))
        repaired = 0
        raw_tat = self.get(keys[0])
        tat = _lua_tonumber(raw_tat)
        if raw_tat is not None and not (tat is not None and tat == tat and tat <= now + horizon):
            tat = None
            repaired = 1
            self.delete(keys[2])
        start = float(now)
        if tat is not None and tat > now:
            start = tat
        if cap > 0:
            span = 1e6 * float(args[1])
            zset = self._zset(keys[2])
            for member in [m for m, s in zset.items() if s <= round(now - span)]:
                del zset[member]
            # ZRANGEBYSCORE order: score, then member
            after = sorted((s, m) for m, s in zset.items() if s > round(start - span))
            n = len(after)
            if n >= cap:
                free = after[n - cap][0] + span
                if free > start:
                    start = free
            if not start <= now + horizon:
                self.delete(keys[2])
                zset = self._zset(keys[2])
                start = float(now)
                repaired = 1
            zset[_b(args[2])] = float(round(start))
            self.pexpire(keys[2], math.ceil((start - now + span) / 1000) + 1000)
        nxt = start + interval
        self.set(keys[0], f"{nxt:.0f}", px=math.ceil((nxt - now) / 1000) + 1000)
        return [f"{start - now:.0f}".encode(), rate, repaired, f"{start:.0f}".encode()]

    def start(self, keys: list[Any], args: list[Any]) -> Any:
        now = self.now_us()
        zset = self._zset(keys[0])
        zset[_b(args[0])] = float(now)
        for member in [m for m, s in zset.items() if s <= now - 2_000_000]:
            del zset[member]
        self.pexpire(keys[0], 3000)
        sent = sum(1 for s in zset.values() if s > now - 1_000_000)
        return [f"{now}".encode(), sent, len(zset) - sent]

    def read_state(self, keys: list[Any], args: list[Any]) -> Any:
        now = self.now_us()
        seconds, micros = divmod(now, 1_000_000)
        return [_b(seconds), _b(micros), self.get(keys[0]) or b""]

    def write_state(self, keys: list[Any], args: list[Any]) -> Any:
        if (self.get(keys[0]) or b"") != _b(args[0]):
            return 0
        self.set(keys[0], args[1], px=int(float(args[2]) * 1000))
        return 1

    def scripts(self) -> dict[str, Callable[[list[Any], list[Any]], Any]]:
        return {
            mptoken._READ_TOKEN: self.read_token,
            mptoken._TAKE_LOCK: self.take_lock,
            mptoken._STORE_TOKEN: self.store_token,
            mptoken._RELEASE_LOCK: self.release_lock,
            mptoken._DROP_TOKEN: self.drop_token,
            mpbudget._RESERVE: self.reserve,
            mpbudget._START: self.start,
            mpbudget._READ_STATE: self.read_state,
            mpbudget._WRITE_STATE: self.write_state,
        }


def _lua_tonumber(x: Any) -> float | None:
    """Lua's ``tonumber`` on a decoded JSON value or a Redis string (None: nil)."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x)
    try:
        value = float(x.decode() if isinstance(x, bytes) else x)
    except (TypeError, ValueError):
        return None
    return value


class _Script:
    def __init__(self, server: FakeRedisServer, body: Callable[..., Any]) -> None:
        self._server = server
        self._body = body

    async def __call__(self, keys: list[Any] | None = None, args: list[Any] | None = None) -> Any:
        await self._server.roundtrip()
        return self._body(list(keys or []), list(args or []))


class _PubSub:
    def __init__(self, server: FakeRedisServer) -> None:
        self._server = server
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._channels: list[bytes] = []

    async def subscribe(self, channel: Any) -> None:
        await self._server.roundtrip()
        self._channels.append(_b(channel))
        self._server.channels.setdefault(_b(channel), []).append(self._queue)

    async def get_message(
        self, ignore_subscribe_messages: bool = False, timeout: float = 0.0
    ) -> dict[str, Any] | None:
        try:
            data = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        return {"type": "message", "data": data}

    async def aclose(self) -> None:
        for channel in self._channels:
            queues = self._server.channels.get(channel, [])
            if self._queue in queues:
                queues.remove(self._queue)
        self._channels.clear()


class FakeRedis(Redis):
    """One process's client of a `FakeRedisServer` (what `mpasync.redis` is given)."""

    def __init__(self, server: FakeRedisServer) -> None:
        super().__init__()  # builds an idle connection pool; nothing connects
        self.server = server
        self._known = server.scripts()

    def register_script(self, script: Any) -> Any:
        text = script.decode() if isinstance(script, bytes) else script
        body = self._known.get(text)
        if body is None:
            raise AssertionError(
                "tests/sim/fakeredis.py has no translation of this Lua script; "
                f"add one: {text[:80]!r}"
            )
        return _Script(self.server, body)

    async def set(  # type: ignore[override]
        self, name: Any, value: Any, *, nx: bool = False, px: int | None = None, **_: Any
    ) -> bool | None:
        await self.server.roundtrip()
        return True if self.server.set(name, value, px=px, nx=nx) else None

    async def delete(self, *names: Any) -> int:  # type: ignore[override]
        await self.server.roundtrip()
        return sum(self.server.delete(name) for name in names)

    async def zrem(self, name: Any, *values: Any) -> int:  # type: ignore[override]
        await self.server.roundtrip()
        zset = self.server._zset(name)
        return sum(1 for v in values if zset.pop(_b(v), None) is not None)

    def pubsub(self, **_: Any) -> Any:  # type: ignore[override]
        return _PubSub(self.server)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        return None
