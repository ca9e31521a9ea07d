"""The committed demo incident loads cleanly and tells its story, asked with SQL.

The bundle is ``fixtures/checkout-incident`` (scenario ``payment-cpu``). Windows are
minutes from the start: the baseline before the payment deploy, the peak from three
minutes after the onset until the scale-out, and the tail after the scale-out.
"""

from __future__ import annotations

import pytest

from tests.demo.conftest import Loaded

FORMATS = {
    "otlp-traces", "otlp-logs", "otlp-metrics", "jsonl", "logfmt", "postgres", "prometheus",
    "pprof",
}  # fmt: skip
CULPRIT = "payment/internal/fraud.(*VelocityRule).scanWindow"
BROWSE = ("GET /products", "GET /products/{id}", "GET /search")
MASK = "regexp_replace(body, '[A-Za-z0-9_*]*[0-9][A-Za-z0-9_*]*', '#', 'g')"
"""SQL: a log body with its variable tokens (ids, numbers, masked cards) replaced by #."""


def windows(db: Loaded) -> dict[str, tuple[float, float]]:
    sc = db.scenario
    deploy = sc.deploys[0].minute if sc.deploys else sc.truth.onset_minute
    recovery = sc.recovery_minute
    return {
        "base": (0.0, min(deploy, sc.truth.onset_minute)),
        "peak": (sc.truth.onset_minute + 3, recovery),
        "tail": (recovery + 1, float(sc.minutes)),
    }


def checkout_error_rate(db: Loaded, window: tuple[float, float]) -> float:
    m = db.minute("start_time")
    return db.one(
        "SELECT avg((status_code = 'ERROR')::INT) FROM spans"
        f" WHERE name = 'POST /checkout' AND kind = 'SERVER' AND {m} >= ? AND {m} < ?",
        list(window),
    )


def quantile_ms(db: Loaded, where: str, window: tuple[float, float], q: float) -> float:
    m = db.minute("start_time")
    return db.one(
        f"SELECT quantile_cont(duration_ns, {q}) / 1e6 FROM spans"
        f" WHERE {where} AND {m} >= ? AND {m} < ?",
        list(window),
    )


def cpu(db: Loaded, service: str, window: tuple[float, float]) -> float:
    m = db.minute("timestamp")
    return db.one(
        "SELECT avg(value) FROM metric_points WHERE metric_name = 'process.cpu.utilization'"
        f" AND service_name = ? AND {m} >= ? AND {m} < ?",
        [service, *window],
    )


def culprit_shares(db: Loaded, function: str, service: str) -> list[tuple[float, float]]:
    """(minute, share of CPU samples whose stack holds ``function``) per profile."""
    return db.rows(
        f"SELECT {db.minute('p.time')} AS m,"
        " sum(s.value) FILTER (WHERE list_contains(list_transform(s.stack, lambda f: f.function),"
        " ?)) / sum(s.value)"
        " FROM profiles p JOIN profile_samples s USING (profile_id)"
        " WHERE p.service_name = ? AND s.sample_type = 'cpu' GROUP BY 1 ORDER BY 1",
        [function, service],
    )


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --------------------------------------------------------------------------- loading


def test_every_file_loads_with_zero_rejects(incident: Loaded) -> None:
    files = incident.report.files
    assert [f.path for f in files if f.status != "loaded"] == []
    assert sum(f.rejected for f in files) == 0
    assert {f.format for f in files} == FORMATS
    assert all(f.records > 0 for f in files)
    assert len([f for f in files if f.format == "pprof"]) == 6 * 40


def test_services_and_time_range(incident: Loaded) -> None:
    services = {r[0] for r in incident.rows("SELECT DISTINCT service_name FROM spans")}
    assert services == {
        "frontend", "checkout", "cart", "product-catalog", "inventory", "pricing", "payment",
        "order", "notification",
    }  # fmt: skip
    logs = {r[0] for r in incident.rows("SELECT DISTINCT service_name FROM logs")}
    assert {"postgres", "cart", "inventory", "payment", "checkout", "frontend"} <= logs
    # requests arrive over the 40 minutes; those started last finish a little later
    first, last, end = incident.rows(
        f"SELECT min({incident.minute('start_time')}), max({incident.minute('start_time')}),"
        f" max({incident.minute('end_time')}) FROM spans WHERE parent_span_id IS NULL"
    )[0]
    assert 0 <= first < 0.1 and 39.9 < last < 40 < end < 40.5


# --------------------------------------------------------------------------- the story


def test_checkout_error_rate_rises_after_the_onset(incident: Loaded) -> None:
    w = windows(incident)
    base, peak = checkout_error_rate(incident, w["base"]), checkout_error_rate(incident, w["peak"])
    assert base < 0.01
    assert peak > 0.12
    assert peak > 10 * max(base, 0.002)


def test_payment_server_latency_rises(incident: Loaded) -> None:
    w = windows(incident)
    where = "service_name = 'payment' AND kind = 'SERVER'"
    base, peak = (
        quantile_ms(incident, where, w["base"], 0.95),
        quantile_ms(incident, where, w["peak"], 0.95),
    )
    assert base < 400
    assert peak > 2000
    assert peak > 8 * base


