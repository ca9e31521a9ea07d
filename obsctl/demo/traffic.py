"""Request simulation: one pass over the window produces every span, log line and request.

``simulate(scenario, scale, seed)`` draws request arrivals (a Poisson process whose rate
follows the scenario's traffic curve), then walks each request through the topology in
time order, timing every operation with ``topology.OPS`` as modified by the scenario's
effects. Everything the writers need falls out of that walk: spans with their real
parent/child timing, the log lines services write at each step (with trace and span ids),
the PostgreSQL server log of slow or failing statements, the server-side request
observations the metric histograms aggregate, and checkout's retries. So the signals
agree by construction: a timeout in the logs is a span with the same ids ending 2 s after
its start, counted in ``payment.retries`` and in the histogram of its server.

Design decisions
    * **Python per request, numpy per draw.** The flows are ordinary code (readable, easy
      to extend with a new fault) and run once per request; all random numbers come from
      numpy in bulk (``Rand`` refills 32k normals/uniforms/ids at a time, ``tolist()``
      makes reading one cost an index), and the scenario curves are tabulated per second
      once, so a span costs a few microseconds. Arrival times are fully vectorised.
    * **Independent streams.** The seed is expanded (``numpy.random.SeedSequence``) into
      separate generators for arrivals, request outcomes, the fleet and background noise,
      so adding a log line to a flow does not reshuffle the arrivals.
    * **Emergent failures.** Scenarios only stretch durations and raise failure rates;
      timeouts, retries, customer re-submissions and error responses follow from the flow
      code (checkout's 2 s payment timeout, PostgreSQL's lock_timeout…), as they would in
      the real system. A timed-out client span ends at its deadline while the server span
      it called runs on: that is what such traces look like.
    * **Streaming.** Requests run in start order and every record a request produces is
      at or after its start, so everything older than the current request is final:
      with a ``Sink`` the buffers are sorted and flushed every ``FLUSH_AT`` records and
      memory stays flat at any ``--scale`` (scale 20: ~170 MB). Only the per-request
      observations the metric histograms aggregate are kept to the end.

Records are plain tuples (field order below): at ``--scale 50`` there are millions of them
and tuples are the cheapest.

* span: ``(start, end, trace_id, span_id, parent_id, pod, scope, name, kind, status_code,
  status_message, attributes)``
* log: ``(time, pod, level, body, trace_id, span_id, logger, attributes)``
* PostgreSQL log: ``(time, pid, "user@db" or "", level, message, ((level, text), …))``
* request: ``(end, pod, route, method, http_status, grpc_code or -1, duration_ns)``
* retry: ``(time, pod, reason)``
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

from obsctl.demo import topology as topo
from obsctl.demo.fleet import MS, SEC, Instance, Router, build_fleet
from obsctl.demo.scenario import Scenario, curve_at

__all__ = ["MS", "SEC", "Instance", "Simulation", "Sink", "simulate"]

# OTLP enum values
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
UNSET, OK, ERROR = 0, 1, 2

# gRPC status codes used by the flows
G_OK, G_DEADLINE, G_NOT_FOUND, G_PRECONDITION, G_UNAVAILABLE = 0, 4, 5, 9, 14
_GRPC_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})
"""Codes that make a gRPC *server* span an error (OpenTelemetry semantic conventions)."""

Attrs = tuple[tuple[str, Any], ...]
Handler = Callable[[str, str, Instance, int, Any], tuple[int, int, str]]
"""A gRPC handler: (trace, server span id, pod, start, argument) → (end, code, message)."""


@dataclass
class Simulation:
    """Everything one run produced; the writers turn it into files."""

    scenario: Scenario
    scale: float
    seed: int
    instances: list[Instance]
    spans: list[tuple] = field(default_factory=list)
    logs: list[tuple] = field(default_factory=list)
    pg_logs: list[tuple] = field(default_factory=list)
    requests: list[tuple] = field(default_factory=list)
    retries: list[tuple] = field(default_factory=list)
    request_count: int = 0
    """Customer requests simulated (arrivals plus re-submissions)."""

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for a writer's own noise, independent of the simulation's streams."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, *purpose.encode()]))


class Sink(Protocol):
    """Receives records as soon as they are final, in time order across calls.

    ``spans`` get lists sorted by (end, start, span id), ``logs`` and ``pg_logs`` lists
    sorted by time; every record of a later call is at or after the previous ones.
    """

    def start(self, sim: Simulation) -> None: ...
    def spans(self, records: list[tuple]) -> None: ...
    def logs(self, records: list[tuple]) -> None: ...
    def pg_logs(self, records: list[tuple]) -> None: ...


FLUSH_AT = 40_000
"""Buffered records that trigger a flush to the sink."""


class Rand:
    """Random numbers drawn by numpy in bulk and handed out one at a time."""

    __slots__ = ("_ids", "_ii", "_n", "_ni", "_rng", "_u", "_ui")
    CHUNK = 1 << 15

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._n: list[float] = []
        self._ni = 0
        self._u: list[float] = []
        self._ui = 0
        self._ids = ""
        self._ii = 0

    def normal(self) -> float:
        """A standard normal draw."""
        i = self._ni
        if i >= len(self._n):
            self._n = self._rng.standard_normal(self.CHUNK).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]

    def uniform(self) -> float:
        """A uniform draw in [0, 1)."""
        i = self._ui
        if i >= len(self._u):
            self._u = self._rng.random(self.CHUNK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def hex(self, n: int) -> str:
        """``n`` random lowercase hex digits (ids)."""
        i = self._ii
        if i + n > len(self._ids):
            self._ids = self._rng.bytes(self.CHUNK * 8).hex()
            i = 0
        self._ii = i + n
        return self._ids[i : i + n]

    def choice(self, seq: tuple | list) -> Any:
        """A uniformly chosen item."""
        return seq[int(self.uniform() * len(seq))]


class _OpTable:
    """An operation's median and, per second of the window, its factor, sigma, error rate."""

    __slots__ = ("err", "fac", "median", "sig")

    def __init__(self, median: float, fac: list[float], sig: list[float], err: list[float]):
        self.median = median
        self.fac = fac
        self.sig = sig
        self.err = err


