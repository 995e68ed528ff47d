"""`Client(trace_configs=...)`: OpenTelemetry's aiohttp instrumentation sees every attempt."""

from __future__ import annotations

import pytest
from aiohttp import web

from mpasync import Client, RetryPolicy
from mpasync.errors import RequestValidationError
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI

otel_aiohttp = pytest.importorskip("opentelemetry.instrumentation.aiohttp_client")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")


async def test_one_client_span_per_attempt_and_no_authorization(fake_api: FakeAPI) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({}, status=503)
        return web.json_response({"data": [], "errors": None})

    fake_api.handler = flaky
    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    trace_config = otel_aiohttp.create_trace_config(tracer_provider=provider)
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=fake_api.token_url,
        retry=RetryPolicy(backoff_base=0.01),
        trace_configs=[trace_config],
        trust_env=False,
    ) as mp:
        await mp.apps.list()
    spans = exporter.get_finished_spans()
    api_spans = [s for s in spans if "/v1/apps" in str(dict(s.attributes or {}))]
    assert len(api_spans) == 2  # the 503 and the retry that succeeded
    token_spans = [s for s in spans if "/oauth/token" in str(dict(s.attributes or {}))]
    assert len(token_spans) == 1  # the token fetch rides the same session
    for span in spans:
        text = str(dict(span.attributes or {})) + span.name
        assert "Bearer" not in text and "tok-" not in text and CLIENT_SECRET not in text


def test_trace_configs_need_the_clients_own_session() -> None:
    import aiohttp

    with pytest.raises(RequestValidationError):
        Client(
            CLIENT_ID,
            CLIENT_SECRET,
            1,
            session=aiohttp.ClientSession.__new__(aiohttp.ClientSession),
            trace_configs=[aiohttp.TraceConfig()],
        )
