"""The command line's input checks: app id lists, filters files, output paths, credentials
and the client options the flags set.

Everything here runs before any request is sent and turns bad input into a `CLIError`:
one line naming the flag, file or environment variable and what is wrong with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mpasync._checks import digits
from mpasync.client import Client
from mpasync.env import OPTIONAL_ENV, client_kwargs
from mpasync.errors import RequestValidationError
from mpasync.models import DataPointFilter
from mpasync.resources.datapoints_checks import validate_filters

__all__ = [
    "CLIError",
    "FiltersFile",
    "check_input_file",
    "check_output_path",
    "client_from_env",
    "client_overrides",
    "filters_to_json",
    "load_filters",
    "parse_app_ids",
    "snapshot_text",
    "write_text",
]

#: A policy (the same filters for every app) or a snapshot (each app's own filters).
FiltersFile = list[DataPointFilter] | dict[int, list[DataPointFilter]]


logger = logging.getLogger("mpasync")


class CLIError(Exception):
    """Bad input: printed as one line, exit status 2."""


def parse_app_ids(text: str) -> list[int]:
    """``"1,2, 3"`` → ``[1, 2, 3]``; anything else is a `CLIError` naming the bad entry."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not digits(part):
            raise CLIError(f"--apps: {part!r} is not an app id (expected e.g. --apps 1,2,3)")
        ids.append(int(part))
    if not ids:
        raise CLIError("--apps: no app ids given (expected e.g. --apps 1,2,3)")
    return list(dict.fromkeys(ids))


