"""The ``obsctl logs patterns`` view: templates, ranked by what changed in the incident."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsctl.render.formats import Column, Listing

if TYPE_CHECKING:
    import pyarrow as pa

STATUS_STYLES = {"new": "bold red", "grown": "yellow", "shrunk": "cyan", "gone": "dim"}


def patterns_listing(table: pa.Table, *, compared: bool, footer: str | None = None) -> Listing:
    """One row per template: status, count, share, baseline count, growth, template, where.

    Args:
        table: ``analysis.log_patterns.patterns`` output (every format gets all of it).
        compared: whether a baseline was given (else the table view hides status columns).
        footer: a line under the table view (the windows compared).
    """
    compare = [Column("baseline_count", "baseline", kind="int"), Column("growth", kind="factor")]
    columns = [
        *([Column("status")] if compared else []),
        Column("count", kind="int"),
        Column("share", kind="fraction"),
        *(compare if compared else []),
        Column("template", kind="text", min_width=30, max_width=90),
        Column("services", kind="list", max_width=24),
        Column("levels", kind="list", max_width=14),
    ]
    return Listing(
        table,
        columns=columns,
        footer=footer,
        styles={"status": lambda v: STATUS_STYLES.get(v or "", "")},
    )
