"""mpasync.progress: the bar fits its width, logs land above it, plain and JSON modes."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from mpasync.progress import Progress, ProgressBar, ProgressLogHandler

ERASE = "\r\x1b[K"


def screen_lines(raw: str) -> list[str]:
    """What a terminal shows: each line is what follows its last carriage return."""
    return [line.split("\r")[-1].replace("\x1b[K", "") for line in raw.split("\n")]


def segments(raw: str) -> list[str]:
    """Every stretch written between cursor returns (each must fit the width)."""
    return [s.replace("\x1b[K", "") for s in re.split(r"[\r\n]", raw)]


@pytest.mark.parametrize("width", [20, 40, 60, 80, 120])
@pytest.mark.parametrize(("done", "failed", "skipped"), [(0, 0, 0), (46, 3, 120), (300, 0, 0)])
def test_bar_line_never_reaches_the_last_column(
    width: int, done: int, failed: int, skipped: int
) -> None:
    progress = Progress("bar", stream=io.StringIO(), columns=width)
    progress.start("applying filters", 300 + skipped, unit="apps")
    progress.update(done, failed, skipped=skipped)
    line = progress.bar_line(width)
    assert len(line) <= width - 1
    assert f"{done + skipped}/{300 + skipped}" in line or width < 40


def test_bar_drops_extras_before_the_bar_at_60_columns() -> None:
    progress = Progress("bar", stream=io.StringIO(), columns=60)
    progress.start("applying filters", 300, unit="apps")
    progress.update(46, 2)
    line = progress.bar_line(60)
    assert re.search(r"\[#+-+\] 46/300 apps, 2 failed", line)
    assert len(line) <= 59


def test_skipped_items_count_toward_the_total() -> None:
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=100)
    progress.start("applying filters", 300, unit="apps")
    progress.update(54, 0, skipped=246)
    progress.end()
    final = screen_lines(stream.getvalue())[-2]
    assert "300/300 apps" in final and "246 skipped" in final
    assert "[" + "#" * 10 in final


def test_log_lines_print_above_the_bar() -> None:
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=80)
    progress.start("applying filters", 10, unit="apps")
    progress.update(3, 0)
    progress.log("WARNING PUT /v1/apps/4/...: HTTP 503; retry 1/3")
    progress.update(10, 0)
    progress.end()
    lines = screen_lines(stream.getvalue())
    assert lines[0] == "WARNING PUT /v1/apps/4/...: HTTP 503; retry 1/3"
    assert lines[1].startswith("applying filters [") and "10/10 apps" in lines[1]
    assert all(len(s) <= 79 for s in segments(stream.getvalue()))


def test_log_handler_routes_records_through_progress() -> None:
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=80)
    progress.start("x", 2)
    logger = logging.getLogger("mpasync.test_progress")
    handler = ProgressLogHandler(progress)
    logger.addHandler(handler)
    try:
        logger.warning("hello")
    finally:
        logger.removeHandler(handler)
    assert "\r\x1b[Khello\n" in stream.getvalue()


def test_plain_mode_has_no_control_characters() -> None:
    stream = io.StringIO()
    progress = Progress("plain", stream=stream, interval=0.0)
    progress.start("applying filters", 4, unit="apps")
    for done in range(1, 5):
        progress.update(done, 0)
    progress.end()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines()[-1].startswith("applying filters: 4/4 apps (100%), 0 failed")


def test_plain_mode_is_quiet_between_intervals() -> None:
    stream = io.StringIO()
    progress = Progress("plain", stream=stream, interval=3600)
    progress.start("applying filters", 1000, unit="apps")
    for done in range(1, 1001):
        progress.update(done, 0)
    progress.end()
    assert len(stream.getvalue().splitlines()) == 1  # only the end of the phase


def test_auto_picks_plain_when_not_a_terminal() -> None:
    assert Progress("auto", stream=io.StringIO()).mode == "plain"


def test_json_mode_writes_one_object_per_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = Progress("json", stream=err, json_stream=out, json_interval=0.0)
    progress.start("applying filters", 3, unit="apps")
    progress.update(1, 0, skipped=1)
    progress.update(2, 1, skipped=1)
    progress.end()
    progress.summary({"total": 3, "failed": 1})
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["progress", "progress", "progress", "summary"]
    assert events[-2] == events[-2] | {"done": 3, "total": 3, "phase_done": True, "failed": 1}
    assert err.getvalue() == ""


def test_none_mode_prints_only_logs() -> None:
    stream = io.StringIO()
    progress = Progress("none", stream=stream)
    progress.start("applying filters", 3)
    progress.update(3, 0)
    progress.log("a log line")
    progress.end()
    assert stream.getvalue() == "a log line\n"


def test_interrupt_ends_the_bar_line_once() -> None:
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=80)
    progress.start("applying filters", 300, unit="apps")
    progress.update(46, 0)
    assert progress.interrupt() is True
    assert progress.interrupt() is False
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert text.split("\n")[0].startswith(ERASE + "applying filters [")


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="progress mode"):
        Progress("fancy")


def test_progress_bar_compatibility() -> None:
    stream = io.StringIO()
    bar = ProgressBar(5, label="apps", stream=stream, interactive=True)
    bar(5, 1)
    bar.finish()
    assert "5/5 apps, 1 failed" in screen_lines(stream.getvalue())[-2]