def test_latency_sits_in_payment_not_in_the_other_checkout_calls(incident: Loaded) -> None:
    w = windows(incident)
    for service in ("cart", "product-catalog", "inventory", "pricing", "order"):
        where = f"service_name = '{service}' AND kind = 'SERVER'"
        base = quantile_ms(incident, where, w["base"], 0.95)
        peak = quantile_ms(incident, where, w["peak"], 0.95)
        assert peak < 1.6 * base, service


def test_culprit_share_of_payment_cpu_grows(incident: Loaded) -> None:
    w = windows(incident)
    shares = culprit_shares(incident, CULPRIT, "payment")
    assert len(shares) == 40
    base = [s for m, s in shares if w["base"][0] <= m < w["base"][1]]
    peak = [s for m, s in shares if w["peak"][0] <= m < w["peak"][1]]
    assert max(base) < 0.10
    assert mean(peak) > 0.55 and min(peak) > 0.50


def test_culprit_is_absent_from_other_services_profiles(incident: Loaded) -> None:
    rows = incident.rows(
        "SELECT DISTINCT p.service_name FROM profiles p JOIN profile_samples s USING (profile_id)"
        " WHERE list_contains(list_transform(s.stack, lambda f: f.function), ?)",
        [CULPRIT],
    )
    assert rows == [("payment",)]
    profiled = incident.rows("SELECT DISTINCT service_name FROM profiles ORDER BY 1")
    assert len(profiled) == 6


def test_profiles_total_cpu_matches_the_utilisation(incident: Loaded) -> None:
    """A payment pod has 2 cores: a 60 s profile at utilisation u holds ~u × 120 s of CPU."""
    w = windows(incident)
    m = incident.minute("p.time")
    seconds = incident.one(
        "SELECT avg(total) FROM (SELECT p.profile_id, sum(s.value) / 1e9 AS total FROM profiles p"
        " JOIN profile_samples s USING (profile_id) WHERE p.service_name = 'payment'"
        f" AND s.sample_type = 'cpu' AND {m} >= ? AND {m} < ? GROUP BY 1)",
        list(w["peak"]),
    )
    assert seconds == pytest.approx(cpu(incident, "payment", w["peak"]) * 120, rel=0.05)


def test_payment_cpu_saturates(incident: Loaded) -> None:
    w = windows(incident)
    assert cpu(incident, "payment", w["base"]) < 0.5
    assert cpu(incident, "payment", w["peak"]) > 0.9
    assert cpu(incident, "checkout", w["peak"]) < 0.5  # only payment burns


def test_payment_node_busy_cpu_saturates(incident: Loaded) -> None:
    """node_cpu_seconds_total of the payment node: busy = 1 − idle rate / CPUs."""
    rows = incident.rows(
        "WITH idle AS (SELECT timestamp AS t, sum(value) AS v, count(*) AS cpus"
        " FROM metric_points WHERE metric_name = 'node_cpu_seconds_total'"
        " AND attributes->>'instance' = 'ip-10-0-3-7:9100' AND attributes->>'mode' = 'idle'"
        " GROUP BY 1)"
        f" SELECT {incident.minute('t')} AS m, 1 - (v - lag(v) OVER w)"
        " / ((epoch_ns(t) - lag(epoch_ns(t)) OVER w) / 1e9 * cpus) AS busy"
        " FROM idle WINDOW w AS (ORDER BY t) ORDER BY t"
    )
    w = windows(incident)
    base = [b for m, b in rows if b is not None and w["base"][0] <= m < w["base"][1]]
    peak = [b for m, b in rows if w["peak"][0] <= m < w["peak"][1]]
    assert len(base) > 60 and len(peak) > 40
    assert mean(base) < 0.5
    assert mean(peak) > 0.9


def test_first_incident_log_comes_before_the_latency(incident: Loaded) -> None:
    """The first WARN/ERROR of a pattern unseen before the deploy precedes the minute
    payment's p95 first exceeds twice its baseline."""
    sc = incident.scenario
    w = windows(incident)
    m = incident.minute("timestamp")
    first = incident.rows(
        f"WITH base AS (SELECT DISTINCT service_name, {MASK} AS pat FROM logs"
        f" WHERE severity_number >= 13 AND {m} < ?)"
        f" SELECT {m}, service_name, body FROM logs l WHERE severity_number >= 13"
        f" AND NOT EXISTS (SELECT 1 FROM base b WHERE b.service_name = l.service_name"
        f" AND b.pat = {MASK}) ORDER BY timestamp LIMIT 1",
        [w["base"][1]],
    )[0]
    first_minute, service, body = first
    assert service == sc.truth.first_log_service
    assert body.startswith(sc.truth.first_log)
    where = "service_name = 'payment' AND kind = 'SERVER'"
    base_p95 = quantile_ms(incident, where, w["base"], 0.95)
    per_minute = incident.rows(
        f"SELECT floor({incident.minute('start_time')}) AS m,"
        " quantile_cont(duration_ns, 0.95) / 1e6 FROM spans"
        f" WHERE {where} GROUP BY 1 ORDER BY 1"
    )
    crossed = min(m for m, p95 in per_minute if p95 > 2 * base_p95)
    assert sc.deploys[0].minute < first_minute < crossed


