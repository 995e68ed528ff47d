"""mpasync.progress: the bar fits its width, logs land above it, plain and JSON modes."""

from __future__ import annotations

import asyncio
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
    assert len(line) <= width - 2  # room for the terminal's ^C echo: no wrap
    assert f"{done + skipped}/{300 + skipped}" in line or width < 40


def test_bar_drops_extras_before_the_bar_at_60_columns() -> None:
    progress = Progress("bar", stream=io.StringIO(), columns=60)
    progress.start("applying filters", 300, unit="apps")
    progress.update(46, 2)
    line = progress.bar_line(60)
    assert re.search(r"\[#+-+\] 46/300 apps, 2 failed, ETA", line)  # the rate went first
    assert len(line) <= 58


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
    # 2/3, then the phase's end once (the update that reached 3/3 leaves it to end()).
    assert [e["event"] for e in events] == ["progress", "progress", "summary"]
    assert events[0] == events[0] | {"done": 2, "total": 3, "phase_done": False, "unit": "apps"}
    assert events[1] == events[1] | {"done": 3, "total": 3, "phase_done": True, "failed": 1}
    assert err.getvalue() == ""


def test_json_phases_without_counts_have_no_counts() -> None:
    out = io.StringIO()
    progress = Progress("json", stream=io.StringIO(), json_stream=out, json_interval=60)
    progress.start("checking service")
    progress.start("listing apps", unit="apps")
    progress.update(300)
    progress.end()
    check, listing = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(check) == {"event", "phase", "elapsed", "phase_done"}
    assert check["phase"] == "checking service" and check["phase_done"] is True
    assert listing == listing | {"unit": "apps", "done": 300, "total": 300, "phase_done": True}


def test_a_listing_without_a_total_reads_phase_colon_count() -> None:
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=80)
    progress.start("listing apps", unit="apps")
    progress.update(300)
    progress.end()
    assert screen_lines(stream.getvalue())[-2].startswith("listing apps: 300 apps, 0 failed")
    progress.start("listing apps", unit="apps")
    progress.update(1)
    assert progress.bar_line(80).startswith("listing apps: 1 app, 0 failed")
    progress.start("applying filters", 1, unit="apps")
    assert " 0/1 app, 0 failed" in progress.bar_line(80)


@pytest.mark.parametrize("width", [60, 70, 80])
def test_the_eta_outlasts_the_rate_and_the_skipped_count(width: int) -> None:
    """A resumed run (many skipped) at 60-80 columns still shows its ETA."""
    progress = Progress("bar", stream=io.StringIO(), columns=width)
    progress.start("restoring snapshot", 1300, unit="apps")
    progress._started -= 10  # 10 s in: a rate, so an ETA
    progress.update(46, 3, skipped=1120)
    line = progress.bar_line(width)
    assert re.search(r"1166/1300 apps( \(89%\))?, 3 failed, .*ETA \d", line), line
    assert len(line) <= width - 2


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


async def test_a_burst_of_skipped_items_shows_without_waiting_for_the_next_item() -> None:
    """A resumed run reports its skipped items at once, then may wait seconds for the
    first real one: the throttled burst is drawn a moment later, not at that item."""
    stream = io.StringIO()
    progress = Progress("bar", stream=stream, columns=100)
    progress.start("applying filters", 300, unit="apps")
    for skipped in range(1, 201):
        progress.update(0, 0, skipped=skipped)
    await asyncio.sleep(0.3)  # the first real item is still in flight
    last = segments(stream.getvalue())[-1]
    assert "200/300 apps" in last and "200 skipped" in last, last
    progress.end()
    assert progress._redraw is None
