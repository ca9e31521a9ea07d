"""Incident scenarios: the story of each demo bundle, as data.

A ``Scenario`` says what happens to the shop of ``obsctl.demo.topology`` over a fixed
window: how traffic moves, which operations get slower or fail, whose CPU climbs, which
function grows in the profiles, which deploys and scale-outs happen. It holds no code:
``obsctl.demo.traffic`` simulates requests through the topology and every signal
(spans, logs, metrics, profiles) is derived from that one simulation and these curves,
so the four signals cannot disagree.

Curves
    A ``Curve`` is a tuple of ``(minute, value)`` keyframes, linear in between and flat
    beyond the ends; minutes count from the window start. Per-minute tables were the
    alternative; keyframes say the same with a handful of numbers, keep onsets sharp
    (a value can change within a minute) and read like the timeline they describe.

Ground truth
    Each scenario carries its ``GroundTruth`` (culprit service, operation, function,
    onset, first log line) so that tests of ``investigate`` can assert against the story
    rather than against numbers copied from one generated bundle.

The default scenario, ``payment-cpu``
    A seasonal sale: traffic is high and builds slowly. At 16:29:30 payment 4.12.0 rolls
    out; its velocity fraud rule now rescans the whole card-activity window for every
    charge (``VelocityRule.scanWindow``), a cost that grows with concurrency. Right after
    the deploy payment starts warning that fraud evaluation is over budget; from 16:32
    CPU climbs, and by 16:35 payment pods are saturated: charges take seconds, checkout's
    2 s client timeout fires, it retries (adding load) and a notable share of checkouts
    fail. At 16:46 payment is scaled out from 2 to 4 pods: CPU falls to ~0.75, errors to
    a few percent, latency stays above its baseline. Browsing never notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Curve = tuple[tuple[float, float], ...]
"""``(minute, value)`` keyframes: linear in between, flat beyond the ends."""

START = datetime(2026, 3, 26, 16, 12, tzinfo=UTC)
"""Start of every scenario's window (fixed: bundles are reproducible)."""

FLAT_ONE: Curve = ((0.0, 1.0),)
FLAT_ZERO: Curve = ((0.0, 0.0),)


def curve_at(curve: Curve, minutes: np.ndarray | float) -> np.ndarray:
    """The curve's values at ``minutes`` (array or scalar), as a float array."""
    import numpy as np

    xs = [p[0] for p in curve]
    ys = [p[1] for p in curve]
    return np.interp(np.asarray(minutes, dtype=np.float64), xs, ys)


@dataclass(frozen=True)
class Effect:
    """How the incident changes one operation of ``topology.OPS`` over time."""

    op: str
    """The operation key (``payment.fraud``, ``db.inventory.reserve``…)."""
    latency: Curve = FLAT_ONE
    """Multiplier of the operation's median duration."""
    error: Curve = FLAT_ZERO
    """Extra probability that the operation fails (on top of its background rate)."""
    sigma: float | None = None
    """Spread of ln(duration) while the effect applies (None: the operation's own)."""


@dataclass(frozen=True)
class Deploy:
    """A rolling update of one service to a new version."""

    service: str
    version: str
    minute: float
    """When the first new pod starts; one pod is replaced every 20 s."""
    commit: str = "0000000"
    """Git commit logged by the new pods."""


@dataclass(frozen=True)
class ScaleOut:
    """Pods added to a service (HPA or a human), on a fresh node."""

    service: str
    minute: float
    replicas: int
    """Replica count after the scale-out."""


@dataclass(frozen=True)
class CulpritCode:
    """A function whose share of a service's CPU profile follows a curve."""

    service: str
    function: str
    """The culprit frame (its stacks come from ``obsctl.demo.stacks``)."""
    share: Curve
    """Fraction of the service's CPU samples whose stack contains ``function``."""


@dataclass(frozen=True)
class GroundTruth:
    """What an investigation of the bundle should conclude."""

    service: str
    """The component at fault (``payment``, ``postgres``, ``payment-gateway``)."""
    operation: str
    """The span name where the latency or the errors originate."""
    span_service: str
    """``service_name`` of the spans carrying ``operation`` in the store."""
    span_kind: str
    """Their ``kind`` (SERVER, CLIENT…)."""
    function: str | None
    """The culprit function in the profiles, if the cause is visible there."""
    onset_minute: float
    """When the symptoms start (minutes from ``START``)."""
    first_log: str
    """Start of the body of the log pattern that first signals the incident: new after
    the deploy or at the onset (payment-cpu, db-slow), or present as background noise and
    growing sharply at the onset (gateway-errors)."""
    first_log_service: str
    """Service that writes that line."""
    cause: str
    """One sentence a post-mortem would write."""
    symptom: str = "checkout error rate and latency"
    """What customers saw."""


