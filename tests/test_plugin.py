"""The pytest plugin as a user meets it: the README's snippet, written verbatim into a
throwaway project and run by pytest in a subprocess against the installed package, under
anyio's plugin (no pytest-asyncio at all) and under pytest-asyncio's strict mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(name: str) -> str:
    """The fenced code between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- {name}:start -->\s*```\w*\n(?P<code>.*?)```\s*<!-- {name}:end -->", text, re.S
    )
    assert match, f"README.md has no {name} block"
    return match.group("code")


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def project(tmp_path: Path, modules: dict[str, str], config: str = "[pytest]\n") -> Path:
    """A user's project: test modules and a pytest.ini (so it is pytest's rootdir)."""
    (tmp_path / "pytest.ini").write_text(config)
    for name, code in modules.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def test_readme_snippet_runs_as_written_without_pytest_asyncio(tmp_path: Path) -> None:
    """After `pip install mpasync pytest`: anyio's plugin, no pytest-asyncio, no config."""
    snippet = {"test_my_job.py": readme_block("pytest-snippet")}
    result = run_pytest(project(tmp_path, snippet), "-p", "no:asyncio")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_readme_snippet_with_pytest_asyncio_strict_mode(tmp_path: Path) -> None:
    """The README's pytest-asyncio variant (its config, the asyncio marker, strict mode),
    next to the anyio-marked snippet as written: both pass in one run."""
    pytest.importorskip("pytest_asyncio")
    code = readme_block("pytest-snippet")
    modules = {
        "test_with_anyio.py": code,
        "test_with_asyncio.py": code.replace("@pytest.mark.anyio", "@pytest.mark.asyncio"),
    }
    config = readme_block("pytest-asyncio-config")
    result = run_pytest(project(tmp_path, modules, config), "-W", "error::DeprecationWarning")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_client_marker_and_unmarked_tests(tmp_path: Path) -> None:
    modules = {
        "test_options.py": (
            "import pytest\n\n\n"
            "@pytest.mark.anyio\n"
            "@pytest.mark.mparticle_client(max_concurrency=3)\n"
            "async def test_options(mparticle_client, mparticle_emulator):\n"
            "    assert mparticle_client.transport.concurrency.capacity == 3\n"
            "    assert len(mparticle_emulator.state.apps_of(1)) == 3\n"
        ),
        "test_unmarked.py": "async def test_unmarked(mparticle_client):\n    pass\n",
    }
    result = run_pytest(project(tmp_path, modules), "-p", "no:asyncio", "--strict-markers")
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "test_unmarked.py::test_unmarked" in result.stdout
    assert "mark it @pytest.mark.anyio" in result.stdout  # says what to add
