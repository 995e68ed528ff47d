"""The emulator's OAuth side: issued bearer tokens with a real expiry, checked on every API call."""

from __future__ import annotations

import secrets
import time

__all__ = ["TokenStore"]


class TokenStore:
    """Bearer tokens issued by `POST /oauth/token`, each valid for `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        """A new token, valid from now for `ttl` seconds."""
        now = time.monotonic()
        if len(self._expiry) > 1024:  # keep the table small in long CLI runs
            self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + self.ttl
        return token

    def is_valid(self, token: str) -> bool:
        """True for a token this emulator issued that has not expired yet."""
        expiry = self._expiry.get(token)
        return expiry is not None and time.monotonic() < expiry

    def expire_all(self) -> None:
        """Make every issued token invalid (to test a client's 401 handling)."""
        self._expiry.clear()