@dataclass(frozen=True)
class Scenario:
    """One incident story over the shared topology."""

    name: str
    """``--scenario`` name."""
    title: str
    """One line for listings."""
    truth: GroundTruth
    minutes: int = 40
    """Length of the window."""
    traffic: Curve = FLAT_ONE
    """Multiplier of every request rate (``topology.TRAFFIC_MIX``)."""
    effects: tuple[Effect, ...] = ()
    cpu: tuple[tuple[str, Curve], ...] = ()
    """Per-pod CPU utilisation of services whose CPU the incident drives (others follow
    traffic)."""
    deploys: tuple[Deploy, ...] = ()
    scale_outs: tuple[ScaleOut, ...] = ()
    culprit_code: CulpritCode | None = None
    recovery_minute: float | None = None
    """When mitigation starts (partial recovery), if it does within the window."""
    notes: tuple[tuple[float, str], ...] = ()
    """Timeline annotations ``(minute, text)`` for docs and listings."""

    @property
    def start_ns(self) -> int:
        """Window start, Unix ns."""
        return int(START.timestamp()) * 1_000_000_000

    @property
    def end_ns(self) -> int:
        """Window end, Unix ns."""
        return self.start_ns + self.minutes * 60 * 1_000_000_000

    def minute_ns(self, minute: float) -> int:
        """Unix ns of a minute offset."""
        return self.start_ns + round(minute * 60e9)

    @property
    def onset_ns(self) -> int:
        """Onset time, Unix ns."""
        return self.minute_ns(self.truth.onset_minute)

    def cpu_curve(self, service: str) -> Curve | None:
        """The incident's CPU curve of a service, if it has one."""
        return dict(self.cpu).get(service)

    def cpu_at(self, service: str, minutes: np.ndarray | float) -> np.ndarray:
        """Per-pod CPU utilisation (0–1 of its cores) of a service at ``minutes``.

        The scenario's curve when it drives that service's CPU, else the service's
        baseline (``topology.Service.cpu``) following the traffic curve.
        """
        from obsctl.demo.topology import SERVICE

        curve = self.cpu_curve(service)
        if curve is not None:
            return curve_at(curve, minutes)
        return SERVICE[service].cpu * curve_at(self.traffic, minutes)


# --------------------------------------------------------------------------- payment-cpu

_SALE: Curve = ((0, 1.0), (12, 1.06), (20, 1.14), (26, 1.2), (40, 1.2))
"""The sale's evening build-up."""
_PAYMENT_CPU: Curve = ((0, 0.27), (17.5, 0.28), (18.3, 0.36), (20, 0.41), (21.5, 0.78),
                       (23, 0.97), (34, 0.97), (35, 0.76), (40, 0.75))  # fmt: skip
"""Per-pod CPU of payment: saturated from 16:35 until the scale-out at 16:46."""
_FRAUD_LATENCY: Curve = ((0, 1), (17.5, 1), (18.3, 5.0), (20, 6.5), (21, 16), (22, 70),
                         (23, 195), (34, 195), (35, 148), (40, 148))  # fmt: skip
"""Fraud evaluation slows ×5 with 4.12.0, then ×195 (11 ms → ~2.1 s) when saturated."""
_CULPRIT_SHARE: Curve = ((0, 0.03), (17.5, 0.03), (18.3, 0.08), (20, 0.11), (21.5, 0.42),
                         (23, 0.64), (34, 0.64), (35, 0.47), (40, 0.46))  # fmt: skip
"""Share of payment CPU in ``VelocityRule.scanWindow``: 3 % → 64 % → 46 %."""

