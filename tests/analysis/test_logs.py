"""``analysis.logs``: search, histogram and first error on the demo incident and corpus.

Every expectation is computed independently with plain SQL over the ``logs`` table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from obsctl.analysis import logs as L
from obsctl.errors import UsageError
from obsctl.timewindow import TimeWindow, WindowSpec
from tests.conftest import FIXTURES

S = 1_000_000_000
DEMO = FIXTURES / "checkout-incident"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The demo incident's logs and traces, loaded once for the module."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "logs"), str(DEMO / "traces")])
    s = Store.open(path, read_only=True)
    yield s
    s.close()


def _ns(table: pa.Table, column: str = "time") -> list[int]:
    return table.column(column).cast(pa.int64()).to_pylist()


def test_search_returns_every_documented_field_in_time_order(demo):
    t = L.search(demo, L.LogFilter())
    assert t.column_names == [name for name, _ in L.RECORD_COLUMNS]
    assert t.column_names == [
        "time", "level", "severity_text", "severity_number", "service", "body", "trace_id",
        "span_id", "attributes", "resource_attributes", "scope_name", "file", "line",
        "source_id",
    ]  # fmt: skip
    assert t.schema.field("time").type == pa.timestamp("ns")
    assert t.num_rows == demo.scalar("SELECT count(*) FROM logs")
    cols = (_ns(t), t.column("source_id").to_pylist(), t.column("line").to_pylist())
    keys = list(zip(*cols, strict=True))
    assert keys == sorted(keys)
    assert all(f.endswith(".gz") for f in t.column("file").to_pylist())


def test_level_is_at_or_above_and_drops_records_without_severity(demo):
    t = L.search(demo, L.LogFilter.from_options(level="warn"))
    assert t.num_rows == demo.scalar("SELECT count(*) FROM logs WHERE severity_number >= 13")
    assert set(t.column("level").to_pylist()) == {"WARN", "ERROR"}
    assert min(t.column("severity_number").to_pylist()) >= 13


def test_records_without_severity_show_only_without_level(store, load, corpus):
    load(corpus / "logs/loghub/OpenSSH/OpenSSH_2k.log")
    everything = L.search(store, L.LogFilter())
    assert everything.num_rows == 2000
    unranked = everything.column("level").null_count
    assert unranked == store.scalar("SELECT count(*) FROM logs WHERE severity_number IS NULL")
    assert unranked > 0
    ranked = L.search(store, L.LogFilter.from_options(level="trace"))
    assert ranked.num_rows == 2000 - unranked
    assert ranked.column("level").null_count == 0


@pytest.mark.parametrize(
    ("text", "number"),
    [("trace", 1), ("DEBUG", 5), ("info", 9), ("warn", 13), ("Warning", 13), ("error", 17),
     ("fatal", 21), ("15", 15), ("24", 24)],
)  # fmt: skip
def test_parse_level(text, number):
    assert L.parse_level(text) == number


@pytest.mark.parametrize("text", ["loud", "0", "25", "-1", ""])
def test_bad_level_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--level"):
        L.parse_level(text)


def test_service_filter_takes_several(demo):
    t = L.search(demo, L.LogFilter.from_options(services=["payment", "cart"]))
    assert set(t.column("service").to_pylist()) == {"payment", "cart"}
    assert t.num_rows == demo.scalar(
        "SELECT count(*) FROM logs WHERE service_name IN ('payment', 'cart')"
    )


def test_trace_filter_finds_the_logs_of_a_trace_from_the_spans_table(demo):
    trace = demo.scalar(
        "SELECT trace_id FROM spans WHERE trace_id IN (SELECT trace_id FROM logs)"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    t = L.search(demo, L.LogFilter.from_options(trace=trace.upper()))
    assert t.num_rows == demo.scalar("SELECT count(*) FROM logs WHERE trace_id = ?", [trace])
    assert t.num_rows > 1
    assert set(t.column("trace_id").to_pylist()) == {trace}


def test_trace_ids_are_normalised_as_the_store_does():
    assert L.normalise_trace_id("ABCDEF0123456789") == "0" * 16 + "abcdef0123456789"
    assert L.normalise_trace_id(" 0x1F ") == "1f".rjust(32, "0")
    for bad in ("xyz", "1" * 33, "", "12-34"):
        with pytest.raises(UsageError, match="--trace"):
            L.normalise_trace_id(bad)


def test_text_is_a_case_insensitive_substring_with_wildcards_literal(demo):
    t = L.search(demo, L.LogFilter(text="TIMEOUT"))
    assert t.num_rows == demo.scalar("SELECT count(*) FROM logs WHERE lower(body) LIKE '%timeout%'")
    assert t.num_rows > 0
    for text in ("_", "%", "\\", "a_b%"):
        expected = demo.scalar("SELECT count(*) FROM logs WHERE contains(lower(body), ?)", [text])
        assert L.count(demo, L.LogFilter(text=text)) == expected, text


def test_sql_injection_in_text_and_service_stays_literal(demo):
    total = demo.scalar("SELECT count(*) FROM logs")
    for hostile in ("' OR 1=1 --", "x'; DROP TABLE logs; --", "$text"):
        assert L.count(demo, L.LogFilter(text=hostile)) == 0
        assert L.count(demo, L.LogFilter(services=(hostile,))) == 0
    assert demo.scalar("SELECT count(*) FROM logs") == total


def test_grep_is_a_regular_expression_on_the_body(demo):
    t = L.search(demo, L.LogFilter(grep=r"^payment gateway error: 50[0-9]"))
    assert t.num_rows == demo.scalar(
        "SELECT count(*) FROM logs WHERE regexp_matches(body, '^payment gateway error: 50[0-9]')"
    )
    assert t.num_rows > 0
    with pytest.raises(UsageError, match=r"^--grep '\(unclosed' is not a valid regular"):
        L.search(demo, L.LogFilter(grep="(unclosed"))


def test_since_until_relative_to_the_end_of_the_data_and_absolute(demo):
    window = WindowSpec.parse("15m", "5m").resolve(demo)
    t = L.search(demo, L.LogFilter(window=window))
    times = _ns(t)
    assert times and min(times) >= window.start_ns and max(times) < window.end_ns
    assert t.num_rows == demo.scalar(
        "SELECT count(*) FROM logs WHERE timestamp >= make_timestamp_ns(?)"
        " AND timestamp < make_timestamp_ns(?)",
        [window.start_ns, window.end_ns],
    )
    absolute = WindowSpec.parse("2026-03-26 16:30", "2026-03-26T16:31:00Z").resolve(demo)
    t = L.search(demo, L.LogFilter(window=absolute))
    assert t.num_rows == demo.scalar(
        "SELECT count(*) FROM logs WHERE timestamp >= '2026-03-26 16:30:00'"
        " AND timestamp < '2026-03-26 16:31:00'"
    )


def test_reverse_and_limit(demo):
    filt = L.LogFilter.from_options(level="error")
    forward = L.search(demo, filt)
    backward = L.search(demo, filt, reverse=True)
    assert _ns(backward) == _ns(forward)[::-1]
    assert (
        L.search(demo, filt, limit=3).column("body").to_pylist()
        == (forward.column("body").to_pylist()[:3])
    )
    assert _ns(L.search(demo, filt, limit=2, reverse=True)) == _ns(forward)[::-1][:2]


def test_stream_yields_the_same_rows_in_batches(demo):
    filt = L.LogFilter.from_options(level="warn")
    reader = L.search_stream(demo, filt, batch_rows=100)
    batches = list(reader)
    assert len(batches) > 1
    streamed = pa.Table.from_batches(batches)
    assert streamed.equals(L.search(demo, filt))
    assert streamed.schema.field("attributes").metadata == {b"obsctl.json": b"1"}


def test_first_error_is_the_earliest_error_with_file_and_line(demo):
    rec = L.first_error(demo)
    first = demo.rows(
        "SELECT epoch_ns(timestamp), body, line FROM logs WHERE severity_number >= 17"
        " ORDER BY timestamp, source_id, line LIMIT 1"
    )[0]
    assert (rec.time_ns, rec.body, rec.line) == first
    assert rec.level == "ERROR"
    assert rec.location.endswith(f".jsonl.gz:{first[2]}")
    late = TimeWindow(start_ns=rec.time_ns + 1)
    assert L.first_error(demo, late).time_ns > rec.time_ns
    assert L.first_error(demo, TimeWindow(end_ns=rec.time_ns)) is None


# --------------------------------------------------------------------------- histogram


def test_histogram_chooses_a_nice_bucket_and_fills_zeros(demo):
    h = L.histogram(demo, L.LogFilter.from_options(level="warn"))
    assert h.bucket_ns == 60 * S  # 40 minutes of data → 1m buckets
    assert 40 <= h.buckets <= 80
    assert h.start_ns % h.bucket_ns == 0
    levels = set(h.table.column("level").to_pylist())
    assert levels == {"WARN", "ERROR"}
    assert h.table.num_rows == h.buckets * len(levels)
    counts = h.table.column("count").to_pylist()
    assert 0 in counts
    assert (
        sum(counts)
        == h.total
        == demo.scalar("SELECT count(*) FROM logs WHERE severity_number >= 13")
    )
    starts = sorted(set(_ns(h.table, "bucket")))
    assert starts == list(range(h.start_ns, h.end_ns, h.bucket_ns))


def test_histogram_counts_match_sql_per_bucket(demo):
    h = L.histogram(demo, L.LogFilter(services=("payment",)), bucket=5 * 60 * S)
    got = {
        (b, lv): n
        for b, lv, n in zip(
            _ns(h.table, "bucket"),
            h.table.column("level").to_pylist(),
            h.table.column("count").to_pylist(),
            strict=True,
        )
        if n
    }
    want = {
        (b, lv): n
        for b, lv, n in demo.rows(
            f"SELECT epoch_ns(time_bucket(INTERVAL 5 MINUTE, timestamp)), {L.LEVEL_SQL}, count(*)"
            " FROM logs WHERE service_name = 'payment' GROUP BY ALL"
        )
    }
    assert got == want


def test_histogram_respects_the_window_range(demo):
    window = WindowSpec.parse("10m").resolve(demo)
    h = L.histogram(demo, L.LogFilter(window=window))
    assert h.start_ns <= window.start_ns < h.start_ns + h.bucket_ns
    assert 40 <= h.buckets <= 80


def test_histogram_of_nothing_is_empty(demo):
    h = L.histogram(demo, L.LogFilter(text="no such text anywhere"))
    assert h.total == 0 and h.table.num_rows == 0 and h.buckets == 0
    assert h.table.column_names == ["bucket", "level", "count"]


def test_too_fine_a_bucket_is_a_usage_error(demo):
    with pytest.raises(UsageError, match="--bucket is too fine"):
        L.histogram(demo, L.LogFilter(), bucket=L.parse_bucket("1ms"))
    with pytest.raises(UsageError, match="--bucket"):
        L.parse_bucket("0s")


@pytest.mark.parametrize(
    "seconds", [1, 7, 45, 60, 300, 1800, 2400, 3600, 6 * 3600, 86400, 10 * 86400]
)
def test_choose_bucket_gives_a_readable_number_of_buckets(seconds):
    start = 1_774_541_520 * S
    width = L.choose_bucket(start, start + seconds * S)
    assert width in L.NICE_BUCKETS_NS
    assert 30 <= L.bucket_count(start, start + seconds * S, width) <= 80


def test_choose_bucket_examples():
    assert L.choose_bucket(0, 3600 * S) == 60 * S
    assert L.choose_bucket(0, 40 * 60 * S) == 60 * S
    assert L.choose_bucket(0, 86400 * S) == 30 * 60 * S


def test_histogram_on_a_corpus_file_without_levels(store, load, corpus):
    load(corpus / "logs/loghub/OpenSSH/OpenSSH_2k.log")
    h = L.histogram(store, L.LogFilter())
    assert h.total == 2000
    assert None in set(h.table.column("level").to_pylist())


def test_paths_are_as_stored(demo):
    files = set(L.search(demo, L.LogFilter()).column("file").to_pylist())
    assert {Path(f).name for f in files} == {
        "cart.jsonl.gz", "inventory.logfmt.gz", "otel-logs.jsonl.gz", "postgres.log.gz"
    }  # fmt: skip
