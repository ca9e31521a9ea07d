"""Stores loaded with demo bundles, shared by the tests of a session (loading takes ~8 s).

``incident`` is the committed ``fixtures/checkout-incident`` bundle (payment-cpu, scale 1,
seed 42, gzip); ``scenario_store(name)`` generates another scenario and loads it once.
Queries go through ``Store.rows`` with bound parameters; times are compared as minutes
from the scenario start (``minute_sql``), the unit the scenarios are written in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES

BUNDLE = FIXTURES / "checkout-incident"
FIXTURE_ARGS: dict[str, Any] = {"scenario": "payment-cpu", "scale": 1, "seed": 42, "gzip": True}
"""How ``fixtures/checkout-incident`` was generated (``obsctl demo DIR --gzip``)."""


@dataclass
class Loaded:
    """A store holding one bundle, with the ingest report and the scenario."""

    store: Any
    report: Any
    scenario: Any

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.store.rows(sql, params or [])

    def one(self, sql: str, params: list | None = None) -> Any:
        return self.rows(sql, params)[0][0]

    def minute(self, column: str) -> str:
        """SQL: minutes of a TIMESTAMP_NS column since the scenario start."""
        return f"((epoch_ns({column}) - {self.scenario.start_ns}) / 60e9)"


def _load(tmp: Path, bundle: Path, scenario: Any) -> Iterator[Loaded]:
    from obsctl.ingest import ingest_paths
    from obsctl.store import Store

    store = Store.open(tmp / "store.duckdb")
    try:
        report = ingest_paths(store, [str(bundle)])
        yield Loaded(store, report, scenario)
    finally:
        store.close()


@pytest.fixture(scope="session")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The committed checkout-incident fixture, loaded."""
    from obsctl.demo import SCENARIOS

    if not BUNDLE.is_dir():
        pytest.fail(f"{BUNDLE} is missing: run `obsctl demo {BUNDLE} --gzip`")
    yield from _load(tmp_path_factory.mktemp("incident"), BUNDLE, SCENARIOS["payment-cpu"])


@pytest.fixture(scope="session")
def scenario_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Loaded]]:
    """``scenario_store(name)``: that scenario generated (scale 1, seed 7) and loaded, once."""
    from obsctl.demo import SCENARIOS, generate

    cache: dict[str, Loaded] = {}
    closers: list[Iterator[Loaded]] = []

    def get(name: str) -> Loaded:
        if name not in cache:
            tmp = tmp_path_factory.mktemp(name)
            generate(tmp / "bundle", scenario=name, scale=1, seed=7)
            gen = _load(tmp, tmp / "bundle", SCENARIOS[name])
            cache[name] = next(gen)
            closers.append(gen)
        return cache[name]

    yield get
    for gen in closers:
        gen.close()
