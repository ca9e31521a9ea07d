"""Shared fixtures: the real-file corpus, a throw-away store, and an ingest helper."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("OBSCTL_CORPUS", ROOT.parent / "shared" / "corpus"))
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real files written by other projects (../shared/corpus)."""
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}; set OBSCTL_CORPUS")
    return CORPUS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[object]:
    """A fresh store opened for writing, closed after the test."""
    from obsctl.store import Store

    s = Store.open(tmp_path / "store.duckdb")
    yield s
    s.close()


@pytest.fixture
def load(store: object) -> Callable[..., object]:
    """``load(*paths, format=None, service=None)`` ingests into the test store."""
    from obsctl.ingest import ingest_paths

    def _load(*paths: str | Path, **kw: object) -> object:
        return ingest_paths(store, [str(p) for p in paths], **kw)  # type: ignore[arg-type]

    return _load


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """``cli(*args, input=None)`` runs obsctl through typer's CliRunner on a temp store.

    The result has ``exit_code``, ``stdout`` and ``stderr`` (separate), as a user sees them.
    """
    from typer.testing import CliRunner

    from obsctl.cli import app

    monkeypatch.setenv("OBSCTL_STORE", str(tmp_path / "cli-store.duckdb"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    runner = CliRunner()

    def _run(*args: str, input: str | bytes | None = None) -> object:
        return runner.invoke(app, [str(a) for a in args], input=input)

    return _run
