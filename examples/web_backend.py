"""An aiohttp.web backend that shares one mpasync Client across all its handlers.

The client is opened once at startup (one pool, one token, one concurrency budget for
every request the backend serves) and closed at shutdown via `cleanup_ctx`.

    python examples/web_backend.py           # starts, calls itself a few times, stops
    python examples/web_backend.py --serve   # keeps serving on http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import aiohttp
from _connect import connect
from aiohttp import web

from mpasync import Client, MParticleError, NotFoundError, RequestValidationError

CLIENT: web.AppKey[Client] = web.AppKey("mparticle", Client)


async def mparticle_client(app: web.Application) -> AsyncIterator[None]:
    async with connect(apps=10, max_concurrency=16) as mp:
        app[CLIENT] = mp
        yield


async def list_apps(request: web.Request) -> web.Response:
    apps = await request.app[CLIENT].apps.list()
    return web.json_response([{"id": a.id, "name": a.name} for a in apps])


async def app_filters(request: web.Request) -> web.Response:
    mp = request.app[CLIENT]
    try:
        app_id = int(request.match_info["app_id"])
        filters = await mp.datapoint_filters.list(app_id, request.match_info["service"])
    except ValueError:
        raise web.HTTPBadRequest(text="app id must be an integer") from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such app or service") from None
    return web.json_response(
        [{"name": f.name, "type": f.type, "enabled": f.enabled} for f in filters]
    )


async def disable_filter(request: web.Request) -> web.Response:
    mp = request.app[CLIENT]
    body = await request.json()
    try:
        result = await mp.datapoint_filters.update(
            int(request.match_info["app_id"]),
            request.match_info["service"],
            [{**body, "enabled": False}],
        )
    except RequestValidationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except MParticleError as exc:
        raise web.HTTPBadGateway(text=str(exc)) from None
    return web.json_response([{"name": f.name, "enabled": f.enabled} for f in result])


def make_app() -> web.Application:
    app = web.Application()
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
