"""Every scenario loads cleanly and its ground truth (``Scenario.truth``) shows in the data.

These are the assertions a test of ``investigate`` can build on: the culprit operation's
spans move after the onset, the first log line of the story is where the truth says,
and the culprit function (if any) grows in the profiles.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.demo.conftest import Loaded
from tests.demo.test_story import (
    FORMATS,
    checkout_error_rate,
    cpu,
    culprit_shares,
    mean,
    quantile_ms,
    windows,
)

OTHER = ("db-slow", "gateway-errors")


@pytest.fixture(params=["payment-cpu", *OTHER])
def bundle(request, incident: Loaded, scenario_store: Callable[[str], Loaded]) -> Loaded:
    return incident if request.param == "payment-cpu" else scenario_store(request.param)


def _span_stats(db: Loaded, window: tuple[float, float]) -> tuple[float, float]:
    """(p95 ms, error rate) of the truth's culprit spans in a window."""
    t = db.scenario.truth
    m = db.minute("start_time")
    return db.rows(
        "SELECT quantile_cont(duration_ns, 0.95) / 1e6, avg((status_code = 'ERROR')::INT)"
        f" FROM spans WHERE service_name = ? AND name = ? AND kind = ? AND {m} >= ? AND {m} < ?",
        [t.span_service, t.operation, t.span_kind, *window],
    )[0]


@pytest.mark.parametrize("name", OTHER)
def test_other_scenarios_load_with_zero_rejects(
    scenario_store: Callable[[str], Loaded], name: str
) -> None:
    files = scenario_store(name).report.files
    assert [f.path for f in files if f.status != "loaded"] == []
    assert sum(f.rejected for f in files) == 0
    assert {f.format for f in files} == FORMATS


def test_culprit_operation_moves_after_the_onset(bundle: Loaded) -> None:
    w = windows(bundle)
    (p95_base, err_base), (p95_peak, err_peak) = (
        _span_stats(bundle, w["base"]),
        _span_stats(bundle, w["peak"]),
    )
    assert p95_peak > 5 * p95_base or err_peak > 0.2 > 5 * err_base


def test_customers_see_checkout_errors(bundle: Loaded) -> None:
    w = windows(bundle)
    assert checkout_error_rate(bundle, w["base"]) < 0.01
    assert checkout_error_rate(bundle, w["peak"]) > 0.08


def test_first_story_log_is_near_the_onset(bundle: Loaded) -> None:
    t = bundle.scenario.truth
    minute = bundle.one(
        f"SELECT min({bundle.minute('timestamp')}) FROM logs"
        " WHERE service_name = ? AND starts_with(body, ?) AND"
        f" {bundle.minute('timestamp')} >= ?",
        [t.first_log_service, t.first_log, t.onset_minute - 3],
    )
    assert minute is not None
    assert t.onset_minute - 3 <= minute <= t.onset_minute + 3


def test_culprit_function_only_where_the_truth_says(bundle: Loaded) -> None:
    fn = "payment/internal/fraud.(*VelocityRule).scanWindow"
    w = windows(bundle)
    shares = culprit_shares(bundle, fn, "payment")
    peak = mean([s for m, s in shares if w["peak"][0] <= m < w["peak"][1]])
    if bundle.scenario.truth.function == fn:
        assert peak > 0.5
    else:  # the code exists everywhere, it only misbehaves in payment-cpu
        assert peak < 0.06
        assert cpu(bundle, "payment", w["peak"]) < 0.5


def test_browse_is_unaffected_in_every_scenario(bundle: Loaded) -> None:
    w = windows(bundle)
    where = "service_name = 'frontend' AND kind = 'SERVER' AND name LIKE 'GET /products%'"
    base, peak = (
        quantile_ms(bundle, where, w["base"], 0.5),
        quantile_ms(bundle, where, w["peak"], 0.5),
    )
    assert peak == pytest.approx(base, rel=0.2)


def test_db_slow_shows_lock_waits_in_postgres(scenario_store: Callable[[str], Loaded]) -> None:
    db = scenario_store("db-slow")
    m = db.minute("timestamp")
    rows = db.rows(
        f"SELECT {m} < 20 AS before, count(*) FROM logs WHERE service_name = 'postgres'"
        " AND (body LIKE 'canceling statement due to lock timeout%'"
        " OR body LIKE 'process % still waiting for ShareLock%') GROUP BY 1"
    )
    counts = dict(rows)
    assert counts.get(True, 0) == 0
    assert counts[False] > 20
    slow = db.one(
        "SELECT count(*) FROM logs WHERE service_name = 'postgres' AND body LIKE 'duration: %'"
        " AND body LIKE '%UPDATE stock%'"
    )
    assert slow > 10


def test_gateway_errors_leave_payment_cpu_alone(scenario_store: Callable[[str], Loaded]) -> None:
    db = scenario_store("gateway-errors")
    w = windows(db)
    assert cpu(db, "payment", w["peak"]) < 0.5
    where = "service_name = 'payment' AND kind = 'SERVER'"
    assert quantile_ms(db, where, w["peak"], 0.95) < 1000
