"""``--since``/``--until``: one parser, relative to the end of the data, absolute in UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from obsctl.errors import UsageError
from obsctl.timewindow import (
    TimeWindow,
    WindowSpec,
    data_end_ns,
    parse_duration,
    parse_instant,
    resolve,
)

S = 1_000_000_000


def _ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * S


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15m", 15 * 60 * S),
        ("2h", 2 * 3600 * S),
        ("90s", 90 * S),
        ("1d", 86400 * S),
        ("1h30m", 5400 * S),
        ("500ms", S // 2),
        ("1.5s", 3 * S // 2),
        ("2W", 14 * 86400 * S),
    ],
)
def test_durations(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["15", "abc", "15x", "", "m15", "1h 30m", "-5m"])
def test_not_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-03-26T16:30:00Z", _ns(2026, 3, 26, 16, 30)),
        ("2026-03-26 16:30", _ns(2026, 3, 26, 16, 30)),
        ("2026-03-26 16:30:05", _ns(2026, 3, 26, 16, 30, 5)),
        ("2026-03-26T16:30:05.123456789Z", _ns(2026, 3, 26, 16, 30, 5) + 123456789),
        ("2026-03-26T16:30:05.5", _ns(2026, 3, 26, 16, 30, 5) + S // 2),
        ("2026-03-26T18:30:00+02:00", _ns(2026, 3, 26, 16, 30)),
        ("2026-03-26T11:30:00-0500", _ns(2026, 3, 26, 16, 30)),
        ("2026-03-26", _ns(2026, 3, 26)),
    ],
)
def test_absolute_times_are_utc_with_nanoseconds(text, ns):
    assert parse_instant(text) == ns


@pytest.mark.parametrize("text", ["2026-13-01", "2026-03-26 25:00", "26/03/2026", "16:30"])
def test_not_times(text):
    assert parse_instant(text) is None


def test_bad_value_is_a_usage_error_naming_the_option_and_the_forms():
    with pytest.raises(UsageError) as exc:
        WindowSpec.parse(since="15x")
    msg = str(exc.value)
    assert msg.startswith("--since '15x' is not")
    assert "15m" in msg and "2026-03-26T16:30:00Z" in msg
    assert "\n" not in msg
    with pytest.raises(UsageError, match=r"^--until"):
        WindowSpec.parse(until="yesterday")


def test_absolute_since_after_until_is_refused_before_any_store():
    with pytest.raises(UsageError, match="not before --until"):
        WindowSpec.parse("2026-03-26 17:00", "2026-03-26 16:00")


def test_relative_values_count_back_from_the_end_of_the_data():
    end = _ns(2026, 3, 26, 16, 52)
    spec = WindowSpec.parse("15m", "5m")
    assert spec.relative
    assert spec.resolve_at(end) == TimeWindow(end - 15 * 60 * S, end - 5 * 60 * S)
    assert WindowSpec.parse("15m").resolve_at(end) == TimeWindow(end - 15 * 60 * S, None)
    assert not WindowSpec.parse("2026-03-26 16:00").relative
    with pytest.raises(UsageError):
        WindowSpec.parse("5m", "15m").resolve_at(end)


def test_nothing_given_is_the_whole_data():
    spec = WindowSpec.parse(None, " ")
    assert spec == WindowSpec()
    assert spec.resolve_at(None) == TimeWindow()
    assert not TimeWindow().bounded


def test_window_is_half_open():
    w = TimeWindow(10, 20)
    assert w.contains(10) and w.contains(19) and not w.contains(20) and not w.contains(9)


def test_end_of_data_is_the_latest_of_every_signal(store, load, corpus):
    load(corpus / "traces/zipkin/yelp.json", corpus / "logs/jsonl/lnav_bunyan.jsonl")
    latest = store.scalar(
        "SELECT greatest((SELECT epoch_ns(max(timestamp)) FROM logs),"
        " (SELECT epoch_ns(max(end_time)) FROM spans))"
    )
    assert data_end_ns(store) == latest
    w = resolve(store, "1h")
    assert w == TimeWindow(latest - 3600 * S, None)


def test_an_empty_store_leaves_relative_bounds_open(store):
    assert data_end_ns(store) is None
    assert resolve(store, "15m") == TimeWindow()


def test_baseline_window_forms():
    from obsctl.errors import UsageError
    from obsctl.timewindow import TimeWindow, baseline_window, parse_instant

    end = parse_instant("2026-03-26T17:00:00Z")
    w = TimeWindow(parse_instant("2026-03-26T16:30:00Z"), None)
    assert baseline_window(None, w, end) == TimeWindow(None, w.start_ns)
    assert baseline_window("20m", w, end) == TimeWindow(
        parse_instant("2026-03-26T16:10:00Z"), w.start_ns
    )
    assert baseline_window("1h..45m", w, end) == TimeWindow(
        parse_instant("2026-03-26T16:00:00Z"), parse_instant("2026-03-26T16:15:00Z")
    )
    assert baseline_window(None, TimeWindow(None, None), end) is None
    import pytest

    with pytest.raises(UsageError, match="needs --since"):
        baseline_window("20m", TimeWindow(None, None), end)
    with pytest.raises(UsageError, match="expected a duration"):
        baseline_window("yesterday", w, end)
