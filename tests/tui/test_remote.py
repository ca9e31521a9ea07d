"""The TUI on a ClickHouse store: the demo pushed into chDB, read once into the working
set, with the same investigation and a trace list as on the local store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import SIZE, TRUTH, settle

pytest.importorskip("chdb")


@pytest.fixture(scope="module")
def chdb_url(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    from obsctl.export.clickhouse import export_clickhouse
    from obsctl.store import Store
    from obsctl.store.url import parse

    url = f"chdb://{tmp_path_factory.mktemp('tui-chdb')}/ch"
    with Store.open(demo_store, read_only=True) as s:
        export_clickhouse(s, parse(url))
    return url


async def test_tui_investigates_a_chdb_store(chdb_url: str, demo_store: Path, make_app) -> None:
    from textual.widgets import DataTable

    from obsctl.store import Store

    with Store.open(demo_store, read_only=True) as s:
        logs = s.scalar("SELECT count(*) FROM logs")

    app = make_app(chdb_url)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        inv = app.query_one("#overview-view").investigation
        assert inv is not None and inv.found
        assert inv.suspects[0].service == TRUTH.service
        assert app.store_name.startswith("chdb://")
        signals = app.query_one("#overview-signals", DataTable)
        assert signals.row_count == 4  # logs, metrics, traces (+ profiles, none remote)
        assert str(signals.get_row_at(0)[1]) == f"{logs:,}"
        await pilot.press("4")
        await settle(pilot)
        assert app.query_one("#traces-table", DataTable).row_count > 0
