"""Start `benchmarks/fastserver.py` as a child process and talk to its control endpoints."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ServerProcess"]

FASTSERVER = Path(__file__).with_name("fastserver.py")


class ServerProcess:
    """The canned-response server in its own process (a context manager).

    The child learns nothing but ``--port 0``; it binds a free port on 127.0.0.1 and
    reports it on stdout. Closing its stdin (``stop()``) makes it exit.
    """

    def __init__(self, *, host: str = "127.0.0.1", token_delay: float = 0.0) -> None:
        self.host = host
        self.token_delay = token_delay
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> ServerProcess:
        """Start the server and wait until it listens."""
        cmd = [
            sys.executable,
            str(FASTSERVER),
            "--host",
            self.host,
            "--port",
            "0",
            "--token-delay",
            str(self.token_delay),
            "--watch-stdin",
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"fastserver did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        """Ask the server to exit (close its stdin); kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control endpoints (blocking; call them outside timed regions) -----------------

    def get(self, target: str) -> Any:
        """GET a control endpoint and return its JSON."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", target)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"GET {target} -> {resp.status}")
        return json.loads(body)

    def stats(self, arrivals: bool = False) -> dict[str, Any]:
        """Counters, the server's CPU seconds and optionally request arrival times."""
        result: dict[str, Any] = self.get("/__stats?arrivals=1" if arrivals else "/__stats")
        return result

    def reset(self) -> None:
        """Zero the counters and forget arrival times."""
        self.get("/__reset")

    def configure(self, *, token_delay: float) -> None:
        """Change the token endpoint's delay."""
        self.get(f"/__config?token_delay={token_delay}")