def read_json_file(file: str, what: str) -> Any:
    """A file's JSON content (``-``: stdin's); unreadable, non-UTF-8 or non-JSON files are
    a `CLIError`."""
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {what} {file}: {exc.strerror or exc}") from None
    file = "(stdin)" if file == "-" else file
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CLIError(
            f"{what} {file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except ValueError as exc:
        raise CLIError(f"{what} {file} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CLIError(f"{what} {file} is not valid JSON: nested too deeply") from None


def _shape(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )


def load_filters(file: str) -> FiltersFile:
    """Read and check a filters file (see ``mpasync filters apply --help``).

    A JSON list is a policy: the same filters for every app (``{"filters": [...]}`` is
    accepted too). A JSON object whose keys are app ids is a snapshot, as ``mpasync
    filters export`` writes it: each app's own filters.
    """
    data = read_json_file(file, "filters file")
    file = "(stdin)" if file == "-" else file
    if isinstance(data, dict) and set(data) == {"filters"}:
        data = data["filters"]
    if isinstance(data, list):
        if not data:
            raise CLIError(f"filters file {file} must hold a non-empty JSON list of filters")
        return _checked(file, data, "")
    if isinstance(data, dict):
        if not data:
            raise CLIError(f"filters file {file}: the snapshot names no apps")
        snapshot: dict[int, list[DataPointFilter]] = {}
        for key, filters in data.items():
            if not digits(key):
                raise CLIError(
                    f"filters file {file}: key {key!r} is not an app id (a snapshot maps "
                    'app ids to lists of filters, e.g. {"12": [...]})'
                )
            if not isinstance(filters, list):
                raise CLIError(
                    f"filters file {file}: app {key} must map to a list of filters, "
                    f"got {_shape(filters)}"
                )
            snapshot[int(key)] = _checked(file, filters, f"app {key}, ") if filters else []
        return snapshot
    raise CLIError(
        f"filters file {file} must hold a list of filters (a policy) or an object mapping "
        f"app ids to lists of filters (a snapshot), got {_shape(data)}"
    )


def _checked(file: str, filters: list[Any], where: str) -> list[DataPointFilter]:
    try:
        return validate_filters(filters)
    except RequestValidationError as exc:
        raise CLIError(f"filters file {file}: {where}{_entry(exc)}") from None


def _entry(exc: RequestValidationError) -> str:
    """``filters[3].event_type: ...`` → ``entry 3: event_type: ...`` for humans."""
    text = str(exc)
    if text.startswith("filters["):
        index, _, rest = text[len("filters[") :].partition("]")
        return f"entry {index}{rest.replace('.', ': ', 1) if rest.startswith('.') else rest}"
    return text


def filters_to_json(filters: list[DataPointFilter]) -> list[dict[str, Any]]:
    """Filters as a filters file holds them: the fields a policy sets, nothing server-made."""
    rows: list[dict[str, Any]] = []
    for f in filters:
        row: dict[str, Any] = {"name": f.name, "type": f.type}
        if f.event_type is not None:
            row["event_type"] = f.event_type
        if f.attribute_name is not None:
            row["attribute_name"] = f.attribute_name
        row["enabled"] = f.enabled
        rows.append(row)
    return rows


def check_output_path(file: str, flag: str) -> Path:
    """A file the run will write (journal, report, snapshot): its folder must exist and it
    must not be a folder itself; checked before any request is sent."""
    path = Path(file)
    if path.is_dir():
        raise CLIError(f"{flag} {file} is a directory; give a file path, e.g. {flag} run.jsonl")
    parent = path.parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {file}: folder {parent} does not exist")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise CLIError(f"{flag} {file}: permission denied")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {file}: folder {parent} is not writable")
    return path


def check_input_file(file: str, flag: str) -> Path:
    """A file the run reads (a journal to revert): it must exist and be a file."""
    path = Path(file)
    if path.is_dir():
        raise CLIError(f"{flag} {file} is a directory, not a file")
    if not path.is_file():
        raise CLIError(f"{flag} {file}: no such file")
    return path


def snapshot_text(snapshot: Mapping[str, list[dict[str, Any]]]) -> str:
    """A snapshot as JSON with one filter per line, so files read and diff well."""
    apps = []
    for app_id, filters in snapshot.items():
        rows = ",\n".join(f"    {json.dumps(f, ensure_ascii=False)}" for f in filters)
        apps.append(f"  {json.dumps(app_id)}: [\n{rows}\n  ]" if filters else f'  "{app_id}": []')
    return "{\n" + ",\n".join(apps) + "\n}\n" if apps else "{}\n"


def write_text(path: Path, text: str) -> None:
    """Write ``text``, replacing the file only once it is complete."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def client_from_env(env: Mapping[str, str] | None = None, **options: Any) -> Client:
    """A `Client` from the ``MPARTICLE_*`` variables (`mpasync.env`); every problem is
    named by its variable (all missing ones at once)."""
    try:
        kwargs = client_kwargs(env)
    except RequestValidationError as exc:
        hint = " (the API credentials; see --help)" if str(exc).startswith("missing") else ""
        raise CLIError(f"{exc}{hint}") from None
    redis = options.pop("redis", None)
    try:
        if redis:
            return _fleet_client(redis, kwargs, options)
        return Client(**kwargs, **options)
    except RequestValidationError as exc:
        var = OPTIONAL_ENV.get(exc.field or "", "")
        raise CLIError(f"{var}: {exc}" if var else str(exc)) from None


def client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `Client` options a command's flags set (``--rate``, ``--concurrency``,
    ``--redis``, ``--expected-processes``, or their ``MPASYNC_*`` variables), for
    `client_from_env`."""
    overrides: dict[str, Any] = {}
    if getattr(args, "rate", None) is not None:
        overrides["rate_limit"] = args.rate
    if getattr(args, "concurrency", None) is not None:
        overrides["max_concurrency"] = args.concurrency
    redis = getattr(args, "redis", None) or os.environ.get("MPASYNC_REDIS_URL", "").strip()
    if redis and hasattr(args, "redis"):
        overrides["redis"] = redis
    processes = _expected_processes(args)
    if processes is not None:
        if not overrides.get("redis"):
            raise CLIError(
                "--expected-processes needs --redis (or MPASYNC_REDIS_URL): it divides a "
                "budget shared through Redis"
            )
        overrides["expected_processes"] = processes
    return overrides


def _expected_processes(args: argparse.Namespace) -> int | None:
    """``--expected-processes``, else ``$MPASYNC_EXPECTED_PROCESSES`` (only with a Redis)."""
    if getattr(args, "expected_processes", None) is not None:
        return int(args.expected_processes)
    text = os.environ.get("MPASYNC_EXPECTED_PROCESSES", "").strip()
    if not text or not hasattr(args, "expected_processes"):
        return None
    if not digits(text):
        raise CLIError(f"MPASYNC_EXPECTED_PROCESSES must be a positive integer, got {text!r}")
    if not (getattr(args, "redis", None) or os.environ.get("MPASYNC_REDIS_URL", "").strip()):
        return None  # set for the fleet's runs; harmless for a run without Redis
    return int(text)


def _fleet_client(url: str, kwargs: dict[str, Any], options: dict[str, Any]) -> Client:
    """``--redis``: one token and (with ``--rate``) one budget for every process."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise CLIError(f"--redis must be a redis:// URL, got {url.split('@')[-1]!r}")
    try:
        from mpasync.redis import fleet_options
    except ImportError:
        raise CLIError("--redis needs the redis extra: pip install 'mpasync[redis]'") from None
    fleet = fleet_options(
        url,
        kwargs.pop("client_id"),
        kwargs.pop("client_secret"),
        rate=options.pop("rate_limit", None),
        expected_processes=options.pop("expected_processes", 1),
        account_id=kwargs["account_id"],  # one budget per account (and API)
        **{k: kwargs[k] for k in ("base_url",) if k in kwargs},
        **{k: kwargs.pop(k) for k in ("token_url",) if k in kwargs},
    )
    return Client(**kwargs, **fleet, **options)  # closing it closes what fleet_options made
