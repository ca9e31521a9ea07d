"""Startup budget and layering: --help stays light; the core never loads front ends."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "obsctl"
HEAVY = ("duckdb", "pyarrow", "textual", "numpy", "orjson")
FRONT_ENDS = ("rich", "textual", "typer")

PROBE = """
import sys
sys.argv = ["obsctl", *sys.argv[1:]]
from obsctl.cli import main
try:
    main()
except SystemExit:
    pass
print("LOADED=" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["ingest", "--help"],
        ["sql", "-h"],
        ["logs", "--help"],
        ["logs", "histogram", "-h"],
        ["metrics", "--help"],
        ["metrics", "show", "-h"],
    ],
)
def test_help_and_version_do_not_import_heavy_modules(args):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")]
    assert loaded == ["LOADED="], proc.stderr
    assert proc.stdout.strip()  # help/version text was printed


def test_core_packages_load_without_any_front_end():
    code = (
        "import sys, obsctl.store, obsctl.ingest, obsctl.ingest.detect, obsctl.analysis.status;"
        "import obsctl.analysis.logs, obsctl.timewindow;"
        "obsctl.ingest.detect.registry();"
        f"print(','.join(m for m in {FRONT_ENDS!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


# Allowed import edges between obsctl packages (STYLE.md): nothing imports cli or tui;
# the core (store, ingest, analysis) imports no presentation package.
FORBIDDEN = {
    "store": ("obsctl.ingest", "obsctl.analysis", "obsctl.render", "obsctl.cli", "obsctl.tui",
              "obsctl.report", "rich", "textual", "typer"),
    "ingest": ("obsctl.analysis", "obsctl.render", "obsctl.cli", "obsctl.tui", "obsctl.report",
               "rich", "textual", "typer"),
    "analysis": ("obsctl.ingest", "obsctl.render", "obsctl.cli", "obsctl.tui", "obsctl.report",
                 "rich", "textual", "typer"),
    "render": ("obsctl.cli", "obsctl.tui", "obsctl.report", "textual", "typer"),
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering_of_imports(package):
    offenders = []
    for path in sorted((PKG / package).rglob("*.py")):
        for name in _imports(path):
            for bad in FORBIDDEN[package]:
                if name == bad or name.startswith(bad + "."):
                    offenders.append(f"{path.relative_to(PKG)} imports {name}")
    assert offenders == []
