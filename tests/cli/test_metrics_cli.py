"""``obsctl metrics list|show|compare``: stdout, stderr and exit code as a user sees them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from obsctl.cli.exit_codes import ExitCode
from obsctl.render.metrics import braille_grid, fmt_change, fmt_value, grid_text
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo incident's metrics (loaded once)."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("demo-metrics-cli") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO / "metrics")])
    return path


@pytest.fixture
def demo(cli, demo_store, monkeypatch):
    """Run obsctl against the demo store, 100 columns wide."""
    monkeypatch.setenv("OBSCTL_STORE", str(demo_store))
    monkeypatch.setenv("COLUMNS", "100")
    return cli


def test_list_table(demo):
    r = demo("metrics", "list")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:5] == ["metric", "type", "unit", "series", "points"]
    assert any(ln.startswith("process.cpu.utilization ") and " gauge " in ln for ln in lines)
    assert all(len(ln) <= 100 for ln in lines)
    assert r.stderr == ""


def test_list_json(demo):
    r = demo("metrics", "list", "--format", "json")
    rows = {row["metric"]: row for row in json.loads(r.stdout)}
    assert rows["payment.retries"]["type"] == "counter"
    assert rows["payment.retries"]["first"].endswith("Z")


def test_show_chart(demo):
    r = demo("metrics", "show", "process.cpu.utilization", "--service", "payment")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "process.cpu.utilization · gauge (1) · value per 30s"
    assert lines[1].lstrip().startswith("98.6% ┤")
    assert any(ln.lstrip().startswith("0% ┤") for ln in lines)
    assert any("16:30" in ln for ln in lines)
    assert lines[-1].split() == ["1", "payment"]
    assert all(len(ln) <= 100 for ln in lines)


def test_show_csv_numbers(demo):
    r = demo("metrics", "show", "payment.retries", "--format", "csv", "--step", "1m")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["series", "labels", "service", "time", "value"]
    assert {row["series"] for row in rows} == {
        "checkout{reason=server_error}",
        "checkout{reason=timeout}",
    }
    assert all(row["time"].endswith(":00.000000000Z") for row in rows)


def test_show_histogram_ndjson_has_quantiles(demo):
    r = demo(
        "metrics", "show", "http.server.request.duration", "-s", "payment",
        "-l", "http.response.status_code=200", "-f", "ndjson",
    )  # fmt: skip
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert {row["quantile"] for row in rows} == {0.5, 0.95, 0.99}


def test_unknown_metric_is_not_found_with_suggestion(demo):
    r = demo("metrics", "show", "process.cpu.utilizaton")
    assert r.exit_code == ExitCode.NOT_FOUND
    assert r.stdout == ""
    assert r.stderr == (
        "obsctl: error: no metric named 'process.cpu.utilizaton'; did you mean"
        " process.cpu.utilization, process.memory.usage?\n"
    )


def test_bad_label_and_step_are_usage_errors(demo):
    r = demo("metrics", "show", "payment.retries", "--label", "nokey")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    r = demo("metrics", "show", "payment.retries", "--step", "often")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""


def test_compare_table_and_json(demo):
    r = demo("metrics", "compare", "--window", "2026-03-26T16:34Z..", "--baseline",
             "2026-03-26T16:12Z..2026-03-26T16:29Z", "-n", "10")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == [
        "metric", "series", "baseline", "window", "change", "change", "%", "robust", "z",
    ]  # fmt: skip
    assert any("process.cpu.utilization" in ln and "payment" in ln for ln in lines[1:11])
    assert lines[-1].startswith("window 2026-03-26 16:34:00 → end vs baseline")
    assert r.stderr.startswith("showing 10 of ")
    r = demo("metrics", "compare", "-w", "15m", "-b", "15m", "-f", "json")
    rows = json.loads(r.stdout)
    assert {"metric", "series", "baseline", "window", "change_ratio", "robust_z"} <= set(rows[0])


def test_hostile_label_values_are_inert_in_the_legend(cli, store, tmp_path, monkeypatch):
    from obsctl.store import Store

    path = tmp_path / "hostile.duckdb"
    with Store.open(path) as s:
        attrs = json.dumps({"route": "[/bold]\x1b[2J<script>"})
        for i in range(3):
            s.con.execute(
                "INSERT INTO metric_points (metric_name, metric_type, service_name, attributes,"
                " timestamp, value, source_id) VALUES ('g', 'gauge', 'svc', ?,"
                " make_timestamp_ns(?), ?, 1)",
                [attrs, i * 10**10, float(i)],
            )
    monkeypatch.setenv("OBSCTL_STORE", str(path))
    r = cli("metrics", "show", "g")
    assert r.exit_code == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert r.stdout.splitlines()[-1].split(None, 1)[1] == "svc{route=[/bold]\\x1b[2J<script>}"


# --------------------------------------------------------------------------- geometry


def test_braille_grid_exact():
    grid = braille_grid([[(0, 0), (1, 1), (2, 2), (3, 3)]], 2, 1, (0, 3), (0, 3))
    assert grid_text(grid) == "⡠⠊"
    assert [who for _, who in grid[0]] == [0, 0]
    # a gap (None) breaks the line; a flat line sits on the bottom row
    grid = braille_grid([[(0, 0), None, (3, 0)]], 2, 2, (0, 3), (0, 1))
    assert grid_text(grid) == "\n⡀⢀"


def test_legend_drops_shared_pairs():
    from obsctl.render.metrics import legend_labels

    assert legend_labels(["p95 a{x=1,y=2}", "p95 a{x=1,y=3}"]) == (
        ["p95 a{y=2}", "p95 a{y=3}"],
        "x=1",
    )
    assert legend_labels(["a", "b"]) == (["a", "b"], "")


def test_fmt_value_units():
    assert fmt_value(0.25, "s") == "250ms"
    assert fmt_value(0.275, "1") == "27.5%"
    assert fmt_value(1536, "By") == "1.5 KiB"
    assert fmt_value(3.4, "{retry}", "rate/s") == "3.4/s"
    assert fmt_value(1200.0, None) == "1.2k"


def test_fmt_change_reads_like_a_person_says_it():
    assert fmt_change(0.27, 0.95, 0.95 / 0.27 - 1) == "×3.52"
    assert fmt_change(100, 135, 0.35) == "+35%"
    assert fmt_change(100, 40, -0.6) == "−60%"
    assert fmt_change(0, 0.25, None) == "new"
    assert fmt_change(3.0, 0, -1.0) == "gone"


def test_anomalies_rank_the_incident_series_first(cli):
    import json as _json

    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "metrics")
    r = cli("metrics", "anomalies", "--since", "2026-03-26T16:29:30Z", "-n", "10", "-f", "ndjson")
    assert r.exit_code == 0, r.stderr
    rows = [_json.loads(line) for line in r.stdout.splitlines()]
    for field in ("metric", "labels", "service", "start", "end", "direction", "magnitude", "score"):
        assert field in rows[0]
    # the cause (payment's CPU saturating) and the symptom (checkout's latency) come first
    top2 = rows[:2]
    cpu = next(row for row in top2 if row["metric"] == "process.cpu.utilization")
    assert cpu["service"] == "payment" and cpu["direction"] == "up"
    assert "2026-03-26T16:29:30" <= cpu["start"] <= "2026-03-26T16:36:00"
    latency = next(row for row in top2 if row is not cpu)
    assert latency["metric"].startswith("http.server.request.duration p")
    assert latency["direction"] == "up"
    assert "checkout" in {latency["service"]} | {r["service"] for r in latency["related"]}
    # one row per histogram series, not one per quantile; folded series are listed
    keys = [(row["metric"].rsplit(" p", 1)[0], row["labels"], row["service"]) for row in rows]
    assert len(keys) == len(set(keys))
    related = latency["related"]
    folded = {(r["metric"].rsplit(" p", 1)[0], r["labels"], r["service"]) for r in related}
    assert not folded & (set(keys) - {keys[rows.index(latency)]})


def test_anomalies_no_group_lists_every_series(cli):
    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "metrics")
    args = ("metrics", "anomalies", "--since", "2026-03-26T16:29:30Z", "-n", "0", "-f", "ndjson")
    grouped = cli(*args).stdout.splitlines()
    each = cli(*args, "--no-group").stdout.splitlines()
    assert len(each) > len(grouped)
    assert "related" not in each[0]


def test_anomalies_table_view(cli):
    from tests.conftest import FIXTURES

    cli("ingest", FIXTURES / "checkout-incident" / "metrics")
    r = cli("metrics", "anomalies", "--since", "20m", "-n", "5")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].split()[:3] == ["score", "metric", "series"]
    assert "vs baseline" in r.stdout
