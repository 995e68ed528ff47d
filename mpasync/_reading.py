"""Reading response bodies within a size limit, counted after decompression, as they stream.

aiohttp inflates gzip/deflate bodies chunk by chunk (bounded per chunk since 3.13.3), so
counting the inflated chunks as they arrive bounds memory by the limit plus one chunk:
a gzip bomb stops at the limit instead of inflating to gigabytes first.
"""

from __future__ import annotations

import aiohttp

from mpasync.wire import BodyTooLarge

__all__ = ["BodyTooLarge", "read_limited", "whole_within"]

_CHUNK = 1 << 16


def whole_within(resp: aiohttp.ClientResponse, limit: int) -> bool:
    """True when ``resp`` may simply be read whole: a plain body of declared length within
    ``limit`` (aiohttp stops at the declared length, so the declaration is the bound).
    `BodyTooLarge` when the declared length is over it; False: stream with `read_limited`.
    """
    declared = resp.content_length
    if declared is None or "Content-Encoding" in resp.headers:
        return False
    if declared > limit:
        resp.close()
        raise BodyTooLarge(resp.status)
    return True


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``resp``, or `BodyTooLarge` as soon as it passes ``limit`` bytes.

    Counted after decompression, chunk by chunk as it arrives. On failure the connection
    is closed (not returned to the pool half-read).
    """
    if whole_within(resp, limit):
        return await resp.read()
    parts: list[bytes] = []
    size = 0
    content = resp.content
    while True:
        chunk = await content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            parts.clear()
            resp.close()
            raise BodyTooLarge(resp.status)
        parts.append(chunk)
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)
