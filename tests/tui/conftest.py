"""Fixtures of the TUI tests: the demo incident loaded once, a store of hostile text, and
an app factory with animations off (deterministic screens)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from obsctl.demo.scenario import SCENARIOS, START
from tests.conftest import FIXTURES

DEMO = FIXTURES / "checkout-incident"
TRUTH = SCENARIOS["payment-cpu"].truth
SIZE = (160, 48)
HOSTILE = "[red]x[/red] \x1b[31mred\x1b[0m"
"""Rich markup and an ANSI escape: both must show as the characters they are."""
HOSTILE_TRACE = "ab" * 16


def onset() -> str:
    """The demo incident's onset (from the scenario's ground truth), as ``--since``."""
    import datetime as dt

    t = START + dt.timedelta(minutes=TRUTH.onset_minute)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="package")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fixtures/checkout-incident (all four signals), ingested once for the package."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    path = tmp_path_factory.mktemp("tui-demo") / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(DEMO)])
    return path


@pytest.fixture(scope="package")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trace whose span name, service and attributes, and one log line of it, carry
    markup and escape sequences."""
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    d = tmp_path_factory.mktemp("tui-hostile")
    t0 = 1_774_540_000_000_000_000

    def span(sid: str, parent: str, name: str, a: int, b: int, svc: str) -> dict[str, Any]:
        return {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
            "scopeSpans": [{"spans": [{
                "traceId": HOSTILE_TRACE, "spanId": sid, "parentSpanId": parent, "name": name,
                "kind": 2, "startTimeUnixNano": str(t0 + a), "endTimeUnixNano": str(t0 + b),
                "attributes": [{"key": HOSTILE, "value": {"stringValue": HOSTILE}}],
                "status": {"code": 2, "message": HOSTILE},
            }]}],
        }  # fmt: skip

    doc = {"resourceSpans": [
        span("1" * 16, "", HOSTILE, 0, 10_000_000, "front"),
        span("2" * 16, "1" * 16, "call", 1_000_000, 9_000_000, HOSTILE),
    ]}  # fmt: skip
    (d / "trace.json").write_text(json.dumps(doc))
    log = {
        "time": "2026-03-26T16:30:00.005Z",
        "level": "error",
        "service": "front",
        "msg": HOSTILE,
        "trace_id": HOSTILE_TRACE,
        "span_id": "1" * 16,
    }
    (d / "app.jsonl").write_text(json.dumps(log) + "\n")
    path = d / "store.duckdb"
    with Store.open(path) as s:
        ingest_paths(s, [str(d / "trace.json"), str(d / "app.jsonl")])
    return path


@pytest.fixture
def make_app() -> Callable[..., Any]:
    """``make_app(store, **kw)``: an ``ObsctlApp`` with animations off."""
    from obsctl.tui.app import ObsctlApp

    def _make(store: Path, **kw: Any) -> ObsctlApp:
        app = ObsctlApp(store, **kw)
        app.animation_level = "none"
        return app

    return _make


async def settle(pilot: Any) -> None:
    """Wait until every worker has finished and what they delivered is on screen."""
    from textual.worker import WorkerCancelled

    for _ in range(4):
        await pilot.pause()
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # replaced by a newer request: wait for that one
            await pilot.pause()
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def settled(*keys: str) -> Callable[[Any], Awaitable[None]]:
    """A ``run_before`` for ``snap_compare``: press ``keys``, settling after each."""

    async def run(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run
