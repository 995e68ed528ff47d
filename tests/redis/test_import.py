"""`import mpasync` must work without redis-py: the fleet module is imported only when used."""

from __future__ import annotations

import subprocess
import sys


def test_import_mpasync_does_not_import_redis() -> None:
    code = "import sys, mpasync, mpasync.client; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