_MARGIN_S = 600
"""Seconds tabulated past the window end (requests started near the end run on)."""


def _op_tables(sc: Scenario) -> dict[str, _OpTable]:
    n = sc.minutes * 60 + _MARGIN_S
    minutes = (np.arange(n) + 0.5) / 60.0
    out = {}
    for key, op in topo.OPS.items():
        fac = np.ones(n)
        ok = np.full(n, 1.0 - op.error)
        sig = np.full(n, op.sigma)
        for eff in sc.effects:
            if eff.op != key:
                continue
            f = curve_at(eff.latency, minutes)
            fac *= f
            ok *= 1.0 - curve_at(eff.error, minutes)
            if eff.sigma is not None:
                sig = np.where(np.abs(f - 1.0) > 1e-3, eff.sigma, sig)
        out[key] = _OpTable(op.median_ms * MS, fac.tolist(), sig.tolist(), (1.0 - ok).tolist())
    return out


# ----------------------------------------------------------------------------- constants

SQL = {
    "db.catalog.list": (
        "SELECT",
        "products",
        "SELECT id, name, price_cents, image_url FROM products WHERE category = $1"
        " ORDER BY rank LIMIT 24",
    ),
    "db.catalog.get": ("SELECT", "products", "SELECT * FROM products WHERE id = $1"),
    "db.catalog.search": (
        "SELECT",
        "products",
        "SELECT id, name, price_cents FROM products WHERE search_vector @@ plainto_tsquery($1)"
        " ORDER BY ts_rank(search_vector, plainto_tsquery($1)) DESC LIMIT 24",
    ),
    "db.catalog.products": (
        "SELECT",
        "products",
        "SELECT id, name, price_cents FROM products WHERE id = ANY($1)",
    ),
    "db.inventory.reserve": (
        "UPDATE",
        "stock",
        "UPDATE stock SET reserved = reserved + v.qty FROM unnest($1::text[], $2::int[])"
        " AS v(sku, qty) WHERE stock.sku = v.sku AND stock.quantity - stock.reserved >= v.qty",
    ),
    "db.order.insert": (
        "INSERT",
        "orders",
        "insert into orders (id, customer_id, total_cents, currency, status, created_at)"
        " values ($1, $2, $3, $4, $5, $6)",
    ),
}
"""Operation key → (db.operation.name, db.collection.name, db.query.text)."""

_DB_ATTRS: dict[str, Attrs] = {
    op: (
        ("db.system", "postgresql"),
        ("db.namespace", "shop"),
        ("db.operation.name", operation),
        ("db.collection.name", table),
        ("db.query.text", statement),
        ("server.address", topo.PG_SERVER),
        ("server.port", 5432),
        ("peer.service", "postgres"),
    )
    for op, (operation, table, statement) in SQL.items()
}
_LOCK_ERR: Attrs = (("db.response.status_code", "55P03"), ("error.type", "55P03"))
_REDIS_ATTRS: dict[str, Attrs] = {
    cmd: (
        ("db.system", "redis"),
        ("db.operation.name", cmd),
        ("server.address", topo.REDIS_SERVER),
        ("server.port", 6379),
        ("peer.service", "redis"),
    )
    for cmd in ("HGETALL", "HSET")
}
_PAYMENT_CLIENT: Attrs = (
    ("http.request.method", "POST"),
    ("url.full", "http://payment:8080/charge"),
    ("server.address", "payment"),
    ("server.port", 8080),
    ("peer.service", "payment"),
)
_GATEWAY: Attrs = (
    ("http.request.method", "POST"),
    ("url.full", f"https://{topo.GATEWAY_SERVER}/v1/charges"),
    ("url.template", "/v1/charges"),
    ("server.address", topo.GATEWAY_SERVER),
    ("server.port", 443),
    ("peer.service", "payment-gateway"),
)
_KAFKA = (("messaging.system", "kafka"), ("messaging.destination.name", "order-events"))
_KAFKA_SCOPE = ("io.opentelemetry.kafka-clients-2.6", "2.14.0-alpha")
_SMTP: Attrs = (("server.address", "smtp.sendgrid.net"),)
_LETTUCE_ERR = "io.lettuce.core.RedisConnectionException"
_TIMEOUT_MSG = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
_PAYMENT_LOGGER = "checkout/internal/payment"
_CHECKOUT_LOGGER = "checkout/internal/service"


# ----------------------------------------------------------------------------- simulation


@dataclass
class _Order:
    """What a checkout carries through its calls."""

    order_id: str
    items: int
    amount: float
    card: str
    customer: str


