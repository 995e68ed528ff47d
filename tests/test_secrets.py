"""Secrets never leak: DEBUG logs, reprs and exception messages through a fail-and-retry run."""

from __future__ import annotations

import logging
import traceback

import pytest
from aiohttp import web

from mpasync import Client, MParticleError, RetryPolicy, TokenCache
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI, envelope


async def test_no_secret_or_token_in_logs_reprs_or_errors(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script = iter([500, 401, 503, 200, 422, 401, 401])

    async def flaky(request: web.Request) -> web.StreamResponse:
        status = next(script, 200)
        if status == 200:
            return envelope({"id": 1, "name": "App"})
        if status == 401:
            fake_api.valid_tokens.clear()
        return web.json_response(
            {"errors": [{"code": "E", "message": f"failure {status}"}]}, status=status
        )

    fake_api.handler = flaky
    texts: list[str] = []
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=fake_api.token_url,
        retry=RetryPolicy(backoff_base=0.01),
    ) as mp:
        texts += [repr(mp), repr(mp.transport), repr(mp.token_cache), str(mp.transport.auth)]
        app = await mp.apps.get(1)  # 500 → retry → 401 → refresh/replay → 503 → retry → 200
        texts.append(repr(app))
        for _ in range(2):
            try:
                await mp.apps.get(1)
            except MParticleError as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        # A token endpoint failure, too.
        fake_api.token_status = 401
        fake_api.token_body = b'{"error": "nope ' + CLIENT_SECRET.encode() + b'"}'
        fake_api.valid_tokens.clear()
        try:
            await mp.apps.get(1)
        except MParticleError as exc:
            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    tokens = [t for t in fake_api.requests[0].headers.get("Authorization", "").split()][1:]
    issued = {f"tok-{n}-abcdef" for n in range(1, 10)}
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    blob = "\n".join(texts)
    assert any("retry" in r.getMessage() for r in caplog.records)  # the run did retry
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert "failure 422" in blob  # the API error surfaced
    assert "token endpoint" in blob  # and so did the token failure
    assert CLIENT_SECRET not in blob
    for token in issued | set(tokens):
        assert token not in blob, token


def test_token_cache_repr_never_shows_secret() -> None:
    cache = TokenCache(CLIENT_ID, CLIENT_SECRET)
    client = Client(token_cache=cache, account_id=3)
    assert CLIENT_SECRET not in repr(cache) + repr(client) + repr(client.transport)
