"""Hooks are plain functions: an async one, which would never run, is refused up front."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.hooks import Attempt, Hooks, RetryEvent

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"


async def async_hook(event: Any) -> None:
    raise AssertionError("never awaited")


async def async_gen_hook(event: Any) -> Any:
    yield event


class AsyncCallable:
    async def __call__(self, event: Any) -> None:
        raise AssertionError("never awaited")


class PlainCallable:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.seen.append(event)


ASYNC_HOOKS = [
    async_hook,
    async_gen_hook,
    AsyncCallable(),
    functools.partial(async_hook),
    AsyncCallable().__call__,
]


@pytest.mark.parametrize("hook", ASYNC_HOOKS, ids=lambda h: type(h).__name__)
@pytest.mark.parametrize("name", ["on_attempt", "on_retry"])
def test_an_async_hook_is_refused_when_made(hook: Any, name: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        Hooks(**{name: hook})
    assert caught.value.field == name
    assert "plain function" in str(caught.value)


def test_a_client_or_view_never_holds_an_async_hook() -> None:
    with pytest.raises(RequestValidationError):
        Client("cid", "secret", 1, hooks=Hooks(on_attempt=async_hook))
    with pytest.raises(RequestValidationError):
        Client("cid", "secret", 1, hooks=Hooks(on_retry=AsyncCallable()))
    # A view shares its client's hooks, which were checked when they were made.
    mp = Client("cid", "secret", 1, hooks=Hooks(on_attempt=PlainCallable()))
    assert mp.with_options(timeout=5).transport.hooks is mp.transport.hooks


def test_a_non_callable_hook_is_refused() -> None:
    with pytest.raises(RequestValidationError):
        Hooks(on_attempt="print")  # type: ignore[arg-type]


async def test_plain_hooks_run_and_an_awaitable_result_is_closed_not_leaked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = PlainCallable()
    retries: list[RetryEvent] = []
    made: list[Awaitable[None]] = []

    def sneaky(event: Attempt) -> Awaitable[None]:  # not detectable without calling it
        coro = async_hook(event)
        made.append(coro)
        return coro

    with aioresponses() as m:
        m.post(TOKEN_URL, payload={"access_token": "tok-1", "expires_in": 100})
        m.get(re.compile(rf"{re.escape(BASE)}/v1/apps.*"), status=503)
        m.get(re.compile(rf"{re.escape(BASE)}/v1/apps.*"), payload={"data": [], "errors": None})
        hooks = Hooks(on_attempt=attempts, on_retry=retries.append)
        async with Client(
            "cid", "secret", 1, base_url=BASE, token_url=TOKEN_URL, hooks=hooks
        ) as mp:
            await mp.apps.list()
            sneaky_hooks = Hooks(on_attempt=sneaky)
            caplog.set_level(logging.WARNING, logger="mpasync")
            sneaky_hooks.attempt(attempts.seen[0])
    # The token request first: it goes through the same reporting.
    assert [(a.path, a.status) for a in attempts.seen] == [
        ("/oauth/token", 200),
        ("/v1/apps", 503),
        ("/v1/apps", 200),
    ]
    assert len(retries) == 1
    assert made and made[0].cr_frame is None  # type: ignore[attr-defined]  # closed
    assert "not awaited" in caplog.text