class _Sim:
    """The flows; one instance runs one simulation."""

    def __init__(self, sc: Scenario, scale: float, seed: int, sink: Sink | None) -> None:
        streams = np.random.SeedSequence(seed).spawn(5)
        fleet_rng, self.arrival_rng, flow_rng, bg_rng, pg_rng = map(np.random.default_rng, streams)
        self.sc = sc
        self.scale = scale
        self.t0 = sc.start_ns
        self.end = sc.end_ns
        self.nsec = sc.minutes * 60 + _MARGIN_S
        self.r = Rand(flow_rng)
        self.bg = Rand(bg_rng)
        self.fleet = build_fleet(sc, fleet_rng)
        self.router = Router(self.fleet)
        self.ops = _op_tables(sc)
        self.out = Simulation(sc, scale, seed, self.fleet)
        self.spans = self.out.spans
        self.logs = self.out.logs
        self.pg = self.out.pg_logs
        self.requests = self.out.requests
        self.sink = sink
        self.pending: list[tuple[int, int, str]] = []
        self._seq = 0
        users = ("catalog_svc", "inventory_svc", "order_svc")
        self.pg_pids = {u: [int(x) for x in pg_rng.integers(2000, 32000, 12)] for u in users}
        self.pg_xid = int(pg_rng.integers(8_000_000, 9_000_000))
        self.lock_holder = int(pg_rng.integers(2000, 32000))
        self.scopes = {s.name: (s.server_scope, s.client_scope) for s in topo.SERVICES}

    # ---------------------------------------------------------------- primitives

    def sec(self, t: int) -> int:
        s = (t - self.t0) // SEC
        return 0 if s < 0 else (s if s < self.nsec else self.nsec - 1)

    def dur(self, op: str, t: int) -> int:
        """A duration (ns) of an operation starting at ``t``."""
        o = self.ops[op]
        s = self.sec(t)
        return int(o.median * o.fac[s] * math.exp(o.sig[s] * self.r.normal()))

    def fails(self, op: str, t: int) -> bool:
        """Whether an operation starting at ``t`` fails (background rate + scenario)."""
        return self.r.uniform() < self.ops[op].err[self.sec(t)]

    def net(self, t: int) -> int:
        """One-way network time between two pods."""
        return self.dur("net", t)

    def pick(self, service: str, t: int) -> Instance:
        return self.router.pick(service, t, self.r.uniform())

    def span(
        self,
        inst: Instance,
        name: str,
        kind: int,
        start: int,
        end: int,
        trace: str,
        sid: str,
        parent: str,
        attrs: Attrs = (),
        err: str = "",
        scope: tuple[str, str] | None = None,
    ) -> None:
        """Record a span; a non-empty ``err`` makes it an error with that message."""
        if scope is None:
            scope = self.scopes[inst.service][0 if kind in (SERVER, CONSUMER) else 1]
        code = ERROR if err else UNSET
        rec = (start, end, trace, sid, parent, inst.idx, scope, name, kind, code, err, attrs)
        self.spans.append(rec)

    def log(
        self,
        t: int,
        inst: Instance,
        level: str,
        body: str,
        trace: str = "",
        sid: str = "",
        logger: str = "main",
        attrs: Attrs = (),
    ) -> None:
        self.logs.append((t, inst.idx, level, body, trace, sid, logger, attrs))

    def pg_line(self, t: int, pid: int, who: str, level: str, msg: str, *extra: tuple) -> None:
        """A PostgreSQL log record; ``extra`` are its (level, text) follow-up lines."""
        self.pg.append((t, pid, who, level, msg, extra))

    # ---------------------------------------------------------------- calls

    def grpc(
        self,
        trace: str,
        parent: str,
        client: Instance,
        t: int,
        service: str,
        method: str,
        handler: Handler,
        arg: Any = None,
    ) -> tuple[int, int, str]:
        """A unary gRPC call ``method`` = ``shop.XService/Method``: client and server spans."""
        csid = self.r.hex(16)
        server = self.pick(service, t)
        ss = t + self.net(t)
        ssid = self.r.hex(16)
        se, code, msg = handler(trace, ssid, server, ss, arg)
        ce = se + self.net(t)
        rpc_service, _, rpc_method = method.partition("/")
        base = (("rpc.system", "grpc"), ("rpc.service", rpc_service), ("rpc.method", rpc_method))
        status = ("rpc.grpc.status_code", code)
        server_err = msg if code in _GRPC_SERVER_ERRORS else ""
        self.span(server, method, SERVER, ss, se, trace, ssid, csid, (*base, status), server_err)
        peer = (("server.address", service), ("server.port", 50051), ("peer.service", service))
        client_err = msg if code else ""
        self.span(
            client, method, CLIENT, t, ce, trace, csid, parent, (*base, status, *peer), client_err
        )
        self.requests.append((se, server.idx, "/" + method, "POST", 200, code, se - ss))
        return ce, code, msg

    def http_server(
        self,
        inst: Instance,
        trace: str,
        sid: str,
        parent: str,
        start: int,
        end: int,
        route: str,
        path: str,
        status: int,
        err: str = "",
        extra: Attrs = (),
    ) -> None:
        """An HTTP server span (``route`` = ``METHOD /template``) and its observation."""
        method, _, template = route.partition(" ")
        attrs = (
            ("http.request.method", method),
            ("http.route", template),
            ("url.path", path),
            ("url.scheme", "http" if parent else "https"),
            ("http.response.status_code", status),
            *extra,
        )
        self.span(inst, route, SERVER, start, end, trace, sid, parent, attrs, err)
        self.requests.append((end, inst.idx, template, method, status, -1, end - start))

    def db(
        self, trace: str, parent: str, inst: Instance, t: int, op: str, *, lock: bool = False
    ) -> tuple[int, str]:
        """A PostgreSQL statement: client span, server log lines. Returns (end, error)."""
        operation, table, statement = SQL[op]
        d = self.dur(op, t)
        err = ""
        if lock and d >= topo.PG_LOCK_TIMEOUT_MS * MS:
            d = int(topo.PG_LOCK_TIMEOUT_MS * MS) + self.net(t) * 4
            err = "canceling statement due to lock timeout"
        attrs = _DB_ATTRS[op] + _LOCK_ERR if err else _DB_ATTRS[op]
        msg = f"ERROR: {err} (SQLSTATE 55P03)" if err else ""
        name = f"{operation} {table}"
        self.span(inst, name, CLIENT, t, t + d, trace, self.r.hex(16), parent, attrs, msg)
        self._pg_statement(inst, t, d, statement, err, lock)
        return t + d, err

    def _pg_statement(
        self, inst: Instance, t: int, d: int, statement: str, err: str, lock: bool
    ) -> None:
        """What PostgreSQL logs about one statement (slow, waiting on a lock, failing)."""
        user = topo.SERVICE[inst.service].db_user
        who = f"{user}@shop"
        pid = self.r.choice(self.pg_pids[user])
        ms = d / MS
        stmt = ("STATEMENT", statement)
        if lock and ms > topo.PG_DEADLOCK_TIMEOUT_MS:
            self.pg_xid += 1
            xid = self.pg_xid
            tup = f"({int(self.r.uniform() * 900) + 10},{int(self.r.uniform() * 40) + 1})"
            context = ("CONTEXT", f'while updating tuple {tup} in relation "stock"')
            wait = topo.PG_DEADLOCK_TIMEOUT_MS + self.r.uniform() * 0.4
            holder = ("DETAIL", f"Process holding the lock: {self.lock_holder}. Wait queue: {pid}.")
            waiting = f"process {pid} still waiting for ShareLock on transaction {xid}"
            self.pg_line(t + int(wait * MS), pid, who, "LOG", f"{waiting} after {wait:.3f} ms",
                         holder, context, stmt)  # fmt: skip
            if err:
                self.pg_line(t + d, pid, who, "ERROR", err, context, stmt)
            else:
                acquired = (
                    f"process {pid} acquired ShareLock on transaction {xid} after {ms:.3f} ms"
                )
                self.pg_line(t + d, pid, who, "LOG", acquired, context, stmt)
        elif err:
            self.pg_line(t + d, pid, who, "ERROR", err, stmt)
        elif ms >= topo.PG_LOG_MIN_DURATION_MS:
            if user == "order_svc":  # JDBC: extended protocol, parameters in a DETAIL line
                params = "parameters: $1 = '…', $2 = '…', $3 = '…', $4 = 'USD', $5 = 'PLACED'"
                self.pg_line(t + d, pid, who, "LOG", f"duration: {ms:.3f} ms  execute S_1: "
                             f"{statement}", ("DETAIL", params))  # fmt: skip
            else:
                self.pg_line(
                    t + d, pid, who, "LOG", f"duration: {ms:.3f} ms  statement: {statement}"
                )

    def redis(self, trace: str, parent: str, inst: Instance, t: int, op: str, cmd: str) -> int:
        """A Redis command (retried once on a connection reset). Returns its end."""
        attrs = _REDIS_ATTRS[cmd]
        d = self.dur(op, t)
        if self.fails(op, t):
            err = f"{_LETTUCE_ERR}: Connection reset by peer"
            bad = (*attrs, ("error.type", _LETTUCE_ERR))
            self.span(inst, cmd, CLIENT, t, t + d, trace, self.r.hex(16), parent, bad, err)
            self.log(t + d, inst, "WARN", "redis connection reset, retrying", trace, parent,
                     "com.shop.cart.RedisCartStore", (("redis.command", cmd),))  # fmt: skip
            t += d + int(20 * MS + self.r.uniform() * 30 * MS)
            d = self.dur(op, t)
        self.span(inst, cmd, CLIENT, t, t + d, trace, self.r.hex(16), parent, attrs)
        return t + d

    # ---------------------------------------------------------------- frontend flows

    def access_log(
        self, fe: Instance, end: int, trace: str, sid: str, route: str, path: str, status: int,
        dur: int,
    ) -> None:  # fmt: skip
        """pino-http's line for each request the frontend served."""
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        attrs = (
            ("http.request.method", route.partition(" ")[0]),
            ("url.path", path),
            ("http.response.status_code", status),
            ("duration_ms", round(dur / MS, 1)),
        )
        self.log(end, fe, level, "request completed", trace, sid, "pino-http", attrs)

    def browse(self, t: int, sub: str) -> None:
        r = self.r
        trace, root = r.hex(32), r.hex(16)
        fe = self.pick("frontend", t)
        d = self.dur("frontend.browse", t)
        c0 = t + int(d * 0.7)
        catalog = "product-catalog"
        if sub == "list":
            route = "GET /products"
            path = "/products?category=" + r.choice(
                ("shoes", "outdoor", "kitchen", "toys", "books")
            )
            arg: tuple = ("catalog.list", "db.catalog.list")
            method = "shop.ProductCatalogService/ListProducts"
        elif sub == "product":
            route = "GET /products/{id}"
            pid = "P" + r.hex(8).upper()
            path = f"/products/{pid}"
            arg = ("catalog.get", "db.catalog.get", pid)
            method = "shop.ProductCatalogService/GetProduct"
        else:
            route, path = "GET /search", "/search"
            arg = ("catalog.search", "db.catalog.search")
            method = "shop.ProductCatalogService/SearchProducts"
        ce, code, _ = self.grpc(trace, root, fe, c0, catalog, method, self.h_catalog, arg)
        end = ce + int(d * 0.3)
        status = 200 if code == G_OK else 404 if code == G_NOT_FOUND else 503
        self.http_server(fe, trace, root, "", t, end, route, path, status)
        self.access_log(fe, end, trace, root, route, path, status, end - t)

    def cart(self, t: int, sub: str) -> None:
        r = self.r
        trace, root = r.hex(32), r.hex(16)
        fe = self.pick("frontend", t)
        d = self.dur("frontend.cart", t)
        c0 = t + int(d * 0.7)
        add = sub == "add"
        method = "shop.CartService/AddItem" if add else "shop.CartService/GetCart"
        ce, code, _ = self.grpc(trace, root, fe, c0, "cart", method, self.h_cart, sub)
        end = ce + int(d * 0.3)
        status = 200 if code == G_OK else 503
        route = "POST /cart" if add else "GET /cart"
        self.http_server(fe, trace, root, "", t, end, route, "/cart", status)
        self.access_log(fe, end, trace, root, route, "/cart", status, end - t)

    def checkout(self, t: int, resubmits: int = 0, customer: str = "") -> None:
        r = self.r
        trace, root = r.hex(32), r.hex(16)
        fe = self.pick("frontend", t)
        d = self.dur("frontend.checkout", t)
        c0 = t + int(d * 0.7)
        card = r.choice(("4111", "5521", "4024", "3714", "6011")) + "********"
        card += "".join(str(int(c, 16) % 10) for c in r.hex(4))
        order = _Order(
            order_id="ord-" + r.hex(10),
            items=1 + int(-math.log(1.0 - r.uniform()) * 1.6),
            amount=round(math.exp(4.0 + 0.6 * r.normal()), 2),
            card=card,
            customer=customer or "cus_" + r.hex(8),
        )
        method = "shop.CheckoutService/PlaceOrder"
        ce, code, msg = self.grpc(trace, root, fe, c0, "checkout", method, self.h_place, order)
        end = ce + int(d * 0.3)
        status = {G_OK: 200, G_PRECONDITION: 402, G_DEADLINE: 504}.get(code, 503)
        reason = {402: "Payment Required", 503: "Service Unavailable"}.get(status, "")
        err = f"{status} {reason}: {msg}" if status >= 500 else ""
        extra = (("app.order.id", order.order_id),)
        self.http_server(fe, trace, root, "", t, end, "POST /checkout", "/checkout", status, err,
                         extra)  # fmt: skip
        self.access_log(fe, end, trace, root, "POST /checkout", "/checkout", status, end - t)
        if status < 500:
            return
        body = f"POST /checkout failed: {status} {reason} ({msg}) order={order.order_id}"
        self.log(end, fe, "ERROR", body, trace, root, "checkout-page")
        # a share of customers try again a little later
        if resubmits < 2 and r.uniform() < 0.45:
            later = end + int((4 + r.uniform() * 30) * SEC)
            self._seq += 1
            kind = f"checkout:{resubmits + 1}:{order.customer}"
            heapq.heappush(self.pending, (later, self._seq, kind))

    # ---------------------------------------------------------------- handlers

    def h_catalog(self, trace: str, sid: str, inst: Instance, t: int, arg: tuple):
        op, dbop = arg[0], arg[1]
        d = self.dur(op, t)
        end, _ = self.db(trace, sid, inst, t + int(d * 0.6), dbop)
        end += int(d * 0.4)
        if op == "catalog.get" and self.r.uniform() < topo.PRODUCT_NOT_FOUND:
            body = f"product not found id={arg[2]}"
            self.log(end, inst, "WARN", body, trace, sid, "catalog/internal/store")
            return end, G_NOT_FOUND, f"product {arg[2]} not found"
        return end, G_OK, ""

    def h_cart(self, trace: str, sid: str, inst: Instance, t: int, sub: str):
        d = self.dur("cart.add" if sub == "add" else "cart.get", t)
        cur = t + int(d * 0.6)
        if sub == "add":
            cur = self.redis(trace, sid, inst, cur, "redis.set", "HSET")
            end = cur + int(d * 0.4)
            body = f"item added to cart quantity={1 + int(self.r.uniform() * 3)}"
            self.log(end, inst, "INFO", body, trace, sid, "com.shop.cart.CartService")
        else:
            cur = self.redis(trace, sid, inst, cur, "redis.get", "HGETALL")
            end = cur + int(d * 0.4)
        return end, G_OK, ""

    def h_products(self, trace: str, sid: str, inst: Instance, t: int, arg: Any):
        d = self.dur("catalog.products", t)
        end, _ = self.db(trace, sid, inst, t + int(d * 0.5), "db.catalog.products")
        return end + int(d * 0.5), G_OK, ""

    def h_inventory(self, trace: str, sid: str, inst: Instance, t: int, order: _Order):
        d = self.dur("inventory.check", t)
        end, err = self.db(trace, sid, inst, t + int(d * 0.5), "db.inventory.reserve", lock=True)
        end += int(d * 0.5)
        if err:
            attrs = (("order", order.order_id), ("err", f"ERROR: {err} (SQLSTATE 55P03)"))
            self.log(end, inst, "ERROR", "stock reservation failed", trace, sid, "stock.go:142",
                     attrs)  # fmt: skip
            return end, G_UNAVAILABLE, f"stock reservation failed: {err}"
        attrs = (("order", order.order_id), ("items", order.items))
        self.log(end, inst, "INFO", "stock reserved", trace, sid, "stock.go:151", attrs)
        return end, G_OK, ""

    def h_pricing(self, trace: str, sid: str, inst: Instance, t: int, order: _Order):
        end = t + self.dur("pricing.quote", t)
        if self.fails("pricing.quote", t):
            msg = "failed to fetch exchange rates: upstream connect error or disconnect/reset"
            self.log(end, inst, "ERROR", msg, trace, sid, "pricing.rates")
            return end, G_UNAVAILABLE, msg
        return end, G_OK, ""

    def h_place(self, trace: str, sid: str, inst: Instance, t: int, order: _Order):
        """checkout's PlaceOrder: cart, catalog, stock, price, charge, create the order."""
        d = self.dur("checkout.place", t)
        cur = t + int(d * 0.4)
        post = int(d * 0.6)
        oid = order.order_id
        cur, _, _ = self.grpc(trace, sid, inst, cur, "cart", "shop.CartService/GetCart",
                              self.h_cart, "get")  # fmt: skip
        products = "shop.ProductCatalogService/GetProducts"
        cur, _, _ = self.grpc(trace, sid, inst, cur, "product-catalog", products, self.h_products)
        for service, method, handler, what in (
            ("inventory", "shop.InventoryService/CheckStock", self.h_inventory, "inventory"),
            ("pricing", "shop.PricingService/Quote", self.h_pricing, "pricing"),
        ):
            cur, code, msg = self.grpc(trace, sid, inst, cur, service, method, handler, order)
            if code:
                msg = f"{what} unavailable: {msg}"
                self.log(cur, inst, "ERROR", f"order {oid} failed: {msg}", trace, sid,
                         _CHECKOUT_LOGGER)  # fmt: skip
                return cur + post, G_UNAVAILABLE, msg
        cur, outcome, msg = self.charge(trace, sid, inst, cur, order)
        if outcome == "declined":
            body = f"payment declined order={oid} reason=card_declined"
            self.log(cur, inst, "WARN", body, trace, sid, _CHECKOUT_LOGGER)
            return cur + post, G_PRECONDITION, "payment declined: card_declined"
        if outcome == "failed":
            self.log(cur, inst, "ERROR", f"order {oid} failed: {msg}", trace, sid, _CHECKOUT_LOGGER)
            return cur + post, G_UNAVAILABLE, msg
        cur, _, _ = self.grpc(trace, sid, inst, cur, "order", "shop.OrderService/CreateOrder",
                              self.h_order, order)  # fmt: skip
        body = f"order placed order={oid} total={order.amount:.2f} currency=USD items={order.items}"
        self.log(cur, inst, "INFO", body, trace, sid, _CHECKOUT_LOGGER)
        return cur + post, G_OK, ""

    def charge(
        self, trace: str, parent: str, inst: Instance, t: int, order: _Order
    ) -> tuple[int, str, str]:
        """checkout → payment POST /charge with timeout and retries: (end, outcome, msg)."""
        r = self.r
        timeout = int(topo.CLIENT_TIMEOUT_MS["payment"] * MS)
        attempts = topo.PAYMENT_ATTEMPTS
        msg = ""
        for attempt in range(1, attempts + 1):
            csid = r.hex(16)
            se, status = self.h_charge(trace, csid, t, order)
            ce = se + self.net(t)
            attrs = _PAYMENT_CLIENT
            if attempt > 1:
                attrs = (*attrs, ("http.request.resend_count", attempt - 1))
            if ce - t > timeout:
                ce = t + timeout
                msg = _TIMEOUT_MSG
                bad = (*attrs, ("error.type", "timeout"))
                self.span(inst, "POST /charge", CLIENT, t, ce, trace, csid, parent, bad, msg)
                body = f"payment timeout after {timeout // MS}ms order={order.order_id}"
                self.log(ce, inst, "ERROR", body, trace, csid, _PAYMENT_LOGGER)
                reason = "timeout"
            else:
                attrs = (*attrs, ("http.response.status_code", status))
                err = f"HTTP {status}" if status >= 400 else ""
                if err:
                    attrs = (*attrs, ("error.type", str(status)))
                self.span(inst, "POST /charge", CLIENT, t, ce, trace, csid, parent, attrs, err)
                if status == 200:
                    return ce, "ok", ""
                if status == 402:
                    return ce, "declined", ""
                msg = f"payment service returned {status}"
                reason = "server_error"
            if attempt == attempts:
                break
            self.out.retries.append((ce, inst.idx, reason))
            body = f"retrying payment charge (attempt {attempt + 1}/{attempts})"
            attrs = (("order", order.order_id), ("reason", reason))
            self.log(ce, inst, "WARN", body, trace, csid, _PAYMENT_LOGGER, attrs)
            t = ce + int(100 * MS * 2 ** (attempt - 1) * (0.8 + 0.4 * r.uniform()))
        last = "timeout" if msg == _TIMEOUT_MSG else msg
        return ce, "failed", f"payment unavailable after {attempts} attempts (last error: {last})"

    def h_charge(self, trace: str, csid: str, t: int, order: _Order) -> tuple[int, int]:
        """payment's POST /charge handler; returns (server end, HTTP status)."""
        r = self.r
        inst = self.pick("payment", t)
        ss = t + self.net(t)
        sid = r.hex(16)
        d = self.dur("payment.charge", ss)
        cur = ss + int(d * 0.5)
        # the fraud rules
        fd = self.dur("payment.fraud", cur)
        fsid = r.hex(16)
        attrs = (("fraud.rules", 14), ("fraud.decision", "allow"))
        scope = ("payment/internal/fraud", "")
        self.span(inst, "fraud.Evaluate", INTERNAL, cur, cur + fd, trace, fsid, sid, attrs,
                  scope=scope)  # fmt: skip
        cur += fd
        if fd > topo.FRAUD_BUDGET_MS * MS:
            body = f"fraud rule evaluation over budget: {fd // MS} ms for card={order.card}"
            self.log(cur, inst, "WARN", body, trace, fsid, "payment/internal/fraud")
        # the gateway
        gd = self.dur("payment.gateway", cur)
        gsid = r.hex(16)
        gw = "POST /v1/charges"
        if self.fails("payment.gateway", cur):
            gd = max(gd // 6, 3 * MS)
            bad = (*_GATEWAY, ("http.response.status_code", 503), ("error.type", "503"))
            self.span(inst, gw, CLIENT, cur, cur + gd, trace, gsid, sid, bad, "HTTP 503")
            cur += gd
            body = (
                f"payment gateway error: 503 Service Unavailable (upstream={topo.GATEWAY_SERVER})"
            )
            self.log(cur, inst, "ERROR", body, trace, gsid, "payment/internal/gateway")
            status = 502
        elif r.uniform() < topo.DECLINE_RATE:
            bad = (*_GATEWAY, ("http.response.status_code", 402), ("error.type", "402"))
            self.span(inst, gw, CLIENT, cur, cur + gd, trace, gsid, sid, bad, "HTTP 402")
            cur += gd
            body = f"charge declined card={order.card} reason=card_declined"
            self.log(cur, inst, "INFO", body, trace, sid)
            status = 402
        else:
            ok = (*_GATEWAY, ("http.response.status_code", 200))
            self.span(inst, gw, CLIENT, cur, cur + gd, trace, gsid, sid, ok)
            cur += gd
            body = f"charge authorized amount={order.amount:.2f} currency=USD card={order.card}"
            self.log(cur, inst, "INFO", body, trace, sid)
            status = 200
        se = cur + int(d * 0.5)
        err = "HTTP 502: payment gateway unavailable" if status >= 500 else ""
        extra = (("app.order.id", order.order_id),)
        self.http_server(inst, trace, sid, csid, ss, se, "POST /charge", "/charge", status, err,
                         extra)  # fmt: skip
        return se, status

    def h_order(self, trace: str, sid: str, inst: Instance, t: int, order: _Order):
        d = self.dur("order.create", t)
        cur, _ = self.db(trace, sid, inst, t + int(d * 0.5), "db.order.insert")
        pd = self.dur("order.publish", cur)
        psid = self.r.hex(16)
        attrs = (*_KAFKA, ("messaging.operation.type", "publish"),
                 ("messaging.kafka.message.key", order.order_id))  # fmt: skip
        self.span(inst, "order-events publish", PRODUCER, cur, cur + pd, trace, psid, sid, attrs,
                  scope=_KAFKA_SCOPE)  # fmt: skip
        cur += pd
        end = cur + int(d * 0.5)
        body = f"order created order={order.order_id} items={order.items}"
        self.log(end, inst, "INFO", body, trace, sid, "com.shop.order.OrderService")
        self.notify(trace, psid, cur, order)
        return end, G_OK, ""

    def notify(self, trace: str, parent: str, t: int, order: _Order) -> None:
        """notification consumes the order event (asynchronously) and emails the customer."""
        r = self.r
        start = t + int((20 + 250 * r.uniform() ** 2) * MS)
        inst = self.pick("notification", start)
        sid = r.hex(16)
        d = self.dur("notification.consume", start)
        cur = start + d // 2
        logger = "notification.mailer"
        while True:
            md = self.dur("notification.smtp", cur)
            msid = r.hex(16)
            if not self.fails("notification.smtp", cur):
                self.span(inst, "smtp send", CLIENT, cur, cur + md, trace, msid, sid, _SMTP)
                cur += md
                break
            bad = (*_SMTP, ("error.type", "SMTPDataError"))
            err = "451 4.7.1 Try again later"
            self.span(inst, "smtp send", CLIENT, cur, cur + md, trace, msid, sid, bad, err)
            cur += md
            body = "smtp temporary failure: 451 4.7.1 Try again later; retrying in 2s"
            self.log(cur, inst, "WARN", body, trace, msid, logger)
            cur += 2 * SEC
        end = cur + d // 2
        attrs = (*_KAFKA, ("messaging.operation.type", "process"),
                 ("messaging.consumer.group.name", "notification"))  # fmt: skip
        self.span(inst, "order-events process", CONSUMER, start, end, trace, sid, parent, attrs)
        body = f"order confirmation sent order={order.order_id}"
        self.log(end, inst, "INFO", body, trace, sid, logger)

    # ---------------------------------------------------------------- the run

    def arrivals(self) -> tuple[np.ndarray, list[str]]:
        """Arrival times (ns, sorted) and request kinds of the whole window, vectorised."""
        rng = self.arrival_rng
        secs = np.arange(self.sc.minutes * 60)
        minutes = (secs + 0.5) / 60.0
        # slow, smooth wobble of the traffic so minutes are not all alike
        phase = rng.uniform(0, 2 * np.pi, 3)
        wobble = 1.0 + 0.035 * np.sin(2 * np.pi * minutes / 7.3 + phase[0])
        wobble += 0.02 * np.sin(2 * np.pi * minutes / 2.9 + phase[1])
        base = curve_at(self.sc.traffic, minutes) * wobble * self.scale / 60.0
        times, kinds, labels = [], [], []
        for kind, per_min in topo.TRAFFIC_MIX.items():
            mix = {"browse": topo.BROWSE_MIX, "cart": topo.CART_MIX}.get(kind, ((kind, 1.0),))
            counts = rng.poisson(base * per_min)
            n = int(counts.sum())
            t = np.repeat(secs, counts).astype(np.int64) * SEC
            t += (rng.random(n) * SEC).astype(np.int64)
            cum = np.cumsum([p for _, p in mix])
            sub = np.searchsorted(cum / cum[-1], rng.random(n), side="right")
            offset = len(labels)
            labels += [f"{kind}:{name}" if kind != "checkout" else "checkout:0:" for name, _ in mix]
            times.append(t)
            kinds.append(sub + offset)
        all_t = np.concatenate(times) + self.t0
        all_k = np.concatenate(kinds)
        order = np.argsort(all_t, kind="stable")
        return all_t[order], [labels[k] for k in all_k[order].tolist()]

    def run(self) -> Simulation:
        # Requests run in start order and every record a request makes is at or after its
        # start, so whatever is older than the current start is final and can be flushed.
        if self.sink is not None:
            self.sink.start(self.out)
        self.lifecycle_logs()
        self.background()
        times, kinds = self.arrivals()
        pending = self.pending
        n = 0
        for t, kind in zip(times.tolist(), kinds, strict=True):
            while pending and pending[0][0] <= t:
                pt, _, pk = heapq.heappop(pending)
                if pt < self.end:
                    self._dispatch(pt, pk)
                    n += 1
            self._dispatch(t, kind)
            n += 1
            if self.sink is not None and len(self.spans) + len(self.logs) > FLUSH_AT:
                self._flush(t)
        self.out.request_count = n
        self._flush(None)
        return self.out

    def _flush(self, cutoff: int | None) -> None:
        """Sort the buffers; hand records before ``cutoff`` (all if None) to the sink."""
        by_time = itemgetter(0)
        for buf, key, tkey, emit in (
            (self.spans, itemgetter(1, 0, 3), itemgetter(1), "spans"),
            (self.logs, by_time, by_time, "logs"),
            (self.pg, by_time, by_time, "pg_logs"),
        ):
            buf.sort(key=key)
            if self.sink is None:
                continue
            n = len(buf) if cutoff is None else bisect.bisect_left(buf, cutoff, key=tkey)
            if n:
                getattr(self.sink, emit)(buf[:n])
                del buf[:n]

    def _dispatch(self, t: int, kind: str) -> None:
        group, _, rest = kind.partition(":")
        if group == "browse":
            self.browse(t, rest)
        elif group == "cart":
            self.cart(t, rest)
        else:
            resubmits, _, customer = rest.partition(":")
            self.checkout(t, int(resubmits), customer)

    # ---------------------------------------------------------------- non-request logs

    def lifecycle_logs(self) -> None:
        """Pods starting and stopping inside the window log it (deploys, scale-outs)."""
        for inst in self.fleet:
            if self.t0 <= inst.start_ns < self.end:
                body = f"starting {inst.service} service version={inst.version}"
                self.log(inst.start_ns, inst, "INFO", f"{body} commit={inst.commit}")
                port = 8080 if inst.service in ("payment", "frontend") else 50051
                self.log(inst.ready_ns, inst, "INFO", f"listening on :{port}")
            if inst.stop_ns is not None and self.t0 <= inst.stop_ns < self.end:
                self.log(inst.stop_ns - 2 * SEC, inst, "INFO", "received SIGTERM, draining")
                self.log(inst.stop_ns, inst, "INFO", "shutdown complete")

    def _poisson(self, per_min: float) -> list[int]:
        """Times of a background Poisson process over the window (noise grows ~√scale)."""
        rate = per_min * max(self.scale, 1.0) ** 0.5 / (60 * SEC)
        out, t = [], self.t0
        while True:
            t += int(-math.log(1.0 - self.bg.uniform()) / rate)
            if t >= self.end:
                return out
            out.append(t)

    def _every(self, seconds: int, offset_s: float) -> list[int]:
        """Times of a periodic job over the window, with a little jitter."""
        step = seconds * SEC
        times = range(self.t0 + int(offset_s * SEC), self.end, step)
        return [t + int(self.bg.uniform() * 50 * MS) for t in times]

    def background(self) -> None:
        """Noise that is not tied to requests: periodic jobs and unrelated errors."""
        bg = self.bg

        def pod(service: str, t: int) -> Instance:
            return self.router.pick(service, t, bg.uniform())

        # PostgreSQL: checkpoints every 5 minutes, autovacuum, a duplicate key now and then
        for t in self._every(300, 0):
            self.pg_line(t, 27, "", "LOG", "checkpoint starting: time")
            took = 26.9 + bg.uniform() * 1.5
            buffers = 900 + int(bg.uniform() * 900)
            self.pg_line(
                t + int(took * SEC), 27, "", "LOG",
                f"checkpoint complete: wrote {buffers} buffers ({buffers / 163.84:.1f}%);"
                f" 0 WAL file(s) added, 0 removed, 1 recycled; write={took - 0.02:.3f} s,"
                f" sync=0.004 s, total={took:.3f} s; sync files=41, longest=0.002 s,"
                f" average=0.001 s; distance={9000 + buffers * 8} kB, estimate=11012 kB",
            )  # fmt: skip
        for t in self._poisson(0.08):
            table = bg.choice(("cart_events", "product_views", "orders", "stock"))
            pages = f"pages: 0 removed, {1000 + int(bg.uniform() * 9000)} remain, 0 scanned"
            self.pg_line(t, 29 + int(bg.uniform() * 400), "", "LOG",
                         f'automatic vacuum of table "shop.public.{table}": index scans: 1',
                         ("DETAIL", f"{pages} (0.00% of total)"))  # fmt: skip
        for t in self._poisson(0.2):
            key = f"Key (product_id, customer_id)=(P{bg.hex(8).upper()}, cus_{bg.hex(8)})"
            insert = "INSERT INTO product_reviews (product_id, customer_id, rating, body)"
            self.pg_line(t, bg.choice(self.pg_pids["catalog_svc"]), "catalog_svc@shop", "ERROR",
                         'duplicate key value violates unique constraint "product_reviews_pkey"',
                         ("DETAIL", f"{key} already exists."),
                         ("STATEMENT", f"{insert} VALUES ($1, $2, $3, $4)"))  # fmt: skip
        # product-catalog: the recommendations refresh, which fails now and then
        recs = "catalog/internal/recs"
        for t in self._poisson(0.12):
            body = "recommendations refresh failed: context deadline exceeded (recs.ml.svc:8501)"
            self.log(t, pod("product-catalog", t), "ERROR", body, logger=recs)
        for t in self._every(120, 0.3):
            body = f"recommendations refreshed models=3 items={48000 + int(bg.uniform() * 900)}"
            self.log(t, pod("product-catalog", t), "INFO", body, logger=recs)
        # pricing refreshes exchange rates every 5 minutes
        for t in self._every(300, 13):
            body = "exchange rates refreshed currencies=32 source=ecb"
            self.log(t, pod("pricing", t), "INFO", body, logger="pricing.rates")
        if self.sc.name == "db-slow":
            self._stock_sync()

    def _stock_sync(self) -> None:
        """db-slow: the batch job whose long transaction holds the stock rows' locks."""
        sc = self.sc
        start = sc.minute_ns(sc.truth.onset_minute - 0.5)
        stop = sc.minute_ns(sc.recovery_minute or sc.minutes)
        attrs = (("job", "stock-sync"), ("source", "warehouse-feed"), ("rows", 184230))
        inv = self.router.pick("inventory", start, 0.0)
        self.log(start, inv, "INFO", "stock sync started", logger="sync.go:57", attrs=attrs)
        sync = "UPDATE stock SET quantity = s.quantity FROM stock_import s WHERE stock.sku = s.sku"
        self.pg_line(stop, self.lock_holder, "inventory_sync@shop", "ERROR",
                     "canceling statement due to user request", ("STATEMENT", sync))  # fmt: skip
        err = "ERROR: canceling statement due to user request (SQLSTATE 57014)"
        attrs = (("job", "stock-sync"), ("err", err))
        inv = self.router.pick("inventory", stop, 0.0)
        self.log(stop + 50 * MS, inv, "ERROR", "stock sync aborted", logger="sync.go:88",
                 attrs=attrs)  # fmt: skip


def simulate(
    scenario: Scenario, *, scale: float = 1.0, seed: int = 42, sink: Sink | None = None
) -> Simulation:
    """Run the scenario: every request of the window, through the topology.

    Args:
        scenario: the story.
        scale: multiplier of request rates (``--scale``).
        seed: the seed every random stream derives from.
        sink: where spans and log lines go as soon as they are final (memory then stays
            bounded at any scale); without one they are kept, sorted, in the result.

    Returns:
        The ``Simulation``: pods, requests and retries, and (without a sink) the spans,
        logs and PostgreSQL log lines.
    """
    return _Sim(scenario, scale, seed, sink).run()
