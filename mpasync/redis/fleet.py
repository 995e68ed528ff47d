"""`fleet_options`: the `Client` keyword arguments that share the token, and the budget,
through one Redis (what the command line's ``--redis`` uses).
"""

from __future__ import annotations

import hashlib
from typing import Any

from mpasync.auth import DEFAULT_AUDIENCE, DEFAULT_TOKEN_URL
from mpasync.client import DEFAULT_BASE_URL
from mpasync.errors import RequestValidationError
from mpasync.redis.budget import RedisRateLimiter
from mpasync.redis.token import RedisTokenCache


def fleet_options(
    url: str,
    client_id: str,
    client_secret: str,
    *,
    rate: float | str | None = None,
    account_id: int | str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    key: str | None = None,
    token_url: str = DEFAULT_TOKEN_URL,
    audience: str = DEFAULT_AUDIENCE,
    expected_processes: int = 1,
) -> dict[str, Any]:
    """``Client`` keyword arguments sharing the token, and given ``rate`` the budget,
    through the Redis at ``url``.

    ``rate`` is a number (a fixed fleet budget), ``"auto"`` (an adaptive one) or None
    (share the token only). mParticle's budget is per account, so the budget's key names
    the API (``base_url``) and the account (``account_id``; without one, the client id
    stands for it): two accounts on one Redis never slow each other. ``key`` overrides it.
    Close both with ``aclose()`` when done. Used by the command line's ``--redis``::

        async with Client(
            account_id=1, **fleet_options(url, client_id, secret, rate="auto", account_id=1)
        ) as mp: ...
    """
    if isinstance(rate, str) and rate != "auto":
        raise RequestValidationError("rate must be a number, 'auto' or None", field="rate")
    if key is None:
        if not isinstance(base_url, str) or not base_url:
            raise RequestValidationError("base_url must be a URL", field="base_url")
        if account_id is not None:
            if isinstance(account_id, bool) or not str(account_id).strip().isdigit():
                raise RequestValidationError("account_id must be an integer", field="account_id")
            who = f"account:{int(str(account_id).strip())}"
        else:
            digest = hashlib.sha256(str(client_id).encode()).hexdigest()[:16]
            who = f"client:{digest}"
        key = f"platform-api:{base_url.rstrip('/')}:{who}"
    options: dict[str, Any] = {
        "token_cache": RedisTokenCache(
            url, client_id, client_secret, token_url=token_url, audience=audience
        )
    }
    if isinstance(rate, str):  # "auto"
        options["rate_limit"] = RedisRateLimiter(
            url, key, adaptive=True, expected_processes=expected_processes
        )
    elif rate is not None:
        options["rate_limit"] = RedisRateLimiter(
            url, key, rate, expected_processes=expected_processes
        )
    for part in options.values():
        part.close_with_client = True  # the Client given them closes them
    return options
