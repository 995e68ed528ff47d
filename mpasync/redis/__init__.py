"""Fleet coordination through Redis: one OAuth token and one request budget shared by many
processes (gunicorn workers, pods, a migration beside production traffic).

Optional: needs the ``redis`` extra (``pip install 'mpasync[redis]'``) and is imported only
when used, so ``import mpasync`` never needs redis-py. Redis is a helper, never a point of
failure: when it cannot be reached, hangs, or holds nonsense, both classes fall back to
working alone (one WARNING per outage) and no call fails because of Redis. Everything read
from Redis is untrusted input, checked as an HTTP body would be.

>>> from mpasync.redis import RedisRateLimiter, RedisTokenCache
>>> cache = RedisTokenCache("redis://127.0.0.1:6379/0", client_id, client_secret)
>>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "account:1234", rate=100)
>>> async with Client(token_cache=cache, rate_limit=budget) as mp: ...

Layout: ``connection`` (connecting, the bounded and shielded call, outage tracking, reply
checks), ``token`` (`RedisTokenCache`), ``budget`` (`RedisRateLimiter`), ``fleet``
(`fleet_options`), and ``lua/`` (the scripts both run on Redis, one file each).
"""

from __future__ import annotations

try:
    from mpasync.redis.budget import RedisRateLimiter
    from mpasync.redis.fleet import fleet_options
    from mpasync.redis.token import RedisTokenCache
except ModuleNotFoundError as exc:  # say how to get it, not just "No module named redis"
    if (exc.name or "").partition(".")[0] not in ("redis", "cryptography"):
        raise
    raise ImportError(
        "mpasync.redis needs the redis extra: pip install 'mpasync[redis]'", name=__name__
    ) from None

__all__ = ["RedisRateLimiter", "RedisTokenCache", "fleet_options"]
