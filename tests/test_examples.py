"""Each example runs as is (against its embedded emulator) and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("bulk_filters.py", "after: 0 apps differ from the policy"),
        ("worker.py", "(limit 40/s)"),
        ("migration.py", "rerun with the journal: 11 apps skipped, 0 redone"),
        ("web_backend.py", "20 concurrent filter lookups -> [200]"),
    ],
)
def test_example_runs(script: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPARTICLE_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=EXAMPLES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout
    assert "Traceback" not in result.stderr
