"""``--sim-seed``: replay one simulation seed (also ``MPASYNC_SIM_SEED``).

pytest registers the option when tests/sim (or a file in it) is on the command line;
the environment variable works however the tests are selected.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sim-seed",
        action="store",
        default=None,
        help="run the tests/sim scenarios from this seed (as MPASYNC_SIM_SEED)",
    )
