"""Metric anomalies: which series left their baseline, when, which way and how far.

Method
======
Every series is a row of a matrix ``values[series, time]`` on a common time grid (NaN for
gaps), so each step below is one vectorised NumPy operation over all series at once.

1. **Robust baseline.** The baseline columns give, per series, the median ``m`` and the
   scale ``s = 1.4826 · MAD`` (the standard deviation for Gaussian noise, but unmoved by
   the outliers an incident brings). ``s`` is floored at 1 % of ``|m|``: a flat series
   (MAD 0) must not turn a rounding blip into an infinite z-score. Each point then gets a
   robust z-score ``z = (x − m) / s``.
2. **Persistence before magnitude.** ``z`` is smoothed by a running median of
   ``PERSIST`` points, so a change counts only when most of a few consecutive points
   agree. One-point blips vanish here (they are reported as *spikes*, with a damped
   score), while a level shift, a trend or a saturation keeps its full size.
3. **Where the change starts and ends.** From the point of largest smoothed deviation,
   the episode extends backwards and forwards while the smoothed z stays beyond
   ``START_Z`` on the same side: its first column is the start (when it began, not when
   it peaked), its last the end.
4. **Kind and score.** The episode is a *level shift* (it lasts to the end), a *spike*
   (shorter than ``PERSIST``), a *trend* (the deviation grows steadily across the
   episode) or *transient*; a series whose median stays but whose spread grows is a
   *variance* change. The score is ``log2(1 + |z|)`` damped for short episodes and
   boosted by the relative change, so a saturated CPU (0.27 → 0.97, ×3.6) ranks above a
   noisy series moving by a few percent and above a flat series with a single blip.

The batch detector (``detect``) judges a whole window at once, as an investigation does.
NAB-style evaluation needs a *causal* detector instead, one that at each point uses only
the past: ``causal_scores`` computes, per point, robust z-scores against a trailing
baseline (median/MAD of the previous ``window`` points, ending before the horizon being
judged) at three horizons (1 point, the median of 3, the median of 9), each against its
own threshold (a single point must be far out; a sustained move may be smaller) and only
when the value is *novel* — beyond the expanding min/max of everything before it (the
bursts a server shows every day are not news; measured on NAB this gate cut false alarms
from 154 to 12 for one missed window more), after
removing a daily/weekly-style seasonality when the autocorrelation of the first 15 % of
the series shows one (the residual against the same phase of the previous periods is
judged instead). An alarm is raised when any horizon crosses its threshold, then the
detector stays quiet for a refractory period so one anomaly yields one alarm. All
thresholds are the method's own, the same for every series; ``bench/nab.py`` measures it.

Why this shape: median/MAD statistics are the textbook robust estimators (breakdown
point 50 %), they need no training, and they read in the user's units ("3.6× its
baseline, 35 MADs"). Counters are judged on their rate and histograms on their
quantiles: that is the series extraction's job (``obsctl.analysis.metrics``); this module
sees plain series.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from obsctl.store import Store

MAD_SCALE = 1.4826
"""MAD → standard deviation for Gaussian noise."""

REL_FLOOR = 0.01
"""The baseline scale is at least this fraction of ``|median|`` (flat series)."""

PERSIST = 5
"""Running-median length (points) that a deviation must survive to count as sustained."""

START_Z = 3.0
"""An episode lasts while the smoothed robust z stays beyond this, on one side."""

SPARK_POINTS = 24
"""Points in a sparkline."""

KINDS = ("level_shift", "spike", "trend", "transient", "variance", "none")
"""What ``detect`` calls a change."""

# Causal detector (NAB): horizons in points and the robust-z threshold of each.
HORIZONS: tuple[tuple[int, float], ...] = ((1, 8.0), (3, 5.0), (9, 3.5))
"""(horizon, threshold): a single point must be far out, a sustained move less so."""

WINDOW = 256
"""Trailing baseline length (points) of the causal detector."""

REFRACTORY = 128
"""Points the causal detector stays quiet after an alarm."""

SEASONAL_ACF = 0.6
"""Autocorrelation at the best lag above which a series is treated as seasonal."""


@dataclass(frozen=True)
class Detection:
    """The batch detector's verdict, one array entry per series.

    Attributes:
        score: ranking score (0 = nothing; larger = more anomalous).
        start: column where the change began (-1 when none).
        end: last column of the change (-1 when none).
        peak: column of the largest sustained deviation (-1 when none).
        direction: +1 up, -1 down, 0 none.
        z: robust magnitude, Δ median vs baseline in baseline MADs (×1.4826).
        rel: relative change of the episode median vs the baseline median (NaN if m=0).
        baseline: baseline median.
        level: median of the episode (the new level).
        kind: index into ``KINDS``.
    """

    score: np.ndarray
    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    direction: np.ndarray
    z: np.ndarray
    rel: np.ndarray
    baseline: np.ndarray
    level: np.ndarray
    kind: np.ndarray


def _robust_baseline(base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and floored MAD scale of each row (NaN-aware)."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmedian(base, axis=1)
            mad = np.nanmedian(np.abs(base - m[:, None]), axis=1) * MAD_SCALE
    s = np.fmax(mad, REL_FLOOR * np.abs(m))
    s = np.where(s > 0, s, 1e-9)
    return m, s


def _running_median(z: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Centered running median of ``k`` points along axis 1 (NaN-aware, chunked rows)."""
    if z.shape[1] < k:
        return z.copy()
    pad = k // 2
    out = np.empty_like(z)
    import warnings

    from numpy.lib.stride_tricks import sliding_window_view

    for i in range(0, z.shape[0], chunk):
        block = np.pad(z[i : i + chunk], ((0, 0), (pad, k - 1 - pad)), constant_values=np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[i : i + chunk] = np.nanmedian(sliding_window_view(block, k, axis=1), axis=2)
    return out


def detect(values: np.ndarray, baseline_cols: int) -> Detection:
    """Judge every series of a window against its own baseline, all at once.

    Args:
        values: ``[series, time]`` float matrix, NaN for gaps.
        baseline_cols: the first ``baseline_cols`` columns are the baseline; the rest is
            the window judged. Clamped to ``[2, time - 1]``.

    Returns:
        A ``Detection`` of arrays of length ``series``.
    """
    x = np.asarray(values, dtype=np.float64)
    n_s, n_t = x.shape
    b = int(min(max(baseline_cols, 2), max(n_t - 1, 1)))
    m, s = _robust_baseline(x[:, :b])
    post = x[:, b:]
    z = (post - m[:, None]) / s[:, None]
    zs = _running_median(z, PERSIST)
    absz = np.where(np.isnan(zs), -1.0, np.abs(zs))
    peak = np.argmax(absz, axis=1)
    rows = np.arange(n_s)
    zpk = zs[rows, peak]
    zpk = np.where(np.isnan(zpk), 0.0, zpk)
    d = np.sign(zpk)
    # Episode: contiguous run around the peak where d·zs ≥ START_Z (NaN gaps are bridged).
    inside = np.where(np.isnan(zs), True, d[:, None] * zs >= START_Z)
    cols = np.arange(post.shape[1])
    out_idx = np.where(~inside, cols, -1)
    before = np.where(cols[None, :] <= peak[:, None], out_idx, -1).max(axis=1)
    start = before + 1
    out_after = np.where(~inside & (cols[None, :] >= peak[:, None]), cols, post.shape[1])
    end = out_after.min(axis=1) - 1
    has = (np.abs(zpk) >= START_Z) & (end >= start)
    # Raw spikes (a lone point far out) survive only in z, not in zs.
    rawabs = np.where(np.isnan(z), -1.0, np.abs(z))
    rpeak = np.argmax(rawabs, axis=1)
    zraw = z[rows, rpeak]
    zraw = np.where(np.isnan(zraw), 0.0, zraw)
    spike = ~has & (np.abs(zraw) >= 2 * START_Z)
    start = np.where(has, start, np.where(spike, rpeak, -1))
    end = np.where(has, end, np.where(spike, rpeak, -1))
    peak = np.where(has, peak, np.where(spike, rpeak, -1))
    d = np.where(has, d, np.where(spike, np.sign(zraw), 0)).astype(np.int8)
    # Episode median (the new level) and its z.
    in_ep = (cols[None, :] >= start[:, None]) & (cols[None, :] <= end[:, None])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmedian(np.where(in_ep, post, np.nan), axis=1)
        post_mad = np.nanmedian(np.abs(post - np.nanmedian(post, axis=1)[:, None]), axis=1)
    level = np.where(start >= 0, level, np.nanmedian(post, axis=1) if post.size else m)
    zl = (level - m) / s
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(m != 0, (level - m) / np.abs(m), np.nan)
    dur = np.where(start >= 0, end - start + 1, 0)
    # Kind.
    kind = np.full(n_s, KINDS.index("none"), dtype=np.int8)
    trend = np.zeros(n_s, dtype=bool)
    long_ep = has & (dur >= 3 * PERSIST)
    if long_ep.any():
        # Trend: the deviation inside the episode rises steadily (first third ≪ last third).
        third = np.maximum(dur // 3, 1)
        first = (cols[None, :] >= start[:, None]) & (cols[None, :] < (start + third)[:, None])
        last = (cols[None, :] > (end - third)[:, None]) & (cols[None, :] <= end[:, None])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            z1 = np.nanmedian(np.where(first, d[:, None] * z, np.nan), axis=1)
            z3 = np.nanmedian(np.where(last, d[:, None] * z, np.nan), axis=1)
        trend = long_ep & (z3 > 2.5 * np.fmax(z1, START_Z)) & (end < post.shape[1] - 1)
        trend |= long_ep & (z3 > 2.5 * np.fmax(z1, START_Z)) & (z1 < 2 * START_Z)
    to_end = has & (end >= post.shape[1] - 1)
    kind = np.where(has, KINDS.index("transient"), kind)
    kind = np.where(to_end, KINDS.index("level_shift"), kind)
    kind = np.where(trend, KINDS.index("trend"), kind)
    kind = np.where(spike, KINDS.index("spike"), kind)
    var_ratio = post_mad * MAD_SCALE / s
    variance = (start < 0) & (var_ratio >= 3.0)
    kind = np.where(variance, KINDS.index("variance"), kind).astype(np.int8)
    # Score: robust magnitude, damped for short episodes, boosted by relative change.
    zmag = np.where(has, np.abs(zpk), 0.0)
    persist = np.clip(dur / (4.0 * PERSIST), 0.0, 1.0)
    relb = np.clip(np.nan_to_num(np.abs(rel), nan=1.0), 0.0, 4.0)
    score = np.log2(1.0 + zmag) * (0.5 + 0.5 * persist) * (1.0 + relb)
    score = np.where(spike, 0.25 * np.log2(1.0 + np.abs(zraw)), score)
    score = np.where(variance, 0.5 * np.log2(np.fmax(var_ratio, 1.0)), score)
    zout = np.where(has, zl, np.where(spike, zraw, 0.0))
    return Detection(
        score=np.nan_to_num(score),
        start=start.astype(np.int64),
        end=end.astype(np.int64),
        peak=peak.astype(np.int64),
        direction=d,
        z=zout,
        rel=rel,
        baseline=m,
        level=level,
        kind=kind,
    )


# ----------------------------------------------------------------------------------------
# Causal (streaming) detector, for per-timestamp evaluation (NAB).


def seasonal_period(x: np.ndarray, *, max_lag: int | None = None) -> int:
    """The dominant period of a series by autocorrelation, or 0 when it has none.

    Args:
        x: one series (NaN allowed: filled with the median).
        max_lag: longest period considered (default: a third of the series).

    Returns:
        The lag (≥ 4) of the highest autocorrelation peak when that peak exceeds
        ``SEASONAL_ACF``; 0 otherwise.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 16 or np.all(np.isnan(x)):
        return 0
    y = np.where(np.isnan(x), np.nanmedian(x), x)
    y = y - y.mean()
    n = y.size
    if not np.any(y):
        return 0
    f = np.fft.rfft(y, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    acf = acf / acf[0] / (n - np.arange(n)) * n
    hi = min(max_lag or n // 3, n - 1)
    if hi < 5:
        return 0
    lags = np.arange(4, hi)
    a = acf[4:hi]
    # Local maxima only: a slowly varying series has a high acf at every small lag.
    peaks = (a[1:-1] > a[:-2]) & (a[1:-1] >= a[2:])
    if not peaks.any():
        return 0
    cand = lags[1:-1][peaks]
    vals = a[1:-1][peaks]
    # A true seasonal peak stands above the trough before it.
    i = int(np.argmax(vals))
    trough = a[: cand[i] - 4].min() if cand[i] > 4 else 0
    if vals[i] < SEASONAL_ACF or vals[i] - trough < 0.3:
        return 0
    return int(cand[i])


def _trailing_stats(y: np.ndarray, window: int, lag: int, stride: int) -> tuple[Any, Any]:
    """Median and scale of ``y[t-lag-window : t-lag]`` for every t, computed every
    ``stride`` points and held in between (still causal: only earlier points are used)."""
    import warnings

    from numpy.lib.stride_tricks import sliding_window_view

    n = y.size
    m = np.full(n, np.nan)
    s = np.full(n, np.nan)
    if n < window + lag + 1:
        return m, s
    win = sliding_window_view(y, window)[::stride]  # window k covers [k*stride, +window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=1)
        mad = np.nanmedian(np.abs(win - med[:, None]), axis=1) * MAD_SCALE
    # Stats of window k are usable from t = k*stride + window + lag on.
    first = np.arange(med.size) * stride + window + lag
    idx = np.searchsorted(first, np.arange(n), side="right") - 1
    ok = idx >= 0
    m[ok] = med[idx[ok]]
    s[ok] = mad[idx[ok]]
    return m, s


def causal_scores(
    x: np.ndarray,
    *,
    window: int = WINDOW,
    refractory: int = REFRACTORY,
    season_fit: float = 0.15,
    novelty: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point anomaly score and alarms of one series, each using only its past.

    Args:
        x: the series (NaN for gaps).
        window: trailing baseline length in points.
        refractory: points kept quiet after an alarm.
        season_fit: leading fraction of the series on which seasonality is detected.
        novelty: alarm only on values beyond everything the series showed before (its
            expanding min/max): recurring bursts of a known size are not news.

    Returns:
        ``(score, alarm)``: the score (max over horizons of |robust z| / threshold, so
        ≥ 1 means alarm-worthy) and the boolean alarms after the refractory filter.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    y = x
    period = seasonal_period(x[: max(int(season_fit * n), 16)])
    if period and n > 3 * period:
        # Residual against the same phase of the last three periods (median: robust).
        lagged = np.full((3, n), np.nan)
        for j in range(1, 4):
            lagged[j - 1, j * period :] = x[: n - j * period]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = x - np.nanmedian(lagged, axis=0)
    stride = max(1, window // 16)
    score = np.zeros(n)
    import warnings

    from numpy.lib.stride_tricks import sliding_window_view

    for k, thr in HORIZONS:
        m, s = _trailing_stats(y, window, k, stride)
        s = np.fmax(s, REL_FLOOR * np.abs(m))
        s = np.where(s > 0, s, np.nan)
        if k == 1:
            cur = y
        else:
            cur = np.full(n, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                cur[k - 1 :] = np.nanmedian(sliding_window_view(y, k), axis=1)
        z = np.abs(cur - m) / s / thr
        if novelty:
            # Novel: beyond everything the series (or residual) showed before the horizon.
            past = np.concatenate([[np.nan] * k, y[: n - k]])
            hi_ = np.fmax.accumulate(np.nan_to_num(past, nan=-np.inf))
            lo_ = np.fmin.accumulate(np.nan_to_num(past, nan=np.inf))
            novel = (cur > hi_) | (cur < lo_)
            z = np.where(novel, z, np.fmin(z, 0.99))
        score = np.fmax(score, np.nan_to_num(z, nan=0.0))
    alarm = _refractory(score >= 1.0, refractory)
    return score, alarm


def _refractory(hits: np.ndarray, refractory: int) -> np.ndarray:
    """Keep a hit only when no kept hit precedes it within ``refractory`` points."""
    idx = np.flatnonzero(hits)
    keep: list[int] = []
    last = -(10**18)
    for i in idx:  # loops over candidate alarms only, not over points
        if i - last > refractory:
            keep.append(int(i))
            last = i
    out = np.zeros(hits.size, dtype=bool)
    out[keep] = True
    return out


# ----------------------------------------------------------------------------------------
# Store layer.

_GAUGE_VALUES = """
SELECT
    metric_name || coalesce(CAST(attributes AS VARCHAR), '') || '|' || coalesce(service_name, '')
        AS series_key,
    metric_name AS metric,
    coalesce(CAST(attributes AS VARCHAR), '{}') AS labels,
    service_name AS service,
    any_value(unit) AS unit,
    CAST(floor((epoch_ns(timestamp) - $t0) / $step) AS BIGINT) AS bucket,
    avg(value) AS value
FROM metric_points
WHERE metric_type = 'gauge' AND value IS NOT NULL
  AND epoch_ns(timestamp) >= $t0 AND epoch_ns(timestamp) < $t1
  AND ($service IS NULL OR service_name = $service)
GROUP BY ALL
"""
"""SQL: gauge points averaged per series and time bucket (a stand-in for
``obsctl.analysis.metrics.series_values``, which adds counter rates and quantiles)."""

_RANGE = """
SELECT min(epoch_ns(timestamp)), max(epoch_ns(timestamp)) FROM metric_points
WHERE ($service IS NULL OR service_name = $service)
"""

_NICE_STEPS_S = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def pick_step(span_ns: int, max_buckets: int = 360) -> int:
    """The smallest round step (1s, 5s … 1d) that cuts ``span_ns`` into ≤ ``max_buckets``."""
    for sec in _NICE_STEPS_S:
        if span_ns / (sec * 1_000_000_000) <= max_buckets:
            return sec * 1_000_000_000
    return int(np.ceil(span_ns / max_buckets))


def _gauge_values(store: Store, *, t0: int, t1: int, step_ns: int, service: str | None) -> pa.Table:
    """Gauge series bucketed on ``[t0, t1)`` by ``step_ns``, in the ``series_values`` shape:
    series_key, metric, labels, service, unit, time (epoch ns of the bucket), value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = store.query(_GAUGE_VALUES, {"t0": t0, "t1": t1, "step": step_ns, "service": service})
    times = pc.add(pc.multiply(t.column("bucket"), pa.scalar(step_ns, pa.int64())), t0)
    return t.drop_columns(["bucket"]).append_column("time", times)


def _matrix(table: pa.Table, t0: int, step_ns: int, n_t: int) -> tuple[np.ndarray, pa.Table]:
    """Pivot a series_values-shaped table into ``[series, time]`` plus one row per series."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = table.column("series_key").combine_chunks()
    enc = pc.dictionary_encode(keys)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    n_s = len(enc.dictionary)
    time = table.column("time")
    if pa.types.is_timestamp(time.type):  # series_values gives timestamp[ns]
        time = time.cast(pa.timestamp("ns")).cast(pa.int64())
    cols = (time.to_numpy() - t0) // step_ns
    vals = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = (cols >= 0) & (cols < n_t)
    mat = np.full((n_s, n_t), np.nan)
    mat[codes[ok], cols[ok]] = vals[ok]
    # First row of each series for its descriptive columns.
    first = np.full(n_s, -1, dtype=np.int64)
    order = np.arange(codes.size)[::-1]
    first[codes[order]] = order
    meta = table.select(["metric", "labels", "service", "unit"]).take(pa.array(first))
    return mat, meta


def _sparkline(row: np.ndarray, n: int = SPARK_POINTS) -> list[float]:
    """``n`` bucket means of a series, scaled to 0–1 (NaN buckets → 0)."""
    parts = np.array_split(row, n) if row.size >= n else [row[i : i + 1] for i in range(row.size)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.array([np.nanmean(p) if p.size else np.nan for p in parts])
    lo, hi = np.nanmin(v), np.nanmax(v)
    if not np.isfinite(lo) or hi == lo:
        return [0.5 if np.isfinite(a) else 0.0 for a in v]
    return [float(a) for a in np.nan_to_num((v - lo) / (hi - lo), nan=0.0)]


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("metric", pa.string()),
            ("labels", pa.string()),
            ("service", pa.string()),
            ("unit", pa.string()),
            ("start", pa.timestamp("ns", tz="UTC")),
            ("end", pa.timestamp("ns", tz="UTC")),
            ("direction", pa.string()),
            ("magnitude", pa.float64()),
            ("relative_change", pa.float64()),
            ("score", pa.float64()),
            ("baseline", pa.float64()),
            ("value", pa.float64()),
            ("kind", pa.string()),
            ("sparkline", pa.list_(pa.float64())),
        ]
    )


def anomalies(
    store: Store,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    baseline: tuple[int, int] | None = None,
    service: str | None = None,
    values: pa.Table | None = None,
    step_ns: int | None = None,
    min_score: float = 1.0,
    limit: int | None = None,
) -> pa.Table:
    """Rank the series that left their baseline in a window.

    Args:
        store: an open store.
        start_ns: window start, epoch ns inclusive (``None``: the first metric point).
        end_ns: window end, epoch ns exclusive (``None``: after the last metric point).
        baseline: ``(start_ns, end_ns)`` of the baseline; ``None``: the first third of
            the window is the baseline and the rest is judged.
        service: only this service's series.
        values: a ``series_values``-shaped table (series_key, metric, labels, service,
            unit, time, value) covering baseline and window on a ``step_ns`` grid; when
            ``None``, gauges are read from the store.
        step_ns: bucket width (default: a round step giving ≤ 360 buckets).
        min_score: rows scoring below this are left out.
        limit: keep the top ``limit`` rows.

    Returns:
        One row per anomalous series, highest score first: ``metric``, ``labels`` (JSON
        text), ``service``, ``unit``, ``start``/``end`` (UTC, when the change began and
        its last bucket), ``direction`` (up|down), ``magnitude`` (Δ median vs baseline in
        baseline MADs ×1.4826), ``relative_change`` ((level − baseline) / |baseline|),
        ``score``, ``baseline`` (median), ``value`` (median of the episode, the new level),
        ``kind`` (level_shift|spike|trend|transient|variance), ``sparkline`` (24 floats
        in 0–1 across the whole range, baseline included).
    """
    import pyarrow as pa

    lo, hi = store.rows(_RANGE, {"service": service})[0]
    if lo is None and values is None:
        return _schema().empty_table()
    w0 = start_ns if start_ns is not None else lo
    w1 = end_ns if end_ns is not None else hi + 1
    t0 = min(w0, baseline[0]) if baseline else w0
    step = step_ns or pick_step(w1 - t0)
    if values is None:
        t0 -= t0 % step  # buckets on round instants
    n_t = int(max(1, -(-(w1 - t0) // step)))
    if baseline:
        b_cols = int((baseline[1] - t0) // step)
        judged0 = int((w0 - t0) // step)
    else:
        b_cols = judged0 = max(2, n_t // 3)
    table = (
        values
        if values is not None
        else _gauge_values(store, t0=t0, t1=w1, step_ns=step, service=service)
    )
    if table.num_rows == 0:
        return _schema().empty_table()
    mat, meta = _matrix(table, t0, step, n_t)
    if baseline and judged0 > b_cols:
        # Judge only the window: drop columns between the baseline and the window.
        keep = np.r_[0:b_cols, judged0:n_t]
        mat_j = mat[:, keep]
        col_of = keep
    else:
        mat_j, col_of = mat, np.arange(n_t)
    det = detect(mat_j, b_cols)
    sel = np.flatnonzero((det.score >= min_score) & (det.start >= 0))
    sel = sel[np.argsort(-det.score[sel], kind="stable")]
    if limit is not None:
        sel = sel[:limit]
    if sel.size == 0:
        return _schema().empty_table()
    start_col = col_of[b_cols + det.start[sel]]
    end_col = col_of[b_cols + det.end[sel]]
    cols: dict[str, Any] = {
        "metric": meta.column("metric").take(pa.array(sel)),
        "labels": [_labels_json(v) for v in meta.column("labels").take(pa.array(sel)).to_pylist()],
        "service": meta.column("service").take(pa.array(sel)),
        "unit": meta.column("unit").take(pa.array(sel)),
        "start": pa.array(t0 + start_col * step, pa.timestamp("ns", tz="UTC")),
        "end": pa.array(t0 + (end_col + 1) * step, pa.timestamp("ns", tz="UTC")),
        "direction": ["up" if d > 0 else "down" for d in det.direction[sel]],
        "magnitude": np.abs(det.z[sel]),
        "relative_change": det.rel[sel],
        "score": det.score[sel],
        "baseline": det.baseline[sel],
        "value": det.level[sel],
        "kind": [KINDS[k] for k in det.kind[sel]],
        "sparkline": [_sparkline(mat[i]) for i in sel],
    }
    return pa.table(
        {
            k: pa.array(v, type=_schema().field(k).type)
            if not isinstance(v, pa.Array | pa.ChunkedArray)
            else v.cast(_schema().field(k).type)
            for k, v in cols.items()
        },
        schema=_schema(),
    )


def _labels_json(v: Any) -> str:
    """Labels as compact, key-sorted JSON text."""
    if v is None:
        return "{}"
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    if isinstance(v, Sequence) and not isinstance(v, str | bytes):
        v = dict(v)  # a MAP fetched as key/value pairs
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def collapse_quantiles(table: pa.Table) -> pa.Table:
    """Keep one row per histogram series: its highest-scoring quantile (p50/p95/p99…).

    ``series_values`` splits a histogram into one series per quantile; when latency
    moves, all three move, and listing them side by side would push other metrics off
    the first screen. Rows stay in score order.
    """
    import re

    import pyarrow as pa

    seen: set[tuple[str, str, str]] = set()
    keep = []
    metrics = table.column("metric").to_pylist()
    labels = table.column("labels").to_pylist()
    services = table.column("service").to_pylist()
    for i, (m, lab, svc) in enumerate(zip(metrics, labels, services, strict=True)):
        key = (re.sub(r" p\d+(\.\d+)?$", "", m or ""), lab or "", svc or "")
        if key in seen:
            continue
        seen.add(key)
        keep.append(i)
    return table.take(pa.array(keep, pa.int64()))
