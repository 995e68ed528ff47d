"""Scrubbing credentials out of text a server sent back, before it goes into an error.

A server or a WAF may echo the request in its error body: the ``Authorization`` header
(a bearer token, or the base64 of ``key:secret``), a token request's ``client_secret``, the
Analytics ``apiKey``. Every excerpt, message and header value that reaches one of our
errors passes through a `Redactor` that knows every credential the client holds, in every
form the client sends it (raw, JSON-escaped, percent-encoded, base64 for Basic), and also
masks anything that looks like a credential (``Bearer …``, ``"apiKey": "…"``). Redaction
happens on whole text *before* it is cut to an excerpt, so a cut never leaves half a
token behind.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import msgspec

__all__ = ["MASK", "Redactor", "basic_credential", "redactor"]

MASK = "***"

# Anything that looks like a credential, known to us or not.
_LOOKALIKES = (
    re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE),
    re.compile(
        r'("(?:apiKey|api_key|api_secret|access_token|refresh_token|id_token|token|'
        r'client_secret|secret|password|authorization)"\s*:\s*)"(?:[^"\\]|\\.)*"?',
        re.IGNORECASE,
    ),
    re.compile(r"\b((?:apiKey|api_key|access_token|client_secret)=)[^&\s\"']+", re.IGNORECASE),
)
_LOOKALIKE_MASKS = (r"\1\2" + MASK, r'\1"' + MASK + '"', r"\1" + MASK)


def basic_credential(user: str, password: str) -> str:
    """The base64 of ``user:password``, as an HTTP Basic ``Authorization`` carries it."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may come back: as sent, JSON-escaped (with or
    without ``\\/``), percent-encoded, and base64 without its padding."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    escaped = msgspec.json.encode(secret).decode()[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/")}
    stripped = secret.rstrip("=")
    if stripped:
        forms.add(stripped)
    return {f for f in forms if f}


class Redactor:
    """Replaces every known secret (in all its forms) and every credential lookalike
    with ``***``.

    >>> Redactor(["s3cret"])('{"error": "bad secret s3cret"}')
    '{"error": "bad secret ***"}'
    """

    __slots__ = ("_known", "_longest")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= _forms(secret)
        # Longest first, so a secret inside a longer one (a token in its header) goes whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._longest = len(ordered[0]) if ordered else 0

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(MASK, text)
        for pattern, mask in zip(_LOOKALIKES, _LOOKALIKE_MASKS, strict=True):
            text = pattern.sub(mask, text)
        return text

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """A short printable prefix of ``body`` with every credential masked: enough of
        it is read past ``limit`` that a secret starting inside the excerpt goes whole."""
        cut = limit + 2 * self._longest + 64
        text = " ".join(self(body[:cut].decode("utf-8", "replace")).split())
        if len(text) > limit or len(body) > cut:
            return text[:limit] + "…"
        return text


@functools.lru_cache(maxsize=64)
def redactor(secrets: tuple[str, ...]) -> Redactor:
    """A `Redactor` for ``secrets``, built once per set (the regex is compiled once)."""
    return Redactor(secrets)
