"""``obsctl investigate [PATH…]``: the four steps chained, ending in ranked suspects.

With paths, they are ingested first (into ``--store`` or the default store; content
already loaded is skipped). The analysis is ``obsctl.analysis.investigate``; this module
only parses options and picks the output. Exit code 8 (``NOTHING_FOUND``) says the data
showed no change against its baseline, so scripts can tell "all quiet" from a finding.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from obsctl.cli.ingest import load_first
from obsctl.cli.options import (
    BaselineOpt,
    FormatOpt,
    OneServiceOpt,
    PathsArg,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    note,
    read_store,
    state,
    store_path,
)

if TYPE_CHECKING:
    from obsctl.analysis.investigate import Investigation
    from obsctl.store import Store
    from obsctl.timewindow import WindowSpec


def run_investigation(
    s: Store, spec: WindowSpec, baseline: str | None, service: str | None
) -> Investigation:
    """The investigation the options ask for, on an open store (``investigate`` and
    ``report`` both call it, so they resolve --since/--until/--baseline alike).

    Without --since/--until the window is found from the data; relative values count
    back from the data's end.

    Raises:
        UsageError: a malformed --baseline.
        InputNotFound: the store holds no telemetry.
    """
    from obsctl.analysis import investigate as inv_a
    from obsctl.errors import InputNotFound
    from obsctl.timewindow import TimeWindow, baseline_window, data_end_ns

    end = data_end_ns(s)
    window = spec.resolve_at(end) if (spec.since or spec.until) else None
    located = getattr(s, "located", None)
    if window is None and located is not None:
        # a ClickHouse store too big to read whole: the window was found there already
        window = TimeWindow(located[1], located[2])
    base = baseline_window(baseline, window or TimeWindow(), end)
    result = inv_a.investigate(s, window, base, service=service)
    if result is None:
        raise InputNotFound("the store holds no telemetry: load some with 'obsctl ingest PATH'")
    return result


def investigate(
    ctx: typer.Context,
    paths: PathsArg = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    baseline: BaselineOpt = None,
    service: OneServiceOpt = None,
    format: FormatOpt = "table",
    store: StoreOpt = None,
) -> None:
    """Walk logs → metrics → traces → profiles and rank the suspects.

    Without --since the incident window is found from the data: where the error or
    warning rate, failed spans or root latency leave their baseline, or new
    warning/error log patterns appear. json gives the whole investigation as one
    document (see the README for its schema); ndjson and csv give one row per suspect.
    Exit code 8 when nothing left its baseline.
    """
    import orjson

    from obsctl.analysis import investigate as inv_a
    from obsctl.cli.exit_codes import ExitCode
    from obsctl.render import formats
    from obsctl.render.console import make_console
    from obsctl.timewindow import WindowSpec

    spec = WindowSpec.parse(since, until)
    policy = state(ctx).policy
    path = store_path(ctx, store)
    if paths:
        load_first(path, paths, policy)
    with read_store(ctx, store, locate=lambda s: inv_a.incident_span(s, service)) as s:
        result = run_investigation(s, spec, baseline, service)
    if format == "table":
        make_console(sys.stdout, policy).print(_view(result))
    elif format == "json":
        sys.stdout.write(
            orjson.dumps(inv_a.as_dict(result), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        formats.write(_suspect_rows(result), format, sys.stdout)
    if not result.found:
        note(policy, "nothing left its baseline")
        raise typer.Exit(int(ExitCode.NOTHING_FOUND))


def _view(result: object) -> object:
    from obsctl.render.investigate import investigation_view

    return investigation_view(result)  # type: ignore[arg-type]


def _suspect_rows(result: object) -> object:
    """One row per suspect (ndjson/csv), evidence as a list."""
    import pyarrow as pa

    from obsctl.analysis.investigate import as_dict

    doc = as_dict(result)  # type: ignore[arg-type]
    keys = ("rank", "service", "caller", "operation", "function", "score", "confidence")
    rows = [
        {k: s[k] for k in keys} | {"evidence": [e["text"] for e in s["evidence"]]}
        for s in doc["suspects"]
    ]
    schema = pa.schema(
        [
            ("rank", pa.int64()),
            ("service", pa.string()),
            ("caller", pa.string()),
            ("operation", pa.string()),
            ("function", pa.string()),
            ("score", pa.float64()),
            ("confidence", pa.string()),
            ("evidence", pa.list_(pa.string())),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)
