"""``obsctl.demo`` is core code: no front end in it, and ``demo --help`` stays light."""

from __future__ import annotations

import subprocess
import sys

from tests.test_import_hygiene import HEAVY, PKG, PROBE, _imports

FORBIDDEN = ("obsctl.cli", "obsctl.render", "obsctl.tui", "obsctl.report", "rich", "textual",
             "typer")  # fmt: skip


def test_demo_package_imports_no_front_end() -> None:
    offenders = [
        f"{path.relative_to(PKG)} imports {name}"
        for path in sorted((PKG / "demo").rglob("*.py"))
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert offenders == []


def test_generating_loads_no_front_end() -> None:
    code = (
        "import sys, obsctl.demo, obsctl.demo.traffic, obsctl.demo.writers.sink,"
        " obsctl.demo.writers.pprof, obsctl.demo.writers.prometheus;"
        "print(','.join(m for m in ('rich', 'textual', 'typer') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_demo_help_does_not_import_heavy_modules() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")] == ["LOADED="]
    assert "--scenario" in proc.stdout
