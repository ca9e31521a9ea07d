"""The ingest summary: one row per file, and the kept rejects for ``--verbose``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    from rich.console import Console

    from obsctl.analysis.status import Extent
    from obsctl.ingest import IngestReport


GROUP_AT = 4
"""Runs of at least this many clean files of one format in one folder share a row."""


def summary_listing(report: IngestReport, extent: Extent, *, group: bool = False) -> Listing:
    """The per-file table (file, format, signal, records, rejected, note) and a footer.

    With ``group`` (the human table view), a run of ``GROUP_AT`` or more files loaded
    cleanly from one folder in one format — a service's profiles, a day of rotated logs —
    is shown as one row (``profiles/payment/ (40 files)``); machine formats keep a row
    per file.
    """
    import os

    import pyarrow as pa

    named = [f.path for f in report.files if f.path != "-"]
    root = ""
    if len(named) > 1:
        try:
            root = os.path.commonpath([os.path.dirname(p) or "." for p in named])
        except ValueError:  # mixed absolute and relative paths
            root = ""
    rows = []
    for f in report.files:
        if f.status == "already-loaded":
            note = "already loaded (same content)"
        elif f.status == "failed":
            note = f.error or "failed"
        elif f.status == "skipped":
            note = "skipped: " + (f.error or "not telemetry").split(": ", 1)[-1]
        elif f.first_reject is not None:
            where = f"line {f.first_reject.line}: " if f.first_reject.line else ""
            note = f"first reject: {where}{f.first_reject.reason}"
        else:
            note = ""
        rows.append(
            {
                "file": os.path.relpath(f.path, root) if root and f.path != "-" else f.path,
                "path": f.path,
                "status": f.status,
                "format": f.format,
                "signal": f.signal,
                "records": f.records if f.status == "loaded" else None,
                "unit": f.unit,
                "rejected": f.rejected if f.status == "loaded" else None,
                "bytes": f.bytes,
                "note": note,
            }
        )
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("path", pa.string()),
            ("status", pa.string()),
            ("format", pa.string()),
            ("signal", pa.string()),
            ("records", pa.int64()),
            ("unit", pa.string()),
            ("rejected", pa.int64()),
            ("bytes", pa.int64()),
            ("note", pa.string()),
        ]
    )
    if group:
        rows = _grouped(rows)
    table = pa.Table.from_pylist(rows, schema=schema)
    return Listing(
        table,
        columns=[
            Column("file", max_width=60, min_width=36, ellipsis="left"),
            Column("format"),
            Column("signal"),
            Column("records", kind="int"),
            Column("rejected", kind="int"),
            Column("note", style="dim", max_width=70),
        ],
        title=f"from {root}/" if root and root != "." else None,
        footer=footer(report, extent),
        styles={
            "note": lambda v: (
                "red" if v and not v.startswith(("already", "first reject", "skipped")) else ""
            )
        },
    )


def _grouped(rows: list[dict]) -> list[dict]:
    import itertools
    import os

    def key(row: dict) -> tuple:
        clean = row["status"] == "loaded" and not row["rejected"]
        return (os.path.dirname(row["file"]), row["format"], clean) if clean else (id(row),)

    out: list[dict] = []
    for _, run_iter in itertools.groupby(rows, key=key):
        run = list(run_iter)
        if len(run) < GROUP_AT:
            out.extend(run)
            continue
        first = run[0]
        folder = os.path.dirname(first["file"])
        out.append(
            {
                **first,
                "file": f"{folder}/ ({len(run)} files)",
                "path": os.path.dirname(first["path"]),
                "records": sum(r["records"] for r in run),
                "bytes": sum(r["bytes"] for r in run),
            }
        )
    return out


def footer(report: IngestReport, extent: Extent) -> str:
    """``3 files loaded · 11 services · start → end (span) · 3 rejected records``."""
    from obsctl.render.units import fmt_count, fmt_duration_ns, fmt_time

    loaded = sum(1 for f in report.files if f.status == "loaded")
    parts = [f"{loaded} of {len(report.files)} files loaded"]
    already = sum(1 for f in report.files if f.status == "already-loaded")
    if already:
        parts.append(f"{already} already loaded")
    skipped = sum(1 for f in report.files if f.status == "skipped")
    if skipped:
        parts.append(f"{skipped} skipped")
    failed = len(report.failed)
    if failed:
        parts.append(f"{failed} failed")
    if extent.services:
        parts.append(f"{len(extent.services)} services")
    if extent.start and extent.end:
        span = (extent.end - extent.start).total_seconds() * 1e9
        parts.append(
            f"{fmt_time(extent.start, precision='s')} → {fmt_time(extent.end, precision='s')}"
            f" UTC ({fmt_duration_ns(span)})"
        )
    if report.rejected:
        parts.append(f"{fmt_count(report.rejected)} rejected records (see --verbose)")
    return " · ".join(parts)


def write_rejects(report: IngestReport, console: Console, *, verbose: bool, quiet: bool) -> None:
    """Tell stderr about failures and, with ``verbose``, about each file's kept rejects."""
    from rich.text import Text

    from obsctl.render.safe import clean

    for f in report.files:
        if f.status == "failed":
            console.print(Text(f"obsctl: error: {clean(f.error)}"))
    if not verbose or quiet:
        return
    for f in report.files:
        if not f.rejected:
            continue
        console.print(Text(f"{clean(f.path)}: {f.rejected} rejected", style="bold"))
        for r in f.rejects:
            loc = f"{clean(f.path)}:{r.line}" if r.line is not None else clean(f.path)
            console.print(Text(f"  {loc}  {clean(r.reason)}  {clean(r.excerpt)[:120]}"))
        if f.rejected > len(f.rejects):
            console.print(Text(f"  … {f.rejected - len(f.rejects)} more not kept", style="dim"))
