"""The ``MPARTICLE_*`` environment, read once for `Client.from_env` and the command line.

``MPARTICLE_CLIENT_ID``, ``MPARTICLE_CLIENT_SECRET`` and ``MPARTICLE_ACCOUNT_ID`` are
required (all missing ones are named at once); ``MPARTICLE_BASE_URL`` and
``MPARTICLE_TOKEN_URL`` are optional. A base URL copied with its ``/v1`` or ``/v2`` is
taken as the API's root (the client adds those itself), with a warning; a local base URL
without a token URL is warned about (the token request would go to the real SSO).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mpasync._checks import digits
from mpasync.auth import DEFAULT_TOKEN_URL, safe_url
from mpasync.errors import RequestValidationError

__all__ = ["OPTIONAL_ENV", "REQUIRED_ENV", "client_kwargs", "is_local"]

REQUIRED_ENV = {
    "client_id": "MPARTICLE_CLIENT_ID",
    "client_secret": "MPARTICLE_CLIENT_SECRET",
    "account_id": "MPARTICLE_ACCOUNT_ID",
}
OPTIONAL_ENV = {"base_url": "MPARTICLE_BASE_URL", "token_url": "MPARTICLE_TOKEN_URL"}

logger = logging.getLogger("mpasync")


def client_kwargs(
    env: Mapping[str, str] | None = None, *, given: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """`Client` keyword arguments from the environment (``given``: arguments the caller
    passes itself, not read). A `RequestValidationError` names every missing variable, or
    the one that is wrong."""
    env = os.environ if env is None else env
    missing = [
        var
        for name, var in REQUIRED_ENV.items()
        if name not in given and not env.get(var, "").strip()
    ]
    if missing:
        raise RequestValidationError(
            f"missing environment variable{'s' if len(missing) > 1 else ''}: " + ", ".join(missing),
            field=missing[0],
        )
    kwargs: dict[str, Any] = {
        name: env[var].strip() for name, var in REQUIRED_ENV.items() if name not in given
    }
    if "account_id" in kwargs:
        account = kwargs["account_id"]
        if not digits(account):
            raise RequestValidationError(
                f"MPARTICLE_ACCOUNT_ID must be a positive integer, got {account!r}",
                field="MPARTICLE_ACCOUNT_ID",
            )
        kwargs["account_id"] = int(account)
    for name, var in OPTIONAL_ENV.items():
        if name not in given and env.get(var, "").strip():
            kwargs[name] = env[var].strip()
    if "base_url" in kwargs:
        kwargs["base_url"] = _api_root(kwargs["base_url"])
        if "token_url" not in kwargs and "token_url" not in given and is_local(kwargs["base_url"]):
            logger.warning(
                "MPARTICLE_BASE_URL is a local address (%s) but MPARTICLE_TOKEN_URL is unset: "
                "the token request goes to the real mParticle SSO (%s); set "
                "MPARTICLE_TOKEN_URL too (e.g. the emulator's)",
                safe_url(kwargs["base_url"]),
                DEFAULT_TOKEN_URL,
            )
    return kwargs


def _api_root(url: str) -> str:
    """``MPARTICLE_BASE_URL`` as the client takes it, the API's root: a URL copied with
    its ``/v1`` or ``/v2`` would make every path ``/v1/v1/...`` (404s), so that part is
    dropped, with a warning."""
    try:
        parts = urlsplit(url)
    except ValueError:  # the client names what is wrong with it
        return url
    version = re.fullmatch(r"(.*?)/v[12]/*", parts.path)
    if version is None:
        return url
    root = urlunsplit(parts._replace(path=version.group(1)))
    logger.warning(
        "MPARTICLE_BASE_URL ends in %s: using %s (the client adds /v1 and /v2 itself)",
        parts.path[len(version.group(1)) :].rstrip("/"),
        safe_url(root),
    )
    return root


def is_local(url: str) -> bool:
    """Whether ``url`` names this machine or a private network (an emulator, a proxy)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified
