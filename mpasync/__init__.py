"""mpasync: the asyncio client for mParticle's Platform API."""

from mpasync._version import __version__
from mpasync.errors import *  # noqa: F403
