"""One registry, four formats, cell-for-cell agreement — pinned by golden files.

The dataset holds every hard type: ns timestamps, NULLs, unicode, hostile text (Rich
markup, ANSI escapes, HTML), nested JSON attributes and lists. Regenerate the goldens
after an intended change with ``OBSCTL_UPDATE_GOLDEN=1 pytest tests/render``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from obsctl.render import formats
from obsctl.render.console import OutputPolicy, make_console

GOLDEN = Path(__file__).parent / "golden"

HARD_SQL = r"""
SELECT * FROM (VALUES
  (1, make_timestamp_ns(1760000000123456789), 'checkout', 'plain text, with comma',
   '{"http.route":"/charge","retries":3,"nested":{"ok":true,"list":[1,2]}}'::JSON,
   ['a','b'], 2.5::DOUBLE, '4bf92f3577b34da6a3ce929d0e0e4736'),
  (2, NULL, NULL, '[bold red]not markup[/] ' || chr(27) || '[2J <script>alert(1)</script>',
   NULL, NULL, NULL, NULL),
  (3, make_timestamp_ns(1760000000000000001), 'paiement-µ', e'quote " and\nnewline',
   '{}'::JSON, [], -0.0001::DOUBLE, '00000000000000000000000000000001')
) t(id, time, service, body, attributes, tags, value, trace_id)
ORDER BY id
"""


@pytest.fixture
def hard(store):
    return store.query(HARD_SQL)


def _render(table, fmt: str) -> str:
    buf = io.StringIO()
    console = make_console(buf, OutputPolicy(no_color=True), width=200)
    formats.write(table, fmt, buf, console=console)
    return buf.getvalue()


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("OBSCTL_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_registry_names_match_cli_choices():
    from obsctl.cli.options import OUTPUT_FORMATS

    assert formats.names() == list(OUTPUT_FORMATS)


@pytest.mark.parametrize(
    ("fmt", "ext"), [("table", "txt"), ("json", "json"), ("ndjson", "ndjson"), ("csv", "csv")]
)
def test_hard_types_golden(hard, fmt, ext):
    _golden(f"hard.{ext}", _render(hard, fmt))


def test_json_keeps_nanoseconds_and_embeds_json_columns(hard):
    rows = json.loads(_render(hard, "json"))
    assert rows[0]["time"] == "2025-10-09T08:53:20.123456789Z"
    assert rows[0]["attributes"]["nested"] == {"ok": True, "list": [1, 2]}
    assert rows[1]["attributes"] is None and rows[1]["time"] is None
    assert rows[2]["tags"] == []


def test_ndjson_and_csv_agree_with_json_cell_for_cell(hard):
    rows = json.loads(_render(hard, "json"))
    nd = [json.loads(line) for line in _render(hard, "ndjson").splitlines()]
    assert nd == rows
    parsed = list(csv.DictReader(io.StringIO(_render(hard, "csv"))))
    assert [r["time"] for r in parsed] == [r["time"] or "" for r in rows]
    assert [r["body"] for r in parsed][::2] == [r["body"] for r in rows][::2]
    # the ESC of a hostile line is made visible in CSV (it is cat-ed to terminals)
    assert parsed[1]["body"] == rows[1]["body"].replace("\x1b", "\\x1b")
    assert json.loads(parsed[0]["attributes"]) == rows[0]["attributes"]
    assert json.loads(parsed[0]["tags"]) == ["a", "b"]


def test_table_view_shows_hostile_text_inert(hard):
    out = _render(hard, "table")
    assert "\x1b" not in out
    assert "[bold red]not markup[/]" in out
    assert "\\x1b[2J" in out
    assert "<script>" in out


def test_table_view_on_a_terminal_has_no_escape_from_data(hard):
    buf = io.StringIO()
    console = make_console(buf, OutputPolicy(), width=200)
    console.force_terminal = True  # as if stdout were a TTY
    formats.write(hard, "table", buf, console=console)
    assert "\x1b[2J" not in buf.getvalue()


def _render_at(listing: formats.Listing, width: int) -> str:
    out = io.StringIO()
    con = make_console(out, OutputPolicy(no_color=True), width=width)
    formats.write(listing, "table", out, console=con)
    return out.getvalue()


def test_optional_columns_give_way_on_narrow_terminals_in_priority_order():
    import pyarrow as pa

    t = pa.table(
        {
            "name": ["checkout latency p99", "payment cpu"],
            "now": ["4.94s", "94.7%"],
            "trend": ["▁▁▁▁▁▁▁▂▇█▇▇▇▆", "▁▁▁▁▁▁▃▆████▇▆"],
            "with": ["+8 checkout, frontend", ""],
        }
    )
    cols = [
        formats.Column("name", min_width=20),
        formats.Column("now"),
        formats.Column("trend", optional=1),
        formats.Column("with", optional=2),
    ]
    wide = _render_at(formats.Listing(t, columns=cols), 120)
    assert "trend" in wide and "with" in wide
    mid = _render_at(formats.Listing(t, columns=cols), 50)
    assert "trend" in mid and "with" not in mid  # the higher number goes first
    narrow = _render_at(formats.Listing(t, columns=cols), 32)
    assert "trend" not in narrow and "4.94s" in narrow
    assert all(len(line) <= 32 for line in narrow.splitlines())


def test_machine_formats_ignore_the_table_view_helpers():
    import pyarrow as pa

    data = pa.table({"value": [0.947]})
    view = data.append_column("_now", pa.array(["94.7%"]))
    listing = formats.Listing(data, columns=[formats.Column("_now", "now")], view=view)
    out = io.StringIO()
    formats.write(listing, "json", out)
    assert json.loads(out.getvalue()) == [{"value": 0.947}]
    assert "94.7%" in _render_at(listing, 40)


def test_nested_timestamps_are_rfc3339_in_json():
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    typ = pa.list_(pa.struct([("service", pa.string()), ("start", ts)]))
    cell = [{"service": "a", "start": 1_774_542_615_000_000_001}]
    t = pa.table({"related": pa.array([cell], typ)})
    out = io.StringIO()
    formats.write(t, "ndjson", out)
    row = json.loads(out.getvalue())
    assert row["related"][0]["start"] == "2026-03-26T16:30:15.000000001Z"
