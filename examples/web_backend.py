"""An aiohttp.web backend that shares one mpasync Client across all its handlers.

The client is opened once at startup (one pool, one token, one concurrency budget for
every request the backend serves) and closed at shutdown via `cleanup_ctx`. One
middleware turns what mpasync raises into proper HTTP answers: bad input 400, unknown
app 404, the API's rate limit 503 with Retry-After, the API failing 502, no answer 504.

    python examples/web_backend.py           # starts, calls itself a few times, stops
    python examples/web_backend.py --serve   # keeps serving on http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from _connect import connect
from aiohttp import web

from mpasync import (
    Client,
    MParticleError,
    NotFoundError,
    RateLimitError,
    RequestValidationError,
    TransportError,
)

CLIENT: web.AppKey[Client] = web.AppKey("mparticle", Client)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def mparticle_client(app: web.Application) -> AsyncIterator[None]:
    # rate_limit="auto": the client paces itself to the account's budget, so concurrent
    # handlers share it instead of running into 429s.
    async with connect(apps=10, max_concurrency=16, rate_limit="auto") as mp:
        app[CLIENT] = mp
        yield


@web.middleware
async def mparticle_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What a failed mParticle call means for this backend's caller (each error is
    logged by mpasync already; the caller gets one line, no traceback)."""
    try:
        return await handler(request)
    except RequestValidationError as exc:  # bad input, caught before anything was sent
        raise web.HTTPBadRequest(text=str(exc)) from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such app or service") from None
    except RateLimitError as exc:  # still rate limited after the client's retries
        retry_after = str(max(1, round(exc.retry_after or 1)))
        raise web.HTTPServiceUnavailable(
            text="mParticle's rate limit: try again later", headers={"Retry-After": retry_after}
        ) from None
    except TransportError:  # no answer (connection failures, timeouts) after retries
        raise web.HTTPGatewayTimeout(text="mParticle did not answer") from None
    except MParticleError as exc:  # a 5xx after retries, or any other API error
        raise web.HTTPBadGateway(text=f"mParticle: {type(exc).__name__}") from None


async def list_apps(request: web.Request) -> web.Response:
    apps = await request.app[CLIENT].apps.list()
    return web.json_response([{"id": a.id, "name": a.name} for a in apps])


def app_id_of(request: web.Request) -> int:
    try:
        return int(request.match_info["app_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="app id must be an integer") from None


async def app_filters(request: web.Request) -> web.Response:
    mp = request.app[CLIENT]
    filters = await mp.datapoint_filters.list(app_id_of(request), request.match_info["service"])
    return web.json_response(
        [{"name": f.name, "type": f.type, "enabled": f.enabled} for f in filters]
    )


async def disable_filter(request: web.Request) -> web.Response:
    mp = request.app[CLIENT]
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON filter") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    result = await mp.datapoint_filters.update(
        app_id_of(request), request.match_info["service"], [{**body, "enabled": False}]
    )
    return web.json_response([{"name": f.name, "enabled": f.enabled} for f in result])


def make_app() -> web.Application:
    app = web.Application(middlewares=[mparticle_errors])
    app.cleanup_ctx.append(mparticle_client)
    app.router.add_get("/apps", list_apps)
    app.router.add_get("/apps/{app_id}/filters/{service}", app_filters)
    app.router.add_post("/apps/{app_id}/filters/{service}/disable", disable_filter)
    return app


async def self_test() -> int:
    runner = web.AppRunner(make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    service = "GoogleAnalyticsEventForwarder"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/apps") as resp:
                apps = await resp.json()
                print(f"GET /apps -> {resp.status}, {len(apps)} apps")
            # Twenty concurrent requests share the backend's single client.
            statuses = await asyncio.gather(
                *(_status(http, f"{base}/apps/{a['id']}/filters/{service}") for a in apps * 2)
            )
            print(f"{len(statuses)} concurrent filter lookups -> {sorted(set(statuses))}")
            async with http.post(
                f"{base}/apps/1/filters/{service}/disable",
                json={"name": "Email", "type": "UserIdentity"},
            ) as resp:
                print(f"POST disable Email on app 1 -> {resp.status} {await resp.json()}")
            async with http.post(
                f"{base}/apps/1/filters/{service}/disable",
                json={"name": "Checkout", "type": "Event"},
            ) as resp:
                print(f"POST an invalid filter -> {resp.status} {await resp.text()}")
            return 0 if statuses and set(statuses) == {200} else 1
    finally:
        await runner.cleanup()


async def _status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as resp:
        return resp.status


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    if parser.parse_args().serve:
        web.run_app(make_app(), host="127.0.0.1", port=8080)
    else:
        raise SystemExit(asyncio.run(self_test()))
