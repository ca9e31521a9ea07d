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
   *variance* change. The score multiplies four things a person weighs:
   *certainty* ``log2(1 + min(|z|, Z_CAP))`` (past ~30 robust sigmas a change is
   certain, and more z only says how flat the baseline was), *effect* in doublings of
   the value (``_effect``: ×4 and ÷4 weigh the same; a utilisation is judged on the
   headroom it consumed, as queueing delay grows with ``1 / (1 − u)``, so a CPU going
   0.27 → 0.95 counts like ×14 and, past the knee, a saturated resource outranks a
   symptom of the same size), *persistence* (short episodes are damped) and *trust in
   the baseline* (a series with a handful of baseline points is scaled down).
5. **One story, one row.** ``group_related`` folds the series of one metric that moved
   the same way at the same time (a histogram's quantiles, every CPU of a host, the
   latency of each service on a call path) into their best-scoring one.

The batch detector (``detect``) judges a whole window at once, as an investigation does.
NAB-style evaluation needs a *causal* detector instead, one that at each point uses only
the past: ``causal_scores`` computes, per point, robust z-scores against a trailing
baseline (median/MAD of the previous ``window`` points, ending before the horizon being
judged) at three horizons (1 point, the median of 3, the median of 9), each against its
own threshold (a single point must be far out; a sustained move may be smaller) and only
when the value is *novel* — beyond the min/max the same statistic took over a long
trailing memory (the bursts a server shows every day are not news; measured on NAB this
gate cut false alarms from 154 to 22, and comparing a median of 9 with past medians of 9
rather than with single points finds sustained shifts that stay within old extremes),
after
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
    from obsctl.timewindow import TimeWindow

MAD_SCALE = 1.4826
"""MAD → standard deviation for Gaussian noise."""

REL_FLOOR = 0.01
"""The baseline scale is at least this fraction of ``|median|`` (flat series)."""

PERSIST = 5
"""Running-median length (points) that a deviation must survive to count as sustained."""

START_Z = 3.0
"""An episode lasts while the smoothed robust z stays beyond this, on one side."""

MEANAD_SCALE = 1.2533
"""Mean absolute deviation → standard deviation for Gaussian noise (the MAD = 0 fallback)."""

Z_CAP = 30.0
"""Robust z beyond which a change is certain: more z then says how flat the baseline
was, not how much the change matters, so ranking stops rewarding it."""

EFFECT_CAP = 6.0
"""Largest effect, in doublings (×64)."""

EFFECT_NEW = float(np.log2(5.0))
"""Effect of a series that was 0 throughout the baseline and is not any more."""

SATURATED = 0.99
"""Utilisation treated as full when measuring consumed headroom."""

KNEE = 0.8
"""Utilisation past which queueing delays climb steeply (the knee of ``1 / (1 − u)``)."""

RELATED_SHARE = 0.5
"""A series joins a group when it scores at least this share of the group's leader."""

MIN_BASELINE = 10
"""Baseline points needed for a fully trusted median/MAD; fewer scale the score down."""

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

MEMORY_WINDOWS = 32
"""The novelty gate remembers extremes for this many baseline windows (8,192 points).
On NAB any finite memory beats an unbounded one (2k: 72.5, 4k: 74.0, 8k: 74.7, ∞: 70.8)."""

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


