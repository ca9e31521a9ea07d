"""The demo shop: services, hosts, operations and the traffic mix, as data.

The system every scenario runs on is fixed here so that scenarios only describe what
*changes* (``obsctl.demo.scenario``): a global e-commerce shop of nine instrumented
services, PostgreSQL and Redis on a database host, and an external payment gateway::

    frontend ─┬─► product-catalog ─► postgres           (browse: list, product, search)
              ├─► cart ─► redis                          (cart: add item, view)
              └─► checkout ─┬─► cart ─► redis            (checkout)
                            ├─► product-catalog ─► postgres
                            ├─► inventory ─► postgres
                            ├─► pricing
                            ├─► payment ─► payment-gateway (HTTP, 2 s timeout, 3 attempts)
                            └─► order ─► postgres, ─► [order-events] ─► notification ─► smtp

Design notes
    * Durations are log-normal: an ``Op`` has a median and a sigma (the spread of
      ``ln(duration)``), the shape real service latencies have; scenarios multiply the
      median over time. ``Op.error`` is the background failure rate of the operation (the
      noise a healthy system has: Redis resets, SMTP greylisting, gateway hiccups).
    * Languages are chosen so that the profiles and logs look like what those runtimes
      write (Go for payment/checkout/catalog/inventory, Java for cart/order, Node.js for
      the frontend, Python for pricing/notification); ``logs`` names the log format each
      service writes in the bundle (``otlp`` through the collector, ``jsonl`` for cart's
      logstash-style JSON, ``logfmt`` for inventory's go-kit logger).
    * ``cpu`` is the per-instance CPU utilisation at traffic 1.0 (0–1 of the instance's
      ``cores``); it follows the traffic curve unless a scenario overrides it.
    * Every number is per minute at ``--scale 1``; ``--scale N`` multiplies request rates
      (not hosts, instances or profiles), so large bundles keep the same story.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    """One instrumented service (a Kubernetes deployment)."""

    name: str
    """``service.name``."""
    language: str
    """``go``, ``java``, ``nodejs`` or ``python`` (``telemetry.sdk.language``)."""
    version: str
    """``service.version`` of the pods running when the window opens."""
    host: str
    """Node the pods run on (``host.name``)."""
    replicas: int
    """Pods at the start of the window."""
    cores: float
    """CPU limit of one pod, in cores."""
    cpu: float
    """Per-pod CPU utilisation (0–1 of ``cores``) at traffic 1.0."""
    memory_mb: float
    """Resident memory of one pod."""
    logs: str
    """Log format in the bundle: ``otlp``, ``jsonl`` or ``logfmt``."""
    profiled: bool
    """Whether a continuous profiler uploads a CPU profile of it every minute."""
    server_scope: tuple[str, str]
    """Instrumentation scope (name, version) of its server spans."""
    client_scope: tuple[str, str]
    """Instrumentation scope (name, version) of its outgoing RPC/HTTP client spans."""
    db_user: str = ""
    """PostgreSQL role it connects as (empty: it does not use PostgreSQL)."""


_OTELHTTP = ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.60.0")
_OTELGRPC = (
    "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
    "0.60.0",
)
_JAVA_GRPC = ("io.opentelemetry.grpc-1.6", "2.14.0-alpha")
_NODE_HTTP = ("@opentelemetry/instrumentation-http", "0.57.2")
_NODE_GRPC = ("@opentelemetry/instrumentation-grpc", "0.57.2")
_PY_GRPC = ("opentelemetry.instrumentation.grpc", "0.51b0")

SERVICES: tuple[Service, ...] = (
    Service("frontend", "nodejs", "2.7.1", "ip-10-0-1-12", 2, 2.0, 0.24, 310, "otlp", True,
            _NODE_HTTP, _NODE_GRPC),
    Service("checkout", "go", "1.18.2", "ip-10-0-2-21", 2, 1.0, 0.14, 96, "otlp", True,
            _OTELGRPC, _OTELHTTP),
    Service("cart", "java", "3.4.0", "ip-10-0-2-21", 2, 1.0, 0.18, 620, "jsonl", True,
            _JAVA_GRPC, ("io.opentelemetry.lettuce-5.1", "2.14.0-alpha")),
    Service("product-catalog", "go", "2.2.5", "ip-10-0-2-34", 2, 1.0, 0.16, 84, "otlp", True,
            _OTELGRPC, ("github.com/exaring/otelpgx", "0.9.1"), "catalog_svc"),
    Service("inventory", "go", "1.9.0", "ip-10-0-2-34", 1, 1.0, 0.09, 64, "logfmt", False,
            _OTELGRPC, ("github.com/exaring/otelpgx", "0.9.1"), "inventory_svc"),
    Service("pricing", "python", "0.14.2", "ip-10-0-2-21", 1, 1.0, 0.21, 148, "otlp", False,
            _PY_GRPC, _PY_GRPC),
    Service("payment", "go", "4.11.3", "ip-10-0-3-7", 2, 2.0, 0.27, 120, "otlp", True,
            _OTELHTTP, _OTELHTTP),
    Service("order", "java", "2.6.1", "ip-10-0-2-34", 1, 1.0, 0.12, 710, "otlp", True,
            _JAVA_GRPC, ("io.opentelemetry.jdbc", "2.14.0-alpha"), "order_svc"),
    Service("notification", "python", "1.3.0", "ip-10-0-2-34", 1, 0.5, 0.10, 132, "otlp", False,
            ("opentelemetry.instrumentation.kafka", "0.51b0"),
            ("opentelemetry.instrumentation.smtplib", "0.51b0")),
)  # fmt: skip
"""The instrumented services, in a fixed order (it is the order of the bundle's files)."""

SERVICE = {s.name: s for s in SERVICES}


@dataclass(frozen=True)
class Host:
    """A node scraped by node_exporter."""

    name: str
    """``host.name`` / the ``instance`` label without the port."""
    cpus: int
    """Logical CPUs (``cpu`` label values 0…n-1)."""
    memory_gb: float
    """MemTotal."""
    busy: float
    """CPU busy fraction from everything that is not a modelled pod (kubelet, daemons)."""
    extra_memory_gb: float = 1.2
    """Memory used besides the modelled pods."""


HOSTS: tuple[Host, ...] = (
    Host("ip-10-0-1-12", 4, 16, 0.04),
    Host("ip-10-0-2-21", 4, 16, 0.05),
    Host("ip-10-0-2-34", 4, 16, 0.05),
    Host("ip-10-0-3-7", 4, 8, 0.03),
    Host("ip-10-0-3-9", 4, 8, 0.03),  # joins when payment scales out
    Host("ip-10-0-4-5", 8, 64, 0.16, 38.0),  # postgres + redis
)
"""Nodes; a node without pods at the window start is scraped from when its first pod
starts (the cluster autoscaler adds it)."""

HOST = {h.name: h for h in HOSTS}

SCALE_OUT_HOST = {"payment": "ip-10-0-3-9"}
"""Where the pods added by a scale-out are scheduled."""

DB_HOST = "ip-10-0-4-5"
PG_SERVER = "pg-primary.shop.svc.cluster.local"
REDIS_SERVER = "redis-cart.shop.svc.cluster.local"
GATEWAY_SERVER = "api.paygateway.example"


@dataclass(frozen=True)
class Op:
    """One timed operation: the self time of a handler, a query, an external call."""

    service: str
    """Who performs it (the service the span belongs to)."""
    median_ms: float
    """Median duration when healthy."""
    sigma: float
    """Spread of ln(duration); 0.3 is tight, 0.7 has a long tail."""
    error: float = 0.0
    """Background probability that it fails in its usual way."""


OPS: dict[str, Op] = {
    # frontend handler self time (rendering, session) around its downstream call
    "frontend.browse": Op("frontend", 6.0, 0.45),
    "frontend.cart": Op("frontend", 4.0, 0.4),
    "frontend.checkout": Op("frontend", 9.0, 0.4),
    # product-catalog
    "catalog.list": Op("product-catalog", 2.5, 0.4),
    "catalog.get": Op("product-catalog", 1.5, 0.4),
    "catalog.search": Op("product-catalog", 4.0, 0.5),
    "catalog.products": Op("product-catalog", 2.0, 0.4),
    "db.catalog.list": Op("product-catalog", 7.0, 0.5),
    "db.catalog.get": Op("product-catalog", 2.2, 0.45),
    "db.catalog.search": Op("product-catalog", 24.0, 0.6),
    "db.catalog.products": Op("product-catalog", 4.5, 0.45),
    # cart
    "cart.get": Op("cart", 1.8, 0.4),
    "cart.add": Op("cart", 2.5, 0.4),
    "redis.get": Op("cart", 0.7, 0.5, 0.004),
    "redis.set": Op("cart", 0.9, 0.5, 0.004),
    # checkout
    "checkout.place": Op("checkout", 3.0, 0.4),
    # inventory
    "inventory.check": Op("inventory", 1.5, 0.4),
    "db.inventory.reserve": Op("inventory", 4.0, 0.45),
    # pricing
    "pricing.quote": Op("pricing", 14.0, 0.35, 0.002),
    # payment
    "payment.charge": Op("payment", 5.0, 0.4),
    "payment.fraud": Op("payment", 11.0, 0.5),
    "payment.gateway": Op("payment", 82.0, 0.33, 0.015),
    # order
    "order.create": Op("order", 4.0, 0.4),
    "db.order.insert": Op("order", 6.0, 0.45),
    "order.publish": Op("order", 1.6, 0.4),
    # notification
    "notification.consume": Op("notification", 2.0, 0.4),
    "notification.smtp": Op("notification", 170.0, 0.45, 0.03),
    # the network between two pods (one way)
    "net": Op("", 0.35, 0.5),
}
"""Every operation the flows time, by key; scenarios refer to these keys."""

TRAFFIC_MIX: dict[str, float] = {"browse": 36.0, "cart": 10.0, "checkout": 15.0}
"""Requests per minute at ``--scale 1`` and traffic 1.0 (the sale's early evening)."""

BROWSE_MIX = (("list", 0.45), ("product", 0.40), ("search", 0.15))
CART_MIX = (("add", 0.55), ("view", 0.45))

CLIENT_TIMEOUT_MS = {"payment": 2000.0}
"""Client-side timeouts checkout applies (HTTP ``Client.Timeout``)."""
PAYMENT_ATTEMPTS = 3
"""Attempts checkout makes to charge a card (retries on timeouts and 5xx)."""
FRAUD_BUDGET_MS = 100.0
"""payment warns when the fraud rules of one charge take longer than this."""
DECLINE_RATE = 0.015
"""Share of charges the gateway declines (a business outcome, not an error)."""
PRODUCT_NOT_FOUND = 0.02
"""Share of product-page views asking for a product that does not exist (404)."""
PG_LOG_MIN_DURATION_MS = 100.0
"""PostgreSQL ``log_min_duration_statement``."""
PG_DEADLOCK_TIMEOUT_MS = 1000.0
"""PostgreSQL ``deadlock_timeout`` (lock waits longer than this are logged)."""
PG_LOCK_TIMEOUT_MS = 2000.0
"""PostgreSQL ``lock_timeout`` of the inventory role (statements waiting longer fail)."""
