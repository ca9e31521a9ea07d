"""NAB evaluation of the causal metric-anomaly detector, plus a speed figure.

Ingests the Numenta Anomaly Benchmark series of ``../shared/corpus/metrics/nab`` with
obsctl itself (``ingest_paths`` into a temporary store: ``csv-metrics`` gauges, metric =
file stem, service = parent folder), runs ``metric_anomalies.causal_scores`` on each and
scores the alarms with NAB's published method (``numenta/NAB: nab/sweeper.py``,
``nab/runner.py``), re-implemented here:

* a detection inside a labelled window scores ``A_TP · σ(y) / σ(-1)`` with the scaled
  sigmoid ``σ(y) = 2/(1+e^{5y}) − 1`` of its relative position ``y = −(right − i + 1) /
  width`` (−1 at the left edge), and only the best (first) detection of a window counts;
* a window without a detection costs ``−A_FN``;
* a detection outside windows costs ``A_FP · σ(y)`` with ``y`` its distance past the
  previous window's right edge in window widths (``y = 3``, i.e. −A_FP, before any window);
* detections in the probationary period (the first ``min(⌊0.15·n⌋, 750)`` points) count
  for nothing;
* standard profile ``A_TP = 1, A_FP = 0.11, A_FN = 1``; the total is normalised as
  ``100 · (raw − null) / (perfect − null)`` with null = no detections and perfect =
  ``A_TP`` × the number of windows.

Usage: ``.venv/bin/python bench/nab.py [--corpus DIR] [--speed]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STANDARD = {"tp": 1.0, "fp": 0.11, "fn": 1.0}
PROBATION = 0.15


def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 0.987 at the left edge of a window, 0 at its right, −1 far past."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_length(n: int, percent: float = PROBATION) -> float:
    """Points at the start of a file where detections are ignored."""
    return min(math.floor(percent * n), percent * 5000)


def score_file(
    alarms: np.ndarray,
    windows: list[tuple[int, int]],
    weights: dict[str, float] = STANDARD,
) -> dict[str, float]:
    """NAB raw score of one file's alarms.

    Args:
        alarms: boolean per point.
        windows: ``(left, right)`` point indices (inclusive) of the labelled windows.
        weights: cost matrix (``tp``, ``fp``, ``fn``).

    Returns:
        ``raw`` (score), ``null`` (score of no detections), ``perfect``, ``tp`` (windows
        detected), ``fn``, ``fp`` (alarms outside windows, after probation).
    """
    n = alarms.size
    prob = probation_length(n)
    max_tp = scaled_sigmoid(-1.0)
    best: dict[int, float] = {}
    scorable = [w for w, (lo, hi) in enumerate(windows) if hi >= prob]
    fp_score = 0.0
    fp = 0
    for i in np.flatnonzero(alarms):
        if i < prob:
            continue
        inside = [w for w, (lo, hi) in enumerate(windows) if lo <= i <= hi]
        if inside:
            w = inside[0]
            lo, hi = windows[w]
            width = hi - lo + 1
            s = scaled_sigmoid(-(hi - i + 1) / width) * weights["tp"] / max_tp
            best[w] = max(best.get(w, -math.inf), s)
            continue
        prev = [(lo, hi) for lo, hi in windows if hi < i]
        if prev:
            lo, hi = prev[-1]
            y = abs(hi - i) / float(hi - lo + 1 - 1)
        else:
            y = 3.0
        fp_score += scaled_sigmoid(y) * weights["fp"]
        fp += 1
    tp_score = sum(best.get(w, -weights["fn"]) for w in scorable)
    return {
        "raw": tp_score + fp_score,
        "null": -weights["fn"] * len(scorable),
        "perfect": weights["tp"] * len(windows),
        "tp": float(sum(1 for w in scorable if w in best)),
        "fn": float(sum(1 for w in scorable if w not in best)),
        "fp": float(fp),
    }


def normalised(raw: float, null: float, perfect: float) -> float:
    """NAB's normalisation: null detector 0, perfect detector 100."""
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 100.0


def load_corpus(corpus: Path) -> list[tuple[str, np.ndarray, np.ndarray, list[tuple[int, int]]]]:
    """Ingest the NAB CSVs with obsctl; return (name, times ns, values, windows) per file."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    labels = json.loads((corpus / "labels" / "combined_windows.json").read_text())
    tmp = tempfile.mkdtemp(prefix="obsctl-nab-")
    store = Store.open(Path(tmp) / "store.duckdb")
    ingest_paths(store, [str(corpus / "data")])
    out = []
    for key in sorted(labels):
        path = corpus / "data" / key
        if not path.exists():
            continue
        t = store.query(
            "SELECT epoch_ns(timestamp) AS t, value FROM metric_points "
            "WHERE metric_name = $m AND service_name = $s ORDER BY timestamp",
            {"m": path.stem, "s": path.parent.name},
        )
        times = t.column("t").to_numpy()
        vals = t.column("value").to_numpy().astype(np.float64)
        wins = []
        for lo, hi in labels[key]:
            lo_ns = np.datetime64(lo.replace(" ", "T"), "ns").astype(np.int64)
            hi_ns = np.datetime64(hi.replace(" ", "T"), "ns").astype(np.int64)
            wins.append((int(np.searchsorted(times, lo_ns)), int(np.searchsorted(times, hi_ns))))
        out.append((key, times, vals, wins))
    store.close()
    return out


def run(corpus: Path, **detector_kw: object) -> float:
    """Score every file, print the table, return the normalised overall score."""
    from obsctl.analysis.metric_anomalies import causal_scores

    files = load_corpus(corpus)
    tot = {"raw": 0.0, "null": 0.0, "perfect": 0.0, "tp": 0.0, "fn": 0.0, "fp": 0.0}
    print(f"{'series':58} {'windows':>8} {'det':>4} {'FA':>4} {'score':>7}")
    for key, _times, vals, wins in files:
        _score, alarms = causal_scores(vals, **detector_kw)  # type: ignore[arg-type]
        r = score_file(alarms, wins)
        for k in tot:
            tot[k] += r[k]
        ns = normalised(r["raw"], r["null"], r["perfect"]) if wins else float("nan")
        print(
            f"{key:58} {len(wins):>8} {int(r['tp']):>4} {int(r['fp']):>4} "
            f"{ns:>7.1f}  (raw {r['raw']:+.3f})"
        )
    overall = normalised(tot["raw"], tot["null"], tot["perfect"])
    print(
        f"{'TOTAL':58} {int(tot['tp'] + tot['fn']):>8} {int(tot['tp']):>4} "
        f"{int(tot['fp']):>4} {overall:>7.1f}  (raw {tot['raw']:+.3f}, "
        f"null {tot['null']:+.0f}, perfect {tot['perfect']:+.0f})"
    )
    return overall


def speed(n_series: int = 10_000, n_points: int = 1_000) -> float:
    """Seconds for the batch detector over ``n_series × n_points`` synthetic series."""
    from obsctl.analysis.metric_anomalies import detect

    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 1.0, (n_series, n_points))
    x[::7, 600:] += 8.0
    t = time.perf_counter()
    detect(x, n_points // 3)
    dt = time.perf_counter() - t
    print(f"speed: detect() over {n_series}×{n_points} series × points: {dt:.2f} s")
    return dt


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus/metrics/nab")
    p.add_argument("--speed", action="store_true", help="also time the batch detector")
    a = p.parse_args()
    run(a.corpus)
    if a.speed:
        speed()


if __name__ == "__main__":
    main()