def _robust_baseline(base: np.ndarray, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and scale of each baseline row (NaN-aware).

    The scale is ``1.4826·MAD``; where the MAD is 0 (more than half the baseline on one
    value: a flat gauge, a counter rate that is mostly 0 with bursts), it falls back to
    ``1.2533·mean absolute deviation`` (Iglewicz & Hoaglin's rule for the modified
    z-score), so the bursts the baseline did show set the scale. It is then floored at
    ``REL_FLOOR`` of ``|median|`` — or, for a baseline of zeros, of the typical non-zero
    magnitude of the whole row — so a rounding blip never becomes an infinite z.
    """
    import warnings

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmedian(base, axis=1)
        dev = np.abs(base - m[:, None])
        mad = np.nanmedian(dev, axis=1) * MAD_SCALE
        mean_ad = np.nanmean(dev, axis=1) * MEANAD_SCALE
        ref = np.abs(m)
        zero = np.flatnonzero(m == 0)
        if zero.size:
            rows = whole[zero]
            ref[zero] = np.nan_to_num(np.nanmedian(np.where(rows != 0, np.abs(rows), np.nan), 1))
    s = np.where(mad > 0, mad, np.nan_to_num(mean_ad))
    s = np.fmax(s, REL_FLOOR * ref)
    s = np.where(s > 0, s, 1e-9)
    return m, s


def _effect(m: np.ndarray, level: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """How big a move from ``m`` to ``level`` is, in doublings (0 = none, ≤ ``EFFECT_CAP``).

    * Positive series: ``|log2(level / m)|``, so ×4 and ÷4 weigh the same (a traffic drop
      matters as much as a rise).
    * Utilisations (``capacity`` > 0: 1 for ratios, 100 for percentages; 0 for other
      series) are also judged on the headroom they
      consume: queueing theory (M/M/1) says waiting time grows as ``1 / (1 − u)``, so
      a CPU going from 0.27 to 0.95 multiplies expected delays by ~14 although the
      value only tripled. That is what makes a saturated resource a headline.
    * A series that was 0 in the baseline and is not now counts as ``EFFECT_NEW``;
      series crossing zero use ``log2(1 + |relative change|)``.
    """
    bounded = capacity > 0
    with np.errstate(all="ignore"):
        u0 = np.clip(m / capacity, 0.0, SATURATED)
        u1 = np.clip(level / capacity, 0.0, SATURATED)
        head = np.abs(np.log2((1.0 - u0) / (1.0 - u1)))
        ratio = np.abs(np.log2(level / m))
        rel = np.log2(1.0 + np.abs((level - m) / np.abs(m)))
    eff = np.where((m > 0) & (level > 0), ratio, rel)
    # Past the queueing knee a resource is saturated: the cause-side signal of the USE
    # method, promoted one doubling above a symptom of the same size.
    knee = bounded & (level / np.where(bounded, capacity, 1.0) >= KNEE)
    eff = np.where(bounded, np.fmax(eff, head) + np.where(knee, 1.0, 0.0), eff)
    eff = np.where(m == 0, np.where(level != 0, EFFECT_NEW, 0.0), eff)
    return np.clip(np.nan_to_num(eff, nan=0.0, posinf=EFFECT_CAP), 0.0, EFFECT_CAP)


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


def baseline_trust(points: np.ndarray, available: int | None = None) -> np.ndarray:
    """How far a baseline's median/MAD can be trusted: its points over ``MIN_BASELINE``
    (or over ``available`` when the baseline is shorter than that), at most 1."""
    need = MIN_BASELINE if available is None else min(MIN_BASELINE, max(available, 1))
    return np.clip(np.nan_to_num(np.asarray(points, dtype=np.float64)) / need, 0.0, 1.0)


def change_score(
    z: np.ndarray, baseline: np.ndarray, level: np.ndarray, capacity: np.ndarray | None = None
) -> np.ndarray:
    """How much a series moved, for ranking: certainty × (1 + effect).

    Certainty is ``log2(1 + min(|z|, Z_CAP))`` — a NaN z (a baseline without spread)
    counts as certain when the level changed; the effect is ``_effect`` in doublings.
    ``detect`` and ``obsctl.analysis.metrics.compare`` rank with this one function.
    """
    z = np.asarray(z, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    lev = np.asarray(level, dtype=np.float64)
    moved = np.where(np.isnan(z), np.where(lev != base, Z_CAP, 0.0), np.abs(z))
    cap = np.zeros(z.shape) if capacity is None else np.asarray(capacity, dtype=np.float64)
    return np.log2(1.0 + np.fmin(moved, Z_CAP)) * (1.0 + _effect(base, lev, cap))


def detect(values: np.ndarray, baseline_cols: int, capacity: np.ndarray | None = None) -> Detection:
    """Judge every series of a window against its own baseline, all at once.

    Args:
        values: ``[series, time]`` float matrix, NaN for gaps.
        baseline_cols: the first ``baseline_cols`` columns are the baseline; the rest is
            the window judged. Clamped to ``[2, time - 1]``.
        capacity: per series, the full scale of a utilisation (1 for a 0–1 ratio, 100
            for a percentage) or 0 for other series (see ``_effect``; default all 0).

    Returns:
        A ``Detection`` of arrays of length ``series``.
    """
    x = np.asarray(values, dtype=np.float64)
    n_s, n_t = x.shape
    b = int(min(max(baseline_cols, 2), max(n_t - 1, 1)))
    m, s = _robust_baseline(x[:, :b], x)
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
    # Snap the ends to columns holding data (a sparse series must not start in a gap).
    data_cols = ~np.isnan(post)
    first_data = np.where(data_cols & (cols[None, :] >= start[:, None]), cols, post.shape[1])
    start = np.minimum(first_data.min(axis=1), peak)
    last_data = np.where(data_cols & (cols[None, :] <= end[:, None]), cols, -1)
    end = np.maximum(last_data.max(axis=1), peak)
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rest = np.nanmedian(post, axis=1) if post.size else m
    level = np.where(start >= 0, level, rest)
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
    # Score = certainty × effect (change_score) × persistence × trust in the baseline.
    persist = np.clip(dur / (4.0 * PERSIST), 0.0, 1.0)
    trust = baseline_trust(np.count_nonzero(~np.isnan(x[:, :b]), axis=1), b)
    moved = change_score(np.where(has, zpk, 0.0), m, level, capacity)
    score = moved * (0.5 + 0.5 * persist) * trust
    zspike = np.fmin(np.abs(zraw), Z_CAP)
    score = np.where(spike, 0.25 * np.log2(1.0 + zspike) * trust, score)
    score = np.where(variance, 0.5 * np.log2(np.fmax(var_ratio, 1.0)) * trust, score)
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
    memory: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point anomaly score and alarms of one series, each using only its past.

    Args:
        x: the series (NaN for gaps).
        window: trailing baseline length in points.
        refractory: points kept quiet after an alarm.
        season_fit: leading fraction of the series on which seasonality is detected.
        novelty: alarm only on values beyond everything the series showed before (the
            min/max of the same statistic over the last ``memory`` points): recurring
            bursts of a known size are not news.
        memory: how far back a past extreme keeps a value unsurprising (default
            ``MEMORY_WINDOWS × window``): a record set long ago must not mask a failure
            now.

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
    memory = memory or MEMORY_WINDOWS * window
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
            # Novel: beyond every value the same statistic (a point, a median of k) took
            # in the last ``memory`` points before the horizon.
            past = np.concatenate([[np.nan] * k, cur[: n - k]])
            hi_ = rolling_max(np.nan_to_num(past, nan=-np.inf), memory)
            lo_ = -rolling_max(-np.nan_to_num(past, nan=np.inf), memory)
            novel = (cur > hi_) | (cur < lo_)
            z = np.where(novel, z, np.fmin(z, 0.99))
        score = np.fmax(score, np.nan_to_num(z, nan=0.0))
    alarm = _refractory(score >= 1.0, refractory)
    return score, alarm


def rolling_max(a: np.ndarray, span: int) -> np.ndarray:
    """``out[i] = max(a[max(0, i − span + 1) : i + 1])``, vectorised (van Herk/Gil-Werman:
    per block of ``span`` points a running max from the left and one from the right, so
    every window is the max of two lookups — O(n) whatever the span)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.size
    if n == 0 or span <= 1:
        return a.copy()
    span = min(span, n)
    blocks = -(-n // span)
    pad = np.full(blocks * span, -np.inf)
    pad[:n] = a
    grid = pad.reshape(blocks, span)
    left = np.maximum.accumulate(grid, axis=1).ravel()  # max from block start to i
    right = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()  # i to block end
    out = left[:n].copy()
    j = np.arange(n) - span + 1  # window start
    ok = j >= 0
    out[ok] = np.maximum(right[j[ok]], left[np.flatnonzero(ok)])
    return out  # windows cut by the start (i < span − 1) are left[i] already


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
    names = ["metric", "labels", "service", "unit"]
    if "kind" in table.column_names:
        names.append("kind")
    meta = table.select(names).take(pa.array(first))
    return mat, meta


_RATIO_SUFFIXES = ("utilization", "utilisation", "_ratio", ".ratio", "usage_ratio")
_PERCENT_SUFFIXES = ("_percent", "_pct", ".percent")


def utilisation_capacity(metric: str | None, unit: str | None, row: np.ndarray) -> float:
    """Full scale of a utilisation series: 1 (ratio), 100 (percentage) or 0 (not one).

    A series is a utilisation when its name or unit says so — OpenTelemetry's
    ``*.utilization`` with unit ``1``, Prometheus' ``*_ratio`` — and every value it
    holds fits the scale; a ``1``-unit series that exceeds 1 is a plain number.
    """
    import warnings

    name = (metric or "").lower().split(" ")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(row), np.nanmax(row)
    if not (np.isfinite(lo) and lo >= 0):
        return 0.0
    if (unit == "%" or name.endswith(_PERCENT_SUFFIXES)) and hi <= 100:
        return 100.0
    if name.endswith(_RATIO_SUFFIXES):
        return 1.0 if hi <= 1 else 0.0
    return 0.0


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
            ("measure", pa.string()),
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
        text), ``service``, ``unit``, ``measure`` (``value``, ``rate/s`` for counters,
        ``p50``… for histogram quantiles), ``start``/``end`` (UTC, when the change began and
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
    t0 -= t0 % step  # buckets on round instants (series_values aligns on the epoch too)
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
    capacity = np.array(
        [
            utilisation_capacity(metric, unit, mat[i])
            for i, (metric, unit) in enumerate(
                zip(meta.column("metric").to_pylist(), meta.column("unit").to_pylist(), strict=True)
            )
        ]
    )
    det = detect(mat_j, b_cols, capacity)
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
        "measure": meta.column("kind").take(pa.array(sel))
        if "kind" in meta.column_names
        else ["value"] * sel.size,
        "start": pa.array(t0 + start_col * step, pa.timestamp("ns", tz="UTC")),
        "end": pa.array(t0 + (end_col + 1) * step, pa.timestamp("ns", tz="UTC")),
        "direction": ["up" if d > 0 else "down" for d in det.direction[sel]],
        "magnitude": np.abs(det.z[sel]),
        "relative_change": pa.array(det.rel[sel], from_pandas=True),  # NaN → null
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


def scan(
    store: Store,
    window: TimeWindow,
    baseline: TimeWindow | None,
    *,
    service: str | None = None,
    group: bool = True,
    limit: int | None = None,
) -> tuple[pa.Table, tuple[int, int] | None]:
    """Rank every series of the store — gauges on their value, counters on their rate,
    histograms on their quantiles — that left its baseline in ``window``.

    The one entry point of ``obsctl metrics anomalies`` and ``obsctl investigate``.

    Args:
        store: an open store.
        window: the window judged (open sides: the data's extent).
        baseline: the baseline (an open start: from the first metric point); ``None``:
            the first third of the window is the baseline.
        service: only this service's series.
        group: fold the series that tell one story (``group_related``).
        limit: keep the first ``limit`` rows (after grouping).

    Returns:
        ``(table, (baseline_start_ns, baseline_end_ns) or None)``: the rows of
        ``anomalies`` (plus ``related`` when grouped) and the baseline actually used.
    """
    from obsctl.analysis.metrics import MetricFilter, series_values
    from obsctl.timewindow import TimeWindow

    first = store.scalar("SELECT epoch_ns(min(timestamp)) FROM metric_points")
    pair = None
    if baseline is not None and first is not None:
        start = baseline.start_ns if baseline.start_ns is not None else int(first)
        pair = (start, baseline.end_ns if baseline.end_ns is not None else window.start_ns)
        if pair[1] is None:
            pair = None
    lo = pair[0] if pair else window.start_ns
    services = (service,) if service else ()
    filt = MetricFilter(services=services, window=TimeWindow(lo, window.end_ns))
    values, step = series_values(store, filt, None)
    table = anomalies(
        store,
        start_ns=window.start_ns,
        end_ns=window.end_ns,
        baseline=pair,  # type: ignore[arg-type]
        service=service,
        values=values,
        step_ns=step,
    )
    if group:
        table = group_related(table)
    if limit:
        table = table.slice(0, limit)
    return table, pair  # type: ignore[return-value]


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


def change_text(baseline: float | None, value: float | None, rel: float | None) -> str:
    """A change as a person says it: ``+35%``, ``−60%``, ``×19``; ``new`` when the
    baseline was 0 and ``gone`` when the value fell to 0."""
    import math

    if baseline == 0 and value:
        return "new"
    if value == 0 and baseline:
        return "gone"
    if rel is None or not math.isfinite(rel):
        return "—"
    if rel >= 1:
        return f"×{1 + rel:.3g}"
    return f"{rel * 100:+.0f}%".replace("-", "−")


def base_metric(name: str | None) -> str:
    """A metric name without the `` p99`` a histogram quantile series carries."""
    import re

    return re.sub(r" p\d+(\.\d+)?$", "", name or "")


def group_related(table: pa.Table) -> pa.Table:
    """Fold rows that tell the same story into the best-scoring one.

    One metric moving the same way at the same time in many series — a histogram's
    p50/p95/p99, the per-CPU and per-mode series of ``node_cpu_seconds_total``, the
    latency of every service on a call path — is one finding; listing each series would
    push every other metric off the first screen. Rows of the same metric (quantile
    suffix ignored) and direction whose episodes overlap the leader's and which score at
    least ``RELATED_SHARE`` of it (a modest rise elsewhere stays a row of its own) are
    folded into it and listed in its ``related`` column (``metric``, ``service``,
    ``labels``, ``start``, ``score`` each), earliest mover first. Every quantile of a
    series lands in the group of its best-scoring one. Rows stay in score order.
    """
    import pyarrow as pa

    metric = [base_metric(m) for m in table.column("metric").to_pylist()]
    service = table.column("service").to_pylist()
    score = table.column("score").to_pylist()
    direction = table.column("direction").to_pylist()
    start = table.column("start").cast(pa.int64()).to_pylist()
    end = table.column("end").cast(pa.int64()).to_pylist()
    labels = table.column("labels").to_pylist()
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    group_of: dict[tuple[str, str | None, str | None], int] = {}  # series → its leader
    for i in range(table.num_rows):
        key = (metric[i], labels[i], service[i])
        if key in group_of:  # another quantile of a series already shown
            members[group_of[key]].append(i)
            continue
        for lead in leaders:
            if (
                metric[lead] == metric[i]
                and direction[lead] == direction[i]
                and start[i] < end[lead]
                and start[lead] < end[i]
                and score[i] >= RELATED_SHARE * score[lead]
            ):
                members[lead].append(i)
                group_of[key] = lead
                break
        else:
            leaders.append(i)
            members[i] = []
            group_of[key] = i
    cols = {n: table.column(n).to_pylist() for n in ("metric", "service", "labels", "score")}
    related = [
        [
            {
                "metric": cols["metric"][j],
                "service": cols["service"][j],
                "labels": cols["labels"][j],
                "start": start[j],
                "score": cols["score"][j],
            }
            for j in sorted(members[lead], key=lambda j: (start[j], -cols["score"][j]))
        ]
        for lead in leaders
    ]
    out = table.take(pa.array(leaders, pa.int64()))
    rtype = _related_type()
    return out.append_column(pa.field("related", rtype), pa.array(related, rtype))


def _related_type() -> pa.DataType:
    """Arrow type of ``group_related``'s ``related`` column."""
    import pyarrow as pa

    return pa.list_(
        pa.struct(
            [
                ("metric", pa.string()),
                ("service", pa.string()),
                ("labels", pa.string()),
                ("start", pa.timestamp("ns", tz="UTC")),
                ("score", pa.float64()),
            ]
        )
    )