PAYMENT_CPU = Scenario(
    name="payment-cpu",
    title="payment 4.12.0: fraud velocity rule burns CPU under load; checkout times out",
    truth=GroundTruth(
        service="payment",
        operation="POST /charge",
        span_service="payment",
        span_kind="SERVER",
        function="payment/internal/fraud.(*VelocityRule).scanWindow",
        onset_minute=20.0,
        first_log="fraud rule evaluation over budget",
        first_log_service="payment",
        cause=(
            "payment 4.12.0 rescans the card-activity window for every charge in the"
            " velocity fraud rule; under sale concurrency its CPU saturates, charges exceed"
            " checkout's 2 s timeout and retries add load"
        ),
    ),
    traffic=_SALE,
    deploys=(Deploy("payment", "4.12.0", 17.5, "9f3c2ab"),),
    scale_outs=(ScaleOut("payment", 34.0, 4),),
    recovery_minute=34.0,
    cpu=(("payment", _PAYMENT_CPU),),
    effects=(
        Effect("payment.fraud", latency=_FRAUD_LATENCY, sigma=0.55),
        # CPU starvation slows everything else payment does
        Effect("payment.charge", latency=((0, 1), (20, 1), (23, 4), (34, 4), (35, 1.8))),
        Effect("payment.gateway", latency=((0, 1), (20, 1), (23, 1.35), (34, 1.35), (35, 1.1))),
    ),
    culprit_code=CulpritCode(
        "payment", "payment/internal/fraud.(*VelocityRule).scanWindow", _CULPRIT_SHARE
    ),
    notes=(
        (17.5, "payment 4.12.0 rolling update"),
        (20.0, "onset: payment CPU climbs"),
        (23.0, "payment saturated: checkout timeouts and retries"),
        (34.0, "payment scaled out 2 → 4 pods: partial recovery"),
    ),
)

# ------------------------------------------------------------------------------ db-slow

DB_SLOW = Scenario(
    name="db-slow",
    title="stock-sync batch holds row locks; inventory reservations wait and time out",
    truth=GroundTruth(
        service="postgres",
        operation="UPDATE stock",
        span_service="inventory",
        span_kind="CLIENT",
        function=None,
        onset_minute=20.0,
        first_log="stock sync started",
        first_log_service="inventory",
        cause=(
            "a bulk stock-sync transaction started by inventory holds row locks on the"
            " stock table; checkout's stock reservations wait on them and hit lock_timeout"
        ),
    ),
    traffic=_SALE,
    recovery_minute=34.0,
    effects=(
        Effect(
            "db.inventory.reserve",
            latency=((0, 1), (20, 1), (21, 40), (23, 260), (34, 260), (35, 30), (40, 30)),
            sigma=0.7,
        ),
        Effect("db.order.insert", latency=((0, 1), (20, 1), (23, 3), (34, 3), (35, 1.3))),
        Effect("db.catalog.products", latency=((0, 1), (20, 1), (23, 1.5), (34, 1.5), (35, 1))),
    ),
    cpu=(("inventory", ((0, 0.09), (20, 0.09), (23, 0.05), (34, 0.05), (35, 0.08))),),
    notes=(
        (19.5, "inventory stock-sync batch starts (one long transaction)"),
        (20.0, "onset: stock reservations wait on row locks"),
        (34.0, "the batch is cancelled: partial recovery"),
    ),
)

# ----------------------------------------------------------------------- gateway-errors

GATEWAY_ERRORS = Scenario(
    name="gateway-errors",
    title="the external payment gateway returns 503s; checkout retries, some orders fail",
    truth=GroundTruth(
        service="payment-gateway",
        operation="POST /v1/charges",
        span_service="payment",
        span_kind="CLIENT",
        function=None,
        onset_minute=20.0,
        first_log="payment gateway error",
        first_log_service="payment",
        cause=(
            "the payment gateway (api.paygateway.example) answers a large share of"
            " authorisations with 503; payment passes them on and checkout's retries only"
            " partly hide them"
        ),
    ),
    traffic=_SALE,
    recovery_minute=34.0,
    # a harmless deploy of another service, as a red herring
    deploys=(Deploy("notification", "1.3.1", 12.0, "4be01d7"),),
    effects=(
        Effect(
            "payment.gateway",
            latency=((0, 1), (20, 1), (22, 1.6), (34, 1.6), (35, 1.2)),
            error=((0, 0), (20, 0), (21, 0.3), (22, 0.55), (34, 0.55), (35, 0.2), (40, 0.2)),
        ),
    ),
    notes=(
        (12.0, "notification 1.3.1 deployed (unrelated)"),
        (20.0, "onset: gateway 503s"),
        (34.0, "gateway provider mitigates: partial recovery"),
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (PAYMENT_CPU, DB_SLOW, GATEWAY_ERRORS)}
"""Every scenario by name; the first is the default."""

DEFAULT_SCENARIO = PAYMENT_CPU.name
