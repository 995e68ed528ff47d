"""The public surface: every error the README documents and every limiter users construct
is importable from ``mpasync`` itself, and ``__all__`` names only what exists."""

import re
from pathlib import Path

import mpasync
from mpasync import errors

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_error_the_readme_names_is_exported() -> None:
    named = set(re.findall(r"`([A-Z][A-Za-z]+Error)`", README.read_text(encoding="utf-8")))
    ours = {name for name in named if hasattr(errors, name)}
    assert {"DeadlineExceededError", "ResponseTooLargeError", "RedirectError"} <= ours
    missing = sorted(name for name in ours if name not in mpasync.__all__)
    assert missing == []
    for name in ours:
        assert getattr(mpasync, name) is getattr(errors, name)


def test_limiters_users_construct_are_exported_and_all_is_real() -> None:
    from mpasync.limits import RateLimiter

    assert mpasync.RateLimiter is RateLimiter
    assert "RateLimiter" in mpasync.__all__ and "AdaptiveRateLimiter" in mpasync.__all__
    for name in mpasync.__all__:
        assert hasattr(mpasync, name), name


def test_packaging_states_the_license_and_what_ci_tests() -> None:
    root = README.parent
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in pyproject
    assert (root / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    classifiers = set(re.findall(r'"([^"]+ :: [^"]+)"', pyproject))
    assert "Typing :: Typed" in classifiers
    assert (root / "mpasync" / "py.typed").exists()
    lowest = re.search(r'requires-python = ">=3\.(\d+)"', pyproject)
    assert lowest is not None
    for minor in range(int(lowest.group(1)), 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
