"""``obsctl report [PATH…] -o FILE.md|FILE.html``: the investigation as a post-mortem document.

The command runs the same investigation as ``obsctl investigate`` (the same option
handling: ``cli.investigate.run_investigation``), adds the chart data
(``analysis.report.build``) and writes Markdown (``render.report_md``) or one
self-contained HTML page (``render.report_html``). The format comes from the output's
extension unless ``--format`` says it; ``-o -`` writes to stdout (Markdown unless
``--format html``). The file is written whole or not at all (a temporary file renamed
into place). Exit code 8 (``NOTHING_FOUND``) when nothing left its baseline — after the
report, which then says so, is written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from obsctl.cli.ingest import load_first
from obsctl.cli.investigate import run_investigation
from obsctl.cli.options import (
    BaselineOpt,
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

REPORT_FORMATS = {"md": (".md", ".markdown"), "html": (".html", ".htm")}
"""Report format → the file extensions that mean it."""


def report_format(output: str, format: str | None) -> str:
    """The format to write: ``--format`` if given (it must agree with a known
    extension), else the extension's; stdout (``-``) defaults to Markdown.

    Raises:
        UsageError: an unknown format, a format contradicting the extension, or an
            extension that names no format and no ``--format``.
    """
    from obsctl.errors import UsageError

    if format is not None and format not in REPORT_FORMATS:
        raise UsageError(f"--format {format!r}: choose md or html")
    if output == "-":
        return format or "md"
    ext = Path(output).suffix.lower()
    implied = next((f for f, exts in REPORT_FORMATS.items() if ext in exts), None)
    if format and implied and format != implied:
        raise UsageError(
            f"--format {format} does not match the output {output!r} ({ext} means"
            f" {implied}): name the file .{format} or leave --format out"
        )
    if format:
        return format
    if implied is None:
        raise UsageError(
            f"cannot tell the report format from {output!r}: name it .md or .html,"
            " or give --format md|html"
        )
    return implied


def _write(output: str, text: str) -> int:
    """Write ``text`` to the file (atomically) or stdout; the number of bytes."""
    import os
    import tempfile

    from obsctl.errors import UsageError

    data = text.encode("utf-8")
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return len(data)
    target = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as open() would create it (mkstemp: 0600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    return len(data)


def report(
    ctx: typer.Context,
    paths: PathsArg = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where to write: FILE.md or FILE.html (the format follows the extension),"
            " or - for stdout.",
            show_default=False,
        ),
    ] = ...,  # type: ignore[assignment]
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="md or html [default: from the -o extension; md for stdout].",
            show_default=False,
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    baseline: BaselineOpt = None,
    service: OneServiceOpt = None,
    store: StoreOpt = None,
) -> None:
    """Write a post-mortem report of the investigation: Markdown or self-contained HTML.

    Summary, timeline, the four steps with their evidence, the suspects and the
    commands to reproduce; the HTML adds charts (error rate and latency over time, the
    slowest trace's waterfall, the culprit's differential flame graph). Window and
    baseline as for obsctl investigate. Exit code 8 when nothing left its baseline
    (the report is written and says so).
    """
    from obsctl.analysis import investigate as inv_a
    from obsctl.analysis.report import build
    from obsctl.cli.exit_codes import ExitCode
    from obsctl.timewindow import WindowSpec

    fmt = report_format(output, format)
    spec = WindowSpec.parse(since, until)
    policy = state(ctx).policy
    path = store_path(ctx, store)
    if paths:
        load_first(path, paths, policy)
    with read_store(ctx, store, locate=lambda s: inv_a.incident_span(s, service)) as s:
        inv = run_investigation(s, spec, baseline, service)
        doc = build(s, inv, service=service)
    if fmt == "html":
        from obsctl.render.report_html import to_html

        text = to_html(doc)
    else:
        from obsctl.render.report_md import to_markdown

        text = to_markdown(doc)
    size = _write(output, text)
    where = "stdout" if output == "-" else output
    msg = f"wrote {where} ({max(1, round(size / 1024))} KB)"
    if not doc.found:
        note(policy, msg + "; nothing left its baseline")
        raise typer.Exit(int(ExitCode.NOTHING_FOUND))
    note(policy, msg)
