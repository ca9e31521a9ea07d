"""OTLP/JSON traces, logs and metrics, as the Collector's ``file`` exporter writes them.

One ``Export{Trace,Logs,Metrics}ServiceRequest`` per line, in the OTLP/JSON encoding the
Collector's pdata marshaler produces: lowerCamelCase fields, hex ids, enums as integers,
64-bit integers as strings, empty ``status`` as ``{}``, empty fields left out.

Batching mirrors a collector with a batch processor: spans are exported when they end
and logs when they are written, so a line holds the records of one ``BATCH_NS`` window
(at most ``BATCH_MAX`` of them), grouped by resource (the pod) and then by scope. Metrics
are exported by each pod's SDK every 30 s from its process start (a periodic reader), so
each line is one pod's export: cumulative histograms of ``http.server.request.duration``
per route/method/status (plus ``rpc.grpc.status_code`` on gRPC servers, whose transport
status is always 200), the ``process.cpu.utilization`` gauge, ``process.memory.usage``
and, on checkout, the ``payment.retries`` counter.

Cumulative means since the process started: pods running before the window already
carry counts (an estimate from their early-window rate and uptime), and pods started by a
deploy or a scale-out begin at zero with their own start time, as real SDKs report.

The JSON is assembled from string pieces (orjson only escapes strings): at ``--scale
50`` there are millions of spans and building nested dicts per record would dominate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from obsctl.demo import topology as topo
from obsctl.demo.traffic import SEC, Simulation
from obsctl.demo.writers import WrittenFile, open_text, resource_of

BATCH_NS = 5 * SEC
"""Width of one exported batch (a line)."""
BATCH_MAX = 2048
"""Most records in one line (the batch processor's ``send_batch_max_size``)."""
EXPORT_NS = 30 * SEC
"""Metric export interval of every SDK."""
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""Explicit bucket bounds (seconds) of ``http.server.request.duration`` (semconv advice)."""

_SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}

_str_cache: dict[str, str] = {}


def _q(value: str) -> str:
    """A JSON string literal."""
    out = _str_cache.get(value)
    if out is None:
        out = orjson.dumps(value).decode()
        if len(_str_cache) < 50_000:
            _str_cache[value] = out
    return out


def _value(v: object) -> str:
    if isinstance(v, bool):
        return '{"boolValue":' + ("true" if v else "false") + "}"
    if isinstance(v, int):
        return '{"intValue":"' + str(v) + '"}'
    if isinstance(v, float):
        return '{"doubleValue":' + repr(v) + "}"
    return '{"stringValue":' + _q(str(v)) + "}"


def attrs_json(pairs: tuple | list) -> str:
    """An OTLP ``KeyValue`` list."""
    return "[" + ",".join('{"key":' + _q(k) + ',"value":' + _value(v) + "}" for k, v in pairs) + "]"


def _scope(scope: tuple[str, str]) -> str:
    name, version = scope
    if version:
        return '{"name":' + _q(name) + ',"version":' + _q(version) + "}"
    return '{"name":' + _q(name) + "}"


class Batcher:
    """Cuts a time-ordered stream of records into export batches (lines).

    A batch holds the records of one ``BATCH_NS`` window, at most ``BATCH_MAX`` of
    them; ``emit`` is called with each full batch, and with the last one on ``close``.
    """

    def __init__(self, time_index: int, emit: Callable[[list[tuple]], None]) -> None:
        self._ti = time_index
        self._emit = emit
        self._cur: list[tuple] = []
        self._edge: int | None = None

    def add(self, records: list[tuple]) -> None:
        ti, cur, edge = self._ti, self._cur, self._edge
        for rec in records:
            t = rec[ti]
            if edge is None or t >= edge or len(cur) >= BATCH_MAX:
                if cur:
                    self._emit(cur)
                cur = []
                if edge is None or t >= edge:
                    edge = (t // BATCH_NS + 1) * BATCH_NS
            cur.append(rec)
        self._cur, self._edge = cur, edge

    def close(self) -> None:
        if self._cur:
            self._emit(self._cur)
        self._cur = []


def _line(root: str, list_key: str, items_key: str, groups: dict, resources: list[str]) -> str:
    """One request: resource → scope → records (already JSON)."""
    parts = []
    for inst in sorted(groups):
        scopes = groups[inst]
        body = ",".join(
            '{"scope":' + _scope(scope) + ',"' + items_key + '":[' + ",".join(recs) + "]}"
            for scope, recs in sorted(scopes.items())
        )
        parts.append(
            '{"resource":{"attributes":'
            + resources[inst]
            + '},"'
            + list_key
            + '":['
            + body
            + '],"schemaUrl":"'
            + SCHEMA_URL
            + '"}'
        )
    return '{"' + root + '":[' + ",".join(parts) + "]}\n"


def _resources(sim: Simulation) -> list[str]:
    return [attrs_json(resource_of(inst)) for inst in sim.instances]


# ------------------------------------------------------------------------------ traces


def _span_json(s: tuple) -> str:
    start, end, trace, sid, parent, _inst, _scope, name, kind, code, msg, attrs = s
    if parent:
        head = (
            '{"traceId":"'
            + trace
            + '","spanId":"'
            + sid
            + '","parentSpanId":"'
            + parent
            + '","flags":'
            + ("769" if kind in (2, 5) else "257")
        )
    else:
        head = '{"traceId":"' + trace + '","spanId":"' + sid + '","flags":257'
    if code == 2:
        status = '{"message":' + _q(msg) + ',"code":2}' if msg else '{"code":2}'
    else:
        status = "{}"
    return (
        head
        + ',"name":'
        + _q(name)
        + ',"kind":'
        + str(kind)
        + ',"startTimeUnixNano":"'
        + str(start)
        + '","endTimeUnixNano":"'
        + str(end)
        + '","attributes":'
        + attrs_json(attrs)
        + ',"status":'
        + status
        + "}"
    )


class TraceWriter:
    """``traces/otel-traces.jsonl``: every span, batched by end time (a ``Sink`` part)."""

    def __init__(self, out: IO[str], rel: str, sim: Simulation) -> None:
        self._out = out
        self._rel = rel
        self._resources = _resources(sim)
        self._count = 0
        self._batcher = Batcher(1, self._write)

    def _write(self, batch: list[tuple]) -> None:
        groups: dict[int, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
        for s in batch:
            groups[s[5]][s[6]].append(_span_json(s))
        self._out.write(_line("resourceSpans", "scopeSpans", "spans", groups, self._resources))
        self._count += len(batch)

    def add(self, spans: list[tuple]) -> None:
        self._batcher.add(spans)

    def close(self) -> list[WrittenFile]:
        self._batcher.close()
        return [WrittenFile(self._rel, "otlp-traces", "traces", self._count)]


# -------------------------------------------------------------------------------- logs


def _log_json(rec: tuple, observed: int) -> str:
    t, _inst, level, body, trace, sid, _logger, attrs = rec
    out = (
        '{"timeUnixNano":"'
        + str(t)
        + '","observedTimeUnixNano":"'
        + str(observed)
        + '","severityNumber":'
        + str(_SEVERITY[level])
        + ',"severityText":"'
        + level
        + '","body":{"stringValue":'
        + _q(body)
        + "}"
    )
    if attrs:
        out += ',"attributes":' + attrs_json(attrs)
    if trace:
        out += ',"flags":1,"traceId":"' + trace + '","spanId":"' + sid + '"'
    return out + "}"


class LogWriter:
    """``logs/otel-logs.jsonl``: logs of the services logging through OTLP (a ``Sink`` part).

    ``add`` takes the time-ordered logs of every service and keeps those of OTLP pods.
    """

    def __init__(self, out: IO[str], rel: str, sim: Simulation) -> None:
        self._out = out
        self._rel = rel
        self._resources = _resources(sim)
        self._pods = {i.idx for i in sim.instances if topo.SERVICE[i.service].logs == "otlp"}
        self._count = 0
        self._batcher = Batcher(0, self._write)

    def _write(self, batch: list[tuple]) -> None:
        groups: dict[int, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
        for rec in batch:
            observed = rec[0] + 1_000_000 + (rec[0] % 7_000_000)
            groups[rec[1]][(rec[6] or "main", "")].append(_log_json(rec, observed))
        self._out.write(_line("resourceLogs", "scopeLogs", "logRecords", groups, self._resources))
        self._count += len(batch)

    def add(self, logs: list[tuple]) -> None:
        pods = self._pods
        self._batcher.add([r for r in logs if r[1] in pods])

    def close(self) -> list[WrittenFile]:
        self._batcher.close()
        return [WrittenFile(self._rel, "otlp-logs", "logs", self._count)]


# ----------------------------------------------------------------------------- metrics

_RUNTIME_SCOPE = {
    "go": ("go.opentelemetry.io/contrib/instrumentation/runtime", "0.60.0"),
    "java": ("io.opentelemetry.runtime-telemetry-java17", "2.14.0-alpha"),
    "nodejs": ("@opentelemetry/host-metrics", "0.35.5"),
    "python": ("opentelemetry.instrumentation.system_metrics", "0.51b0"),
}


def _ticks(start: int, stop: int | None, t0: int, end: int, jitter: np.ndarray) -> list[int]:
    """Export times of one pod: every 30 s from its start, plus a final flush at stop."""
    first = start + max(1, -(-(t0 - start) // EXPORT_NS)) * EXPORT_NS
    last = min(end, stop) if stop is not None else end
    ticks = list(range(first, last, EXPORT_NS))
    if stop is not None and stop < end:
        ticks.append(stop - SEC // 2)
    return [int(t + jitter[i % len(jitter)]) for i, t in enumerate(ticks)]


def _point(attrs: str, start: int, t: int, fields: str) -> str:
    head = '{"attributes":' + attrs + "," if attrs != "[]" else "{"
    return (
        head
        + '"startTimeUnixNano":"'
        + str(start)
        + '","timeUnixNano":"'
        + str(t)
        + '",'
        + fields
        + "}"
    )


def write_metrics(sim: Simulation, out_dir: Path, *, gzip: bool) -> list[WrittenFile]:
    """``metrics/otel-metrics.jsonl``: each pod's export every 30 s."""
    sc = sim.scenario
    t0, end = sc.start_ns, sc.end_ns
    rng = sim.rng("otlp-metrics")
    resources = _resources(sim)
    bounds = np.asarray(BOUNDS)
    bounds_json = "[" + ",".join(repr(b) for b in BOUNDS) + "]"

    # request observations by pod and series
    series: dict[int, dict[tuple, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for req_end, inst, route, method, status, grpc, dur in sim.requests:
        series[inst][(route, method, status, grpc)].append((req_end, dur))
    retries: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for t, inst, reason in sim.retries:
        retries[inst][reason].append(t)

    lines: list[tuple[int, int, str]] = []
    points = 0
    for inst in sim.instances:
        svc = topo.SERVICE[inst.service]
        ticks = _ticks(inst.start_ns, inst.stop_ns, t0, end, rng.integers(0, 40_000_000, 97))
        if not ticks:
            continue
        tick_arr = np.asarray(ticks, dtype=np.int64)
        uptime_before = max(0, t0 - inst.start_ns)
        # --- http.server.request.duration, cumulative per series
        hist: list[list[str]] = [[] for _ in ticks]
        for key in sorted(series.get(inst.idx, {})):
            route, method, status, grpc = key
            obs = series[inst.idx][key]
            obs.sort()
            ends = np.fromiter((o[0] for o in obs), np.int64, len(obs))
            durs = np.fromiter((o[1] for o in obs), np.float64, len(obs)) / 1e9
            onehot = np.zeros((len(obs) + 1, len(BOUNDS) + 1), dtype=np.int64)
            onehot[np.arange(1, len(obs) + 1), np.searchsorted(bounds, durs, side="left")] = 1
            cum = np.cumsum(onehot, axis=0)
            cum_sum = np.concatenate([[0.0], np.cumsum(durs)])
            # counts before the window: the first ten minutes' rate over the uptime, halved
            # (the night before the sale was quieter)
            early = ends < t0 + 600 * SEC
            prior = cum[int(early.sum())] * (uptime_before / (600 * SEC) * 0.5)
            prior = np.floor(prior).astype(np.int64)
            prior_sum = float(durs[early].mean()) * int(prior.sum()) if early.any() else 0.0
            at = np.searchsorted(ends, tick_arr, side="right")
            attrs = [
                ("http.request.method", method),
                ("http.route", route),
                ("http.response.status_code", status),
            ]
            if grpc >= 0:
                attrs.append(("rpc.grpc.status_code", grpc))
            a_json = attrs_json(attrs)
            for i, n in enumerate(at.tolist()):
                counts = cum[n] + prior
                total = int(counts.sum())
                if total == 0:
                    continue
                hist[i].append(
                    _point(
                        a_json,
                        inst.start_ns,
                        ticks[i],
                        '"count":"'
                        + str(total)
                        + '","sum":'
                        + repr(round(float(cum_sum[n]) + prior_sum, 6))
                        + ',"bucketCounts":['
                        + ",".join('"' + str(c) + '"' for c in counts.tolist())
                        + '],"explicitBounds":'
                        + bounds_json,
                    )
                )
        # --- process metrics
        minutes = (tick_arr - 15 * SEC - t0) / 60e9
        cpu = sc.cpu_at(inst.service, minutes) + rng.normal(0, 0.012, len(ticks))
        cpu = np.clip(cpu, 0.004, 1.0)
        mem = svc.memory_mb * 1048576 * (1 + 0.03 * np.sin(minutes / 3.1 + inst.idx)) + rng.normal(
            0, svc.memory_mb * 4000, len(ticks)
        )
        # --- payment.retries (checkout)
        retry_series = retries.get(inst.idx, {})
        if svc.name == "checkout":
            retry_series = {r: retry_series.get(r, []) for r in ("server_error", "timeout")}
        for i, t in enumerate(ticks):
            metrics = []
            if hist[i]:
                metrics.append(
                    '{"name":"http.server.request.duration","unit":"s","description":'
                    '"Duration of HTTP server requests.","histogram":{"dataPoints":['
                    + ",".join(hist[i])
                    + '],"aggregationTemporality":2}}'
                )
            runtime = [
                '{"name":"process.cpu.utilization","unit":"1","description":"Difference in'
                " process.cpu.time since the last measurement, divided by the elapsed time and"
                ' number of CPUs available to the process.","gauge":{"dataPoints":['
                '{"timeUnixNano":"'
                + str(t)
                + '","asDouble":'
                + repr(round(float(cpu[i]), 4))
                + "}]}}",
                '{"name":"process.memory.usage","unit":"By","description":"The amount of'
                ' physical memory in use.","sum":{"dataPoints":['
                + _point("[]", inst.start_ns, t, '"asInt":"' + str(int(mem[i])) + '"')
                + '],"aggregationTemporality":2}}',
            ]
            retry_points = []
            for reason, times in sorted(retry_series.items()):
                n = sum(1 for x in times if x <= t)
                base = int(uptime_before / 3600e9 * (2 if reason == "server_error" else 0))
                if n + base == 0 and reason == "timeout":
                    continue
                retry_points.append(
                    _point(
                        attrs_json([("reason", reason)]),
                        inst.start_ns,
                        t,
                        '"asInt":"' + str(n + base) + '"',
                    )
                )
            scopes = [(svc.server_scope, metrics)] if metrics else []
            scopes.append((_RUNTIME_SCOPE[svc.language], runtime))
            if retry_points:
                scopes.append(
                    (
                        (inst.service, ""),
                        [
                            '{"name":"payment.retries","unit":"{retry}","description":'
                            '"Payment charge attempts retried by checkout.","sum":{"dataPoints":['
                            + ",".join(retry_points)
                            + '],"aggregationTemporality":2,"isMonotonic":true}}'
                        ],
                    )
                )
            points += len(hist[i]) + 2 + len(retry_points)
            body = ",".join(
                '{"scope":' + _scope(scope) + ',"metrics":[' + ",".join(ms) + "]}"
                for scope, ms in scopes
            )
            lines.append(
                (
                    t,
                    inst.idx,
                    '{"resourceMetrics":[{"resource":{"attributes":'
                    + resources[inst.idx]
                    + '},"scopeMetrics":['
                    + body
                    + '],"schemaUrl":"'
                    + SCHEMA_URL
                    + '"}]}\n',
                )
            )
    lines.sort()
    with open_text(out_dir, "metrics/otel-metrics.jsonl", gzip) as (out, rel):
        for _, _, line in lines:
            out.write(line)
    return [WrittenFile(rel, "otlp-metrics", "metrics", points)]
