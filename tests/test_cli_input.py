"""Every command-line input error is one line on stderr and exit status 2, never a traceback,
and nothing is sent; plus the command line's completeness (--version, help, defaults)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mpasync._version import __version__
from mpasync.cli import amain
from mpasync.cli.input import load_filters
from mpasync.cli.parser import build_parser
from mpasync.emulator import Emulator, Faults
from tests.cli_env import use_emulator

SERVICE = "GoogleAnalyticsEventForwarder"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "filters.json"
FILTERS = [{"name": "Email", "type": "UserIdentity", "enabled": False}]


@pytest_asyncio.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(apps=4) as emulator:
        use_emulator(emulator, monkeypatch)
        yield emulator


@pytest.fixture
def filters_file(tmp_path: Path) -> Path:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(FILTERS))
    return path


async def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(
        [*argv, *(["--progress", "none"] if "filters" in argv else [])], out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def apply(file: Path | str, *extra: str) -> list[str]:
    return ["filters", "apply", "--service", SERVICE, "--apps", "1,2", "--file", str(file), *extra]


# ---------------------------------------------------------------- filters files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe[]", "is not UTF-8 text (byte 0xff at offset 0)"),
        (b'[{"name": "Caf\xe9", "type": "Event"}]', "is not UTF-8 text (byte 0xe9 at offset 14)"),
        (b"{not json", "is not valid JSON"),
        (b"[" * 100_000, "is not valid JSON"),
        (b"42", "must hold a list of filters (a policy) or an object mapping app ids"),
        (b'"text"', "got a string"),
        (b"[]", "non-empty JSON list"),
        (b"{}", "the snapshot names no apps"),
        (b'{"abc": []}', "key 'abc' is not an app id"),
        (b'{"1": {"name": "x"}}', "app 1 must map to a list of filters, got an object"),
        (b"[1, 2]", "entry 0"),
        (b'[{"name": "Email", "type": "UserIdentity", "enabeld": false}]', "enabeld"),
        (b'{"3": [{"name": "Checkout", "type": "Event"}]}', "app 3, entry 0"),
    ],
)
async def test_bad_filters_file(
    emu: Emulator, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    code, _, err = await run(*apply(path))
    assert code == 2
    assert message in one_line(err)
    assert not emu.request_log  # nothing sent, not even a token request
    assert emu.token_requests == 0


async def test_a_utf8_bom_is_accepted(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FILTERS).encode())
    code, _, err = await run(*apply(path))
    assert code == 0, err


async def test_filters_file_that_is_a_directory(emu: Emulator, tmp_path: Path) -> None:
    code, _, err = await run(*apply(tmp_path))
    assert code == 2 and "cannot read filters file" in one_line(err)


# ---------------------------------------------------------------- output paths, checked first


@pytest.mark.parametrize(
    ("flag", "target", "message"),
    [
        ("--journal", "{dir}", "is a directory"),
        ("--journal", "{dir}/missing/run.jsonl", "does not exist"),
        ("--report", "{dir}", "is a directory"),
        ("--report", "{dir}/missing/out.json", "does not exist"),
    ],
)
async def test_output_paths_are_checked_before_any_request(
    emu: Emulator, filters_file: Path, tmp_path: Path, flag: str, target: str, message: str
) -> None:
    code, _, err = await run(*apply(filters_file, flag, target.format(dir=tmp_path)))
    assert code == 2
    assert flag in one_line(err) and message in err
    assert not emu.request_log and emu.token_requests == 0


async def test_export_out_is_checked_before_any_request(emu: Emulator, tmp_path: Path) -> None:
    code, _, err = await run(
        "filters", "export", "--service", SERVICE, "--all-apps", "--out", str(tmp_path / "x/y.json")
    )
    assert code == 2 and "--out" in one_line(err)
    assert not emu.request_log


async def test_export_refuses_to_replace_a_snapshot_without_force(
    emu: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "before.json"
    out.write_text('{"1": []}\n')  # the restore point of an earlier export
    argv = ["filters", "export", "--service", SERVICE, "--apps", "1", "--out", str(out)]
    code, _, err = await run(*argv)
    assert code == 2
    assert "--force" in one_line(err) and str(out) in err
    assert out.read_text() == '{"1": []}\n' and not emu.request_log
    code, _, err = await run(*argv, "--force")
    assert code == 0, err
    assert list(json.loads(out.read_text())) == ["1"] and json.loads(out.read_text())["1"]


async def test_file_dash_reads_stdin(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(FILTERS).encode())))
    code, _, err = await run(*apply("-"))
    assert code == 0, err
    assert all(
        any(f.name == "Email" and not f.enabled for f in emu.state.filters(app, SERVICE))
        for app in (1, 2)
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{not json")))
    code, _, err = await run(*apply("-"))
    assert code == 2 and "filters file (stdin) is not valid JSON" in one_line(err)


async def test_policy_without_targets(emu: Emulator, filters_file: Path) -> None:
    code, _, err = await run("filters", "apply", "--service", SERVICE, "--file", str(filters_file))
    assert code == 2 and "needs --apps or --all-apps" in one_line(err)


@pytest.mark.parametrize(
    ("apps", "message"), [("1,abc", "'abc' is not an app id"), ("0", "'0' is not an app id"),
                          ("٣", "'٣' is not an app id"), (",", "no app ids given")]
)  # fmt: skip
async def test_bad_app_ids(emu: Emulator, filters_file: Path, apps: str, message: str) -> None:
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", apps, "--file", str(filters_file)
    )
    assert code == 2 and message in one_line(err)
    assert not emu.request_log


async def test_unknown_service_suggests_the_closest(emu: Emulator, filters_file: Path) -> None:
    code, _, err = await run(
        "filters", "apply", "--service", "GoogleAnalyticsEventForwardr", "--apps", "1",
        "--file", str(filters_file),
    )  # fmt: skip
    assert code == 2
    assert "did you mean 'GoogleAnalyticsEventForwarder'?" in one_line(err)
    assert not any(e.method == "PUT" for e in emu.request_log)


# ---------------------------------------------------------------- the environment


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing environment variables: MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET, "
             "MPARTICLE_ACCOUNT_ID"),
        ({"MPARTICLE_CLIENT_ID": "x"}, "variables: MPARTICLE_CLIENT_SECRET, MPARTICLE_ACCOUNT_ID"),
        ({"MPARTICLE_CLIENT_ID": "x", "MPARTICLE_CLIENT_SECRET": "y"},
         "missing environment variable: MPARTICLE_ACCOUNT_ID"),
        ({"MPARTICLE_CLIENT_ID": "x", "MPARTICLE_CLIENT_SECRET": "y",
          "MPARTICLE_ACCOUNT_ID": "abc"},
         "MPARTICLE_ACCOUNT_ID must be a positive integer, got 'abc'"),
        ({"MPARTICLE_CLIENT_ID": "x", "MPARTICLE_CLIENT_SECRET": "y",
          "MPARTICLE_ACCOUNT_ID": "-3"},
         "MPARTICLE_ACCOUNT_ID must be a positive integer, got '-3'"),
        ({"MPARTICLE_CLIENT_ID": "x", "MPARTICLE_CLIENT_SECRET": "y", "MPARTICLE_ACCOUNT_ID": "1",
          "MPARTICLE_BASE_URL": "ftp://nope"}, "MPARTICLE_BASE_URL"),
    ],
)  # fmt: skip
async def test_environment_variables_are_named(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path, env: dict[str, str], message: str
) -> None:
    for var in ("ID", "SECRET", "ACCOUNT_ID", "BASE_URL", "TOKEN_URL"):
        monkeypatch.delenv(f"MPARTICLE_CLIENT_{var}", raising=False)
        monkeypatch.delenv(f"MPARTICLE_{var}", raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    code, _, err = await run(*apply(filters_file))
    assert code == 2
    assert message in one_line(err)
    assert "secret" not in err.lower() or "MPARTICLE_CLIENT_SECRET" in err


# ---------------------------------------------------------------- demo and emulator flags


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--apps", "-5"], "--apps: must be at least 1, got -5"),
        (["demo", "--concurrency", "0"], "--concurrency: must be at least 1, got 0"),
        (["demo", "--apps", "many"], "--apps: expected a number, got 'many'"),
        (["demo", "--progress", "fancy"], "--progress: invalid choice: 'fancy'"),
        (["emulator", "--port", "70000"], "port must be 0-65535"),
        (["emulator", "--port", "-1"], "port must be 0-65535"),
        (["emulator", "--apps", "-1"], "--apps: must be at least 0, got -1"),
        (["emulator", "--token-ttl", "0"], "--token-ttl: must be a positive number, got 0"),
        (["emulator", "--token-ttl", "nan"], "--token-ttl: must be a positive number"),
        (["emulator", "--fault-rate", "2"], "--fault-rate: must be between 0 and 1"),
        (["emulator", "--rate", "-1"], "--rate: must be a positive number"),
        (["filters", "apply", "--rate", "fast"], "expected a positive number of requests"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
async def test_bad_flags(argv: list[str], message: str) -> None:
    code, out, err = await run(*argv)
    assert code == 2 and out == ""
    line = one_line(err)
    assert message in line and line.endswith("--help)")


async def test_emulator_on_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = await run("emulator", "--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(err)


# ---------------------------------------------------------------- configuration: exit 2 + hint


async def test_a_wrong_client_secret_is_bad_input_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    async with Emulator(apps=1) as emulator:
        use_emulator(emulator, monkeypatch)
        monkeypatch.setenv("MPARTICLE_CLIENT_SECRET", "wrong-secret-value")
        code, _, err = await run(*apply(filters_file))
    assert code == 2
    line = one_line(err)
    assert line.startswith("mpasync: error: TokenError: ") and "401" in line
    assert line.endswith("check MPARTICLE_CLIENT_ID / MPARTICLE_CLIENT_SECRET")
    assert "wrong-secret-value" not in err


async def test_an_unreachable_base_url_is_bad_input_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with Emulator(apps=1) as emulator:  # the token endpoint answers; the API does not
        use_emulator(emulator, monkeypatch)
        monkeypatch.setenv("MPARTICLE_BASE_URL", f"http://127.0.0.1:{closed}")
        for argv in (apply(filters_file), ["services", "list"]):
            code, _, err = await run(*argv)
            assert code == 2
            line = one_line(err)
            assert line.startswith("mpasync: error: cannot reach the API: ")
            assert line.endswith("is MPARTICLE_BASE_URL right?")
            assert emulator.client_secret not in err


async def test_an_unreachable_token_url_is_bad_input_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with Emulator(apps=1) as emulator:
        use_emulator(emulator, monkeypatch)
        monkeypatch.setenv("MPARTICLE_TOKEN_URL", f"http://127.0.0.1:{closed}/oauth/token")
        code, _, err = await run(*apply(filters_file))
    assert code == 2
    assert one_line(err).endswith(
        "unreachable: ClientConnectorError; is MPARTICLE_TOKEN_URL right?"
    )


# ---------------------------------------------------------------- run failures: one line, exit 1


async def test_a_run_failure_is_one_line_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    """The API answers, but with 5xx on every retry: the run failed (1), the input is fine."""
    faults = {"GET /v1/services/*": Faults(error_rate=1.0, error_statuses=(500,))}
    async with Emulator(apps=1, faults=faults) as emulator:
        use_emulator(emulator, monkeypatch)
        code, _, err = await run(*apply(filters_file))
    assert code == 1
    assert one_line(err).startswith("mpasync: ServerError: ")
    assert emulator.client_secret not in err


# ---------------------------------------------------------------- completeness


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncio.run(amain(["--version"])) == 0
    assert capsys.readouterr().out.strip() == f"mpasync {__version__}"


@pytest.mark.parametrize("module", ["mpasync.cli", "mpasync"])
def test_the_script_runs(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == f"mpasync {__version__}"


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _all_parsers(sub)
    return found


def test_every_option_has_help_and_shows_its_default() -> None:
    for parser in _all_parsers(build_parser()):
        formatter = parser._get_formatter()
        one_required = {
            a for g in parser._mutually_exclusive_groups if g.required for a in g._group_actions
        }
        for action in parser._actions:
            if not action.option_strings or isinstance(
                action, (argparse._HelpAction, argparse._VersionAction)
            ):
                continue
            assert action.help, f"{parser.prog} {action.option_strings[0]} has no help"
            shown = formatter._expand_help(action)  # type: ignore[attr-defined]
            flag = isinstance(action, argparse._StoreTrueAction)
            if not (flag or action.required or action in one_required):
                assert "default" in shown, f"{parser.prog} {action.option_strings[0]}: {shown}"


def test_help_describes_the_filters_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncio.run(amain(["filters", "apply", "--help"])) == 0
    text = capsys.readouterr().out
    assert "a policy, the same filters for every app" in text
    assert "a snapshot, each app's own filters" in text
    assert "examples/filters.json" in text and "MPARTICLE_ACCOUNT_ID" in text
    # The example is a snapshot (what export writes), so the help names it as one.
    policy = text[text.index("a policy,") : text.index("a snapshot,")]
    snapshot = text[text.index("a snapshot,") : text.index("each filter has")]
    assert "examples/filters.json" not in policy and "examples/filters.json" in snapshot
    assert isinstance(load_filters(str(EXAMPLE)), dict)
    assert "exit status:" in text and "143" in text and "SIGTERM" in text


async def test_services_list(emu: Emulator) -> None:
    code, out, err = await run("services", "list")
    assert code == 0, err
    names = out.splitlines()
    assert SERVICE in names and names == sorted(names, key=str.lower)


@pytest.mark.parametrize("where", ["before", "after"])
async def test_verbose_before_or_after_the_command(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path, where: str
) -> None:

    async with Emulator(apps=1, faults={"GET /v1/services/*": Faults(error_rate=1.0)}) as e:
        for var, value in (
            ("MPARTICLE_CLIENT_ID", e.client_id),
            ("MPARTICLE_CLIENT_SECRET", e.client_secret),
            ("MPARTICLE_ACCOUNT_ID", str(e.account_id)),
            ("MPARTICLE_BASE_URL", e.base_url),
            ("MPARTICLE_TOKEN_URL", e.token_url),
        ):
            monkeypatch.setenv(var, value)
        argv = apply(filters_file)
        argv = ["-v", *argv] if where == "before" else [*argv[:2], "-v", *argv[2:]]
        code, _, err = await run(*argv)
    assert code == 1
    assert re.search(r"^WARNING GET /v1/services/\S+: HTTP 5\d\d; retry 1/", err, re.M), err


async def test_rate_auto_reaches_the_client(
    emu: Emulator, filters_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mpasync.cli import input as cli_input

    seen: dict[str, object] = {}
    original = cli_input.Client

    def spy(**kwargs: object) -> object:
        seen.update(kwargs)
        kwargs.pop("rate_limit", None)  # the transport's support for "auto" is not ours
        return original(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_input, "Client", spy)
    code, _, err = await run(*apply(filters_file, "--rate", "auto", "--concurrency", "3"))
    assert code == 0, err
    assert seen["rate_limit"] == "auto" and seen["max_concurrency"] == 3


async def test_an_unwritable_report_is_one_line(
    emu: Emulator, filters_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mpasync.cli import report as cli_report

    def disk_full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(cli_report.Path, "write_text", disk_full)
    code, _, err = await run(*apply(filters_file, "--report", str(tmp_path / "r.json")))
    assert code == 1
    assert one_line(err) == f"mpasync: error: {tmp_path / 'r.json'}: No space left on device"


# ---------------------------------------------------------------- --expected-processes


async def test_expected_processes_without_redis_is_refused(
    emu: Emulator, filters_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MPASYNC_REDIS_URL", raising=False)
    code, _, err = await run(*apply(filters_file, "--rate", "20", "--expected-processes", "3"))
    assert code == 2
    assert "--expected-processes needs --redis" in one_line(err)
    assert not emu.request_log  # nothing sent
    code, _, err = await run(
        *apply(filters_file, "--redis", "redis://x", "--expected-processes", "0")
    )
    assert code == 2 and "--expected-processes: must be at least 1, got 0" in one_line(err)


@pytest.mark.parametrize("source", ["flag", "env"])
async def test_expected_processes_reaches_the_fleet_budget(
    emu: Emulator, filters_file: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """Two processes at --rate 20 each over one Redis: when it dies, each falls back to
    rate / N, not the whole rate; the CLI hands N to fleet_options."""
    redis = pytest.importorskip("mpasync.redis")
    seen: list[int] = []
    real = redis.fleet_options

    def recording(*args: object, expected_processes: int = 1, **kwargs: object) -> object:
        seen.append(expected_processes)
        return real(*args, expected_processes=expected_processes, **kwargs)

    monkeypatch.setattr(redis, "fleet_options", recording)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"  # down: the fallback paces
    extra = ["--redis", url, "--rate", "20"]
    if source == "flag":
        extra += ["--expected-processes", "4"]
    else:
        monkeypatch.setenv("MPASYNC_EXPECTED_PROCESSES", "4")
    code, _, err = await run("-q", *apply(filters_file, *extra))
    assert code == 0, err
    assert seen == [4]
    monkeypatch.setenv("MPASYNC_EXPECTED_PROCESSES", "two")
    code, _, err = await run(*apply(filters_file, "--redis", url))
    assert code == 2 and "MPASYNC_EXPECTED_PROCESSES must be a positive integer" in one_line(err)


# ---------------------------------------------------------------- base and token URLs


@pytest.mark.parametrize("suffix", ["/v1", "/v2/", "/v1/"])
async def test_a_base_url_ending_in_a_version_is_used_without_it(
    emu: Emulator, filters_file: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setenv("MPARTICLE_BASE_URL", emu.base_url + suffix)
    code, out, err = await run(*apply(filters_file))
    assert code == 0, err
    assert re.search(r"succeeded\s+2\n", out)
    assert err == (
        f"mpasync: warning: MPARTICLE_BASE_URL ends in {suffix.rstrip('/')}: using "
        f"{emu.base_url} (the client adds /v1 and /v2 itself)\n"
    )
    assert not any("/v1/v1" in e.path or "/v2/v1" in e.path for e in emu.request_log)


@pytest.mark.parametrize(
    ("base_url", "token_url", "warned"),
    [
        ("http://127.0.0.1:8787", None, True),
        ("http://localhost:8787", None, True),
        ("http://[::1]:8787", None, True),
        ("http://10.0.0.5:8080", None, True),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787/oauth/token", False),
        ("https://api.mparticle.com", None, False),
    ],
)
def test_a_local_base_url_without_a_token_url_is_warned_about(
    caplog: pytest.LogCaptureFixture, base_url: str, token_url: str | None, warned: bool
) -> None:
    """Otherwise the emulator's credentials go to the real SSO. Nothing is sent here."""
    from mpasync.cli.input import client_from_env

    env = {"MPARTICLE_CLIENT_ID": "id", "MPARTICLE_CLIENT_SECRET": "s3cret"}
    env |= {"MPARTICLE_ACCOUNT_ID": "1", "MPARTICLE_BASE_URL": base_url}
    if token_url:
        env["MPARTICLE_TOKEN_URL"] = token_url
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        client_from_env(env)
    messages = [r.getMessage() for r in caplog.records if "MPARTICLE_TOKEN_URL" in r.getMessage()]
    assert len(messages) == (1 if warned else 0), messages
    if warned:
        assert "real mParticle SSO" in messages[0] and "s3cret" not in messages[0]


def test_mpasync_redis_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    for name in [n for n in sys.modules if n.partition(".")[0] == "redis"] + ["redis"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if redis-py were not installed
    # The package and its modules, as if never imported (a module left in sys.modules
    # would be reused without importing redis-py again).
    for name in [n for n in sys.modules if n == "mpasync.redis" or n.startswith("mpasync.redis.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'mpasync\[redis\]'"):
        importlib.import_module("mpasync.redis")
