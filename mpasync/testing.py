"""pytest plugin (entry point `pytest11`): fixtures for testing code that uses mpasync.

Fixtures:

* `mparticle_emulator`: a running `mpasync.emulator.Emulator`, configured per test with
  the `mparticle_emulator` marker (its keyword arguments go to `Emulator`)::

      @pytest.mark.mparticle_emulator(apps=5, faults=Faults(error_rate=0.1, seed=1))
      async def test_retries(mparticle_emulator, mparticle_client):
          apps = await mparticle_client.apps.list()
          assert len(apps) == 5

* `mparticle_client`: an `mpasync.Client` wired to that emulator, already opened.

Both are async fixtures and need pytest-asyncio; without it the plugin still loads and the
fixtures fail with a message saying what to install.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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

__all__ = ["mparticle_client", "mparticle_emulator", "pytest_configure"]

_MARKER = "mparticle_emulator"


def pytest_configure(config: pytest.Config) -> None:
    """Register the `mparticle_emulator` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): keyword arguments for the Emulator behind the "
        "mparticle_emulator fixture (apps=, faults=, rate_limit=, token_ttl=, ...)",
    )


def _async_fixture(func: Callable[..., Any]) -> Any:
    """`pytest_asyncio.fixture`, or a stand-in fixture that explains what is missing."""
    if _HAS_PYTEST_ASYNCIO:
        return pytest_asyncio.fixture(func)
    name = func.__name__

    def unavailable() -> None:
        pytest.fail(
            f"the {name} fixture is async and needs pytest-asyncio: pip install pytest-asyncio",
            pytrace=False,
        )

    unavailable.__doc__ = func.__doc__
    return pytest.fixture(name=name)(unavailable)


@_async_fixture
async def mparticle_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A running emulator; options come from `@pytest.mark.mparticle_emulator(...)`."""
    from mpasync.emulator import Emulator

    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with Emulator(**options) as emu:
        yield emu


@_async_fixture
async def mparticle_client(mparticle_emulator: Emulator) -> AsyncIterator[Client]:
    """An open `mpasync.Client` talking to the `mparticle_emulator` fixture's server."""
    async with mparticle_emulator.client() as client:
        yield client
