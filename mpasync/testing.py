"""pytest plugin (entry point ``pytest11``): fixtures for testing code that uses mpasync.

Fixtures, loaded automatically once mpasync is installed:

* ``mparticle_emulator``: a running `mpasync.emulator.Emulator` with 3 apps, configured
  per test with the ``mparticle_emulator`` marker (its keyword arguments go to
  ``Emulator``)::

      @pytest.mark.anyio
      @pytest.mark.mparticle_emulator(apps=5, faults=Faults(error_rate=0.1, seed=1))
      async def test_retries(mparticle_client):
          assert len(await mparticle_client.apps.list()) == 5

* ``mparticle_client``: an open `mpasync.Client` wired to that emulator; the
  ``mparticle_client`` marker's keyword arguments go to the client
  (``@pytest.mark.mparticle_client(max_concurrency=4)``).

Both run on the test's own event loop, under either async test plugin: anyio's (installed
with mpasync; mark tests ``@pytest.mark.anyio``) or pytest-asyncio's (strict mode with
``@pytest.mark.asyncio``, or auto mode). The fixtures themselves are plain fixtures that
hand over to an async one run by whichever plugin runs the test, so the client's session
and the emulator share that test's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    _HAS_PYTEST_ASYNCIO = False
else:
    _HAS_PYTEST_ASYNCIO = True

if TYPE_CHECKING:
    from mpasync.client import Client
    from mpasync.emulator import Emulator

__all__ = ["DEFAULT_APPS", "mparticle_client", "mparticle_emulator", "pytest_configure"]

#: Apps the default emulator fixture seeds (``apps=`` in the marker overrides it).
DEFAULT_APPS = 3

_EMULATOR_MARKER = "mparticle_emulator"
_CLIENT_MARKER = "mparticle_client"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mparticle_emulator`` and ``mparticle_client`` markers."""
    config.addinivalue_line(
        "markers",
        f"{_EMULATOR_MARKER}(**options): keyword arguments for the Emulator behind the "
        f"mparticle_emulator fixture (apps={DEFAULT_APPS}, faults=, rate_limit=, token_ttl=, "
        "token_latency=, seed=, ...)",
    )
    config.addinivalue_line(
        "markers",
        f"{_CLIENT_MARKER}(**options): keyword arguments for the Client of the "
        "mparticle_client fixture (max_concurrency=, rate_limit=, retry=, timeout=, ...)",
    )


def _runner(request: pytest.FixtureRequest) -> str:
    """Which plugin runs this test: ``anyio`` or ``asyncio`` (pytest-asyncio)."""
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        name = backend if isinstance(backend, str) else backend[0]
        if name != "asyncio":
            pytest.skip(f"mpasync runs on asyncio, not {name}")
        return "anyio"
    if request.node.get_closest_marker("asyncio") is not None:
        if not _HAS_PYTEST_ASYNCIO:  # pragma: no cover - depends on the environment
            pytest.fail("the asyncio marker needs pytest-asyncio: pip install pytest-asyncio")
        return "asyncio"
    pytest.fail(
        f"{request.fixturename} runs on the test's event loop: make the test async and mark "
        "it @pytest.mark.anyio (anyio comes with mpasync) or @pytest.mark.asyncio "
        "(pytest-asyncio)",
        pytrace=False,
    )


@pytest.fixture
def mparticle_emulator(request: pytest.FixtureRequest) -> Emulator:
    """A running emulator (3 apps unless ``@pytest.mark.mparticle_emulator(apps=...)``)."""
    emulator: Emulator = request.getfixturevalue(f"_mparticle_emulator_{_runner(request)}")
    return emulator


@pytest.fixture
def mparticle_client(request: pytest.FixtureRequest, mparticle_emulator: Emulator) -> Client:
    """An open `mpasync.Client` talking to the ``mparticle_emulator`` fixture's server."""
    client: Client = request.getfixturevalue(f"_mparticle_client_{_runner(request)}")
    return client


async def _emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    from mpasync.emulator import Emulator

    marker = request.node.get_closest_marker(_EMULATOR_MARKER)
    options: dict[str, Any] = {"apps": DEFAULT_APPS}
    if marker is not None:
        options.update(marker.kwargs)
    async with Emulator(**options) as emu:
        yield emu


async def _client(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    emulator: Emulator = request.getfixturevalue("mparticle_emulator")
    marker = request.node.get_closest_marker(_CLIENT_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with emulator.client(**options) as client:
        yield client


# The same two async fixtures, once for each plugin: anyio runs any async fixture of a
# test that uses it; pytest-asyncio (strict mode) only those made with its decorator.
@pytest.fixture(name="_mparticle_emulator_anyio")
async def _emulator_anyio(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async for emu in _emulator(request):
        yield emu


@pytest.fixture(name="_mparticle_client_anyio")
async def _client_anyio(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    async for client in _client(request):
        yield client


if _HAS_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture(name="_mparticle_emulator_asyncio")
    async def _emulator_asyncio(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
        async for emu in _emulator(request):
            yield emu

    @pytest_asyncio.fixture(name="_mparticle_client_asyncio")
    async def _client_asyncio(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
        async for client in _client(request):
            yield client
