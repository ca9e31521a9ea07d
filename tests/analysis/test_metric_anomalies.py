"""The metric anomaly detector: synthetic shapes, NAB scoring, the demo incident, speed."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from obsctl.analysis import metric_anomalies as ma

ROOT = Path(__file__).resolve().parents[2]


def _nab():  # bench/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("nab_bench", ROOT / "bench" / "nab.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nab_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def _noise(n: int, seed: int = 0, level: float = 10.0, sd: float = 0.5) -> np.ndarray:
    return np.random.default_rng(seed).normal(level, sd, n)


def test_level_shift_start_and_direction() -> None:
    x = _noise(300)
    x[200:] += 5.0
    d = ma.detect(x[None, :], 100)
    assert d.direction[0] == 1
    assert abs(100 + d.start[0] - 200) <= 2
    assert ma.KINDS[d.kind[0]] == "level_shift"
    assert d.z[0] > 5


def test_spike_vs_shift() -> None:
    spike = _noise(300, 1)
    spike[220] += 20.0
    shift = _noise(300, 2)
    shift[220:] -= 5.0
    d = ma.detect(np.vstack([spike, shift]), 100)
    assert ma.KINDS[d.kind[0]] == "spike"
    assert ma.KINDS[d.kind[1]] == "level_shift"
    assert d.direction[1] == -1
    assert d.score[1] > d.score[0]


def test_trend() -> None:
    x = _noise(300, 3, sd=0.2)
    x[150:] += np.linspace(0, 15, 150)
    d = ma.detect(x[None, :], 100)
    assert d.direction[0] == 1
    assert ma.KINDS[d.kind[0]] in {"trend", "level_shift"}
    assert 100 + d.start[0] < 200


def test_seasonal_series_without_false_alarms() -> None:
    t = np.arange(3000)
    x = 10 + 5 * np.sin(2 * np.pi * t / 96) + np.random.default_rng(4).normal(0, 0.3, t.size)
    assert ma.seasonal_period(x[:450]) in range(94, 99)
    _, alarms = ma.causal_scores(x)
    assert alarms[450:].sum() == 0
    x[2000:2040] += 12.0
    _, alarms = ma.causal_scores(x)
    hits = np.flatnonzero(alarms)
    assert hits.size and 2000 <= hits[0] < 2040


def test_flat_blip_ranks_below_real_shift() -> None:
    flat = np.full(300, 100.0)
    flat[250] = 180.0
    noisy = _noise(300, 5, level=50.0, sd=5.0)
    noisy[200:] += 2.0
    sat = _noise(300, 6, level=0.27, sd=0.02)
    sat[200:] = 0.97 + np.random.default_rng(7).normal(0, 0.01, 100)
    d = ma.detect(np.vstack([flat, noisy, sat]), 100)
    assert d.score[2] > d.score[0]
    assert d.score[2] > d.score[1]


def test_saturating_utilisation_outranks_a_symptom_of_the_same_size() -> None:
    # a CPU going 0.27 → 0.95 (×3.5) and a latency going ×3.5: the resource near its
    # ceiling is the headline, by queueing theory (delays grow as 1 / (1 − u))
    cpu = _noise(300, 9, level=0.27, sd=0.02)
    cpu[200:] = 0.95 + np.random.default_rng(10).normal(0, 0.005, 100)
    lat = _noise(300, 11, level=0.2, sd=0.015)
    lat[200:] *= 0.95 / 0.27
    d = ma.detect(np.vstack([cpu, lat]), 100, np.array([1.0, 0.0]))
    assert d.score[0] > d.score[1]
    # the same CPU series, not known as a utilisation, scores like the latency
    d2 = ma.detect(np.vstack([cpu, lat]), 100)
    assert d2.score[0] == pytest.approx(d2.score[1], rel=0.1)


def test_utilisation_capacity_reads_names_units_and_range() -> None:
    row = np.array([0.2, 0.5, 0.9])
    assert ma.utilisation_capacity("process.cpu.utilization", "1", row) == 1.0
    assert ma.utilisation_capacity("node_filesystem_avail_ratio", None, row) == 1.0
    assert ma.utilisation_capacity("disk_used_percent", None, row * 100) == 100.0
    assert ma.utilisation_capacity("system.cpu.utilization", "1", row * 4) == 0.0  # > 1
    assert ma.utilisation_capacity("queue.size", "1", row) == 0.0


def test_mostly_zero_baseline_uses_its_bursts_as_scale() -> None:
    # a retry counter that is 0 most of the time but bursts now and then: the same burst
    # size later is not an anomaly (a MAD of 0 would make it an infinite z)
    rng = np.random.default_rng(12)
    x = np.zeros(300)
    x[rng.choice(200, 20, replace=False)] = 3.0
    x[[230, 231, 260, 261]] = 3.0
    d = ma.detect(x[None, :], 200)
    assert d.score[0] < 3
    # a sustained rise from an all-zero baseline is "new", and ranks
    y = np.zeros(300)
    y[220:] = 0.5
    d = ma.detect(y[None, :], 200)
    assert d.direction[0] == 1 and d.score[0] > 5


def test_sparse_baseline_is_trusted_less() -> None:
    dense = _noise(300, 13, level=0.1, sd=0.005)
    dense[200:] = 2.0
    sparse = dense.copy()
    sparse[:200][np.arange(200) % 50 != 0] = np.nan  # 4 baseline points
    d = ma.detect(np.vstack([dense, sparse]), 200)
    assert d.score[1] < 0.5 * d.score[0]


def test_episode_starts_on_data_not_in_a_gap() -> None:
    x = _noise(300, 14)
    x[150:240] = np.nan
    x[240:] += 20
    d = ma.detect(x[None, :], 100)
    assert 100 + d.start[0] == 240


def test_group_related_folds_one_story_into_one_row(
    load: Callable[..., object], store: object
) -> None:
    load(ROOT / "fixtures" / "checkout-incident" / "metrics")
    every = ma.anomalies(store, min_score=0.0)  # type: ignore[arg-type]
    grouped = ma.group_related(every)
    assert grouped.num_rows < every.num_rows
    # every series appears once: as a leader or folded into one
    seen = [(r["metric"], r["service"], r["labels"]) for r in grouped.to_pylist()]
    for row in grouped.to_pylist():
        seen += [(m["metric"], m["service"], m["labels"]) for m in row["related"]]
        for m in row["related"]:  # folded rows moved the same way, no stronger than it
            assert m["score"] <= row["score"]
            assert m["metric"].split(" p")[0] == row["metric"].split(" p")[0]
    every_key = [(r["metric"], r["service"], r["labels"]) for r in every.to_pylist()]
    assert sorted(seen) == sorted(every_key)
    scores = grouped.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True)


def test_nab_scoring_hand_cases() -> None:
    nab = _nab()
    n = 1000  # probation = 150 points
    wins = [(400, 499), (700, 799)]
    none = np.zeros(n, bool)
    r = nab.score_file(none, wins)
    assert nab.normalised(r["raw"], r["null"], r["perfect"]) == 0.0
    perfect = none.copy()
    perfect[[400, 700]] = True
    r = nab.score_file(perfect, wins)
    assert nab.normalised(r["raw"], r["null"], r["perfect"]) == pytest.approx(100.0)
    early, late = none.copy(), none.copy()
    early[[410, 710]] = True
    late[[490, 790]] = True
    assert nab.score_file(early, wins)["raw"] > nab.score_file(late, wins)["raw"]
    fp = perfect.copy()
    fp[300] = True  # before any window: costs exactly A_FP
    assert nab.score_file(fp, wins)["raw"] == pytest.approx(
        nab.score_file(perfect, wins)["raw"] - 0.11
    )
    assert nab.score_file(fp, wins)["fp"] == 1
    prob = perfect.copy()
    prob[100] = True  # in the probationary period: ignored
    assert nab.score_file(prob, wins)["raw"] == nab.score_file(perfect, wins)["raw"]
    twice = perfect.copy()
    twice[[450, 750]] = True  # later detections in a window add nothing
    assert nab.score_file(twice, wins)["raw"] == nab.score_file(perfect, wins)["raw"]


def test_demo_incident(load: Callable[..., object], store: object) -> None:
    load(ROOT / "fixtures" / "checkout-incident" / "metrics")
    t = ma.anomalies(store)  # type: ignore[arg-type]
    assert t.num_rows > 0
    rows = t.to_pylist()[:5]
    hit = [
        r for r in rows if r["metric"] == "process.cpu.utilization" and r["service"] == "payment"
    ]
    assert hit, [(r["metric"], r["service"]) for r in rows]
    r = hit[0]
    assert r["direction"] == "up"
    start = r["start"].strftime("%H:%M")
    assert "16:28" <= start <= "16:36", start
    assert len(r["sparkline"]) == ma.SPARK_POINTS


def test_speed_smoke() -> None:
    x = np.random.default_rng(8).normal(0, 1, (2000, 500))
    x[::10, 300:] += 6
    d = ma.detect(x, 150)
    assert (d.direction[::10] == 1).all()


def test_rolling_max_matches_the_definition() -> None:
    rng = np.random.default_rng(15)
    for n, span in [(1, 3), (10, 3), (100, 7), (1000, 64), (5, 10), (97, 97), (98, 97)]:
        a = rng.normal(size=n)
        expected = np.array([a[max(0, i - span + 1) : i + 1].max() for i in range(n)])
        assert np.array_equal(ma.rolling_max(a, span), expected), (n, span)


def test_an_old_record_does_not_mask_a_new_failure() -> None:
    # an early excursion to 0, then a long stable stretch, then a sustained drop that
    # stays above that old record: the drop is news
    x = _noise(12_000, 16, level=80.0, sd=2.0)
    x[1000:1010] = 0.0
    x[11_000:11_300] = 40.0
    _, alarms = ma.causal_scores(x)
    hits = np.flatnonzero(alarms)
    assert any(11_000 <= h < 11_300 for h in hits), hits
