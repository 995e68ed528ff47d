"""The public surface: every error the README documents and every limiter users construct
is importable from ``mpasync`` itself, and ``__all__`` names only what exists."""

import re
from pathlib import Path

import pytest

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


def test_the_pytest_plugin_and_import_mpasync_load_nothing_heavy() -> None:
    """Every pytest run of a project with mpasync installed loads ``mpasync.testing``:
    it must not import the client, aiohttp or the emulator until a fixture is used
    (measured: 2.5 ms and 3 modules, from 542 ms and 178 modules before)."""
    import subprocess
    import sys

    code = (
        "import sys, pytest\n"
        "before = set(sys.modules)\n"
        "import mpasync.testing, mpasync\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print(' '.join(new))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "aiohttp" not in out and "mpasync.client" not in out
    assert not [m for m in out if m.startswith("mpasync.emulator")]
    ours = {m for m in out if m.split(".")[0] in ("mpasync", "aiohttp", "msgspec", "yarl")}
    assert ours == {"mpasync", "mpasync._version", "mpasync.testing"}


@pytest.mark.parametrize("value", [10**400, -(10**400), float("inf"), float("nan"), 0, True])
def test_a_number_option_out_of_range_is_a_validation_error(value: object) -> None:
    from mpasync import AdaptiveRateLimiter, RequestValidationError

    with pytest.raises(RequestValidationError, match=r"rate"):
        AdaptiveRateLimiter(initial_rate=value)  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="rate_limit"):
        mpasync.RateLimiter(value)  # type: ignore[arg-type]


def test_the_bulk_scheduler_loads_no_filter_module() -> None:
    """`mpasync.bulk` is the scheduler; the filter migrations are `mpasync.migrations`
    (analytics, DSR and seeding run on the scheduler without pulling filters in)."""
    import subprocess
    import sys

    code = (
        "import sys, mpasync.bulk, mpasync.dsr, mpasync.seeding, mpasync.analytics\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert {"mpasync.filter_migrations", "mpasync.migrations"}.isdisjoint(loaded)
    alone = subprocess.run(
        [sys.executable, "-c", "import sys, mpasync.bulk; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert not [m for m in alone if m.startswith(("mpasync.models", "mpasync.filter"))]
    # Nothing of filters, migrations or datapoints (third-party names like attrs'
    # ``attr.filters`` are not ours).
    ours = [m for m in alone if m.partition(".")[0] == "mpasync"]
    assert not [m for m in ours if any(w in m for w in ("filter", "migration", "datapoint"))]
    # The old names still work (loaded on first use).
    from mpasync.bulk import FilterChange, RevertConflict, diff_filters
    from mpasync.filter_migrations import FilterChange as Moved

    assert FilterChange is Moved and RevertConflict and diff_filters


def test_options_are_keyword_only() -> None:
    """What a call does is positional; how it does it (concurrency, dry_run, callbacks,
    lanes) is named, so adding an option never shifts another."""
    import inspect

    from mpasync.adaptive import ControlLaw
    from mpasync.analytics import AnalyticsClient
    from mpasync.bulk import Bulk
    from mpasync.dsr import DSRClient
    from mpasync.migrations import FilterMigrations
    from mpasync.seeding import SeedingClient

    def positional(fn: object) -> list[str]:
        params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
        return [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]

    assert positional(Bulk.map) == ["self", "fn", "items"]
    assert positional(FilterMigrations.update_datapoint_filters)[-1] == "filters"
    assert positional(FilterMigrations.sync_datapoint_filters)[-1] == "filters"
    assert positional(FilterMigrations.copy_datapoint_filters)[-1] == "service"
    assert positional(DSRClient.submit)[-1] == "identities"
    assert positional(DSRClient.submit_bulk)[-1] == "subjects"
    assert positional(SeedingClient.seed_bulk)[-1] == "users"
    assert positional(AnalyticsClient.track_batch)[-1] == "events"
    assert "use_headers" not in positional(ControlLaw)


def test_client_from_env_and_the_cli_read_the_environment_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One reader (`mpasync.env`): the library gets the CLI's checks and fixes too."""
    from mpasync import Client, RequestValidationError

    for var in ("MPARTICLE_CLIENT_ID", "MPARTICLE_CLIENT_SECRET", "MPARTICLE_ACCOUNT_ID"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(
        RequestValidationError, match="MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET"
    ):
        Client.from_env()
    monkeypatch.setenv("MPARTICLE_CLIENT_ID", "id")
    monkeypatch.setenv("MPARTICLE_CLIENT_SECRET", "secret")
    monkeypatch.setenv("MPARTICLE_ACCOUNT_ID", "-5")
    with pytest.raises(RequestValidationError, match="positive integer"):
        Client.from_env()
    monkeypatch.setenv("MPARTICLE_ACCOUNT_ID", "7")
    monkeypatch.setenv("MPARTICLE_BASE_URL", "https://api.example.test/v1/")
    mp = Client.from_env(token_url="https://sso.example.test/oauth/token")
    assert mp.account_id == 7 and mp.transport.base_url == "https://api.example.test"


def test_the_public_documents_never_point_at_the_transport() -> None:
    """``Client.transport`` is internal; the README and the examples read ``stats`` (and
    ``rate_limit_usage``) instead. Module names such as ``mpasync.transport`` are fine."""
    documents = [README, *sorted((README.parent / "examples").glob("*.py"))]
    for document in documents:
        text = document.read_text(encoding="utf-8")
        uses = [m.group(0) for m in re.finditer(r"[\w.]*\.transport\b", text)]
        assert [use for use in uses if use != "mpasync.transport"] == [], document.name
    assert "mp.stats" in README.read_text(encoding="utf-8")