def test_logs_tell_the_story(incident: Loaded) -> None:
    """New patterns at the onset, grown ones, and background noise that does not move."""
    w = windows(incident)
    m = incident.minute("timestamp")

    def count(service: str, prefix: str, window: tuple[float, float]) -> int:
        return incident.one(
            f"SELECT count(*) FROM logs WHERE service_name = ? AND starts_with(body, ?)"
            f" AND {m} >= ? AND {m} < ?",
            [service, prefix, *window],
        )

    base, peak = w["base"], w["peak"]
    assert count("checkout", "payment timeout after 2000ms order=", base) == 0
    assert count("checkout", "payment timeout after 2000ms order=", peak) > 100
    assert count("checkout", "retrying payment charge (attempt", base) >= 1
    assert count("checkout", "retrying payment charge (attempt", peak) > 50
    assert count("frontend", "POST /checkout failed: 503", peak) > 20
    assert count("payment", "fraud rule evaluation over budget", base) == 0
    assert count("payment", "starting payment service version=4.12.0", (17, 19)) == 2
    # unrelated background errors, at a steady low rate before and during the incident
    for service, prefix in (
        ("notification", "smtp temporary failure"),
        ("postgres", "duplicate key value violates unique constraint"),
        ("product-catalog", "recommendations refresh failed"),
    ):
        assert count(service, prefix, (0, 20)) >= 1, prefix
        assert count(service, prefix, (20, 40)) >= 1, prefix
    assert count("cart", "redis connection reset, retrying", (0, 40)) >= 2


def test_trace_and_span_ids_link_logs_to_spans(incident: Loaded) -> None:
    unmatched = incident.one(
        "SELECT count(*) FROM logs l WHERE l.trace_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM spans s WHERE s.trace_id = l.trace_id AND s.span_id = l.span_id)"
    )
    linked = incident.one("SELECT count(*) FROM logs WHERE trace_id IS NOT NULL")
    assert unmatched == 0 and linked > 5000


def test_deploy_changes_the_payment_version(incident: Loaded) -> None:
    m = incident.minute("start_time")

    def versions(lo: float, hi: float) -> set[str]:
        rows = incident.rows(
            "SELECT DISTINCT resource_attributes->>'$.\"service.version\"' FROM spans"
            f" WHERE service_name = 'payment' AND {m} >= ? AND {m} < ?",
            [lo, hi],
        )
        return {r[0] for r in rows}

    assert versions(0, 17.5) == {"4.11.3"}
    assert versions(19, 40) == {"4.12.0"}


def test_retries_counter_grows(incident: Loaded) -> None:
    """checkout's cumulative payment.retries: its increase over each window, all pods."""
    m = incident.minute("timestamp")

    def increase(window: tuple[float, float]) -> float:
        return incident.one(
            "SELECT sum(d) FROM (SELECT max(value) - min(value) AS d FROM metric_points"
            f" WHERE metric_name = 'payment.retries' AND {m} >= ? AND {m} < ?"
            " GROUP BY service_name, resource_attributes, attributes)",
            list(window),
        )

    w = windows(incident)
    assert increase(w["base"]) < 10
    assert increase(w["peak"]) > 100


def test_browse_latency_is_unaffected(incident: Loaded) -> None:
    w = windows(incident)
    names = ", ".join(f"'{n}'" for n in BROWSE)
    where = f"service_name = 'frontend' AND kind = 'SERVER' AND name IN ({names})"
    base = quantile_ms(incident, where, w["base"], 0.5)
    peak = quantile_ms(incident, where, w["peak"], 0.5)
    assert peak == pytest.approx(base, rel=0.2)
    errors = incident.one(f"SELECT avg((status_code = 'ERROR')::INT) FROM spans WHERE {where}")
    assert errors == 0


def test_partial_recovery_at_the_end(incident: Loaded) -> None:
    w = windows(incident)
    base, peak, tail = (checkout_error_rate(incident, w[k]) for k in ("base", "peak", "tail"))
    assert base < tail < peak / 2
    assert tail > 0.01
    assert 0.6 < cpu(incident, "payment", w["tail"]) < 0.85
    where = "service_name = 'payment' AND kind = 'SERVER'"
    p95 = {k: quantile_ms(incident, where, w[k], 0.95) for k in w}
    assert 3 * p95["base"] < p95["tail"] < p95["peak"]
    pods = incident.one(
        "SELECT count(DISTINCT resource_attributes->>'$.\"k8s.pod.name\"') FROM spans"
        f" WHERE service_name = 'payment' AND {incident.minute('start_time')} >= 36"
    )
    assert pods == 4  # scaled out from 2 to 4
