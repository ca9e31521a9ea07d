"""The README is the reference: every command, format, table and exit code is in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from obsctl.cli import app
from obsctl.cli.exit_codes import ExitCode

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def _commands() -> list[tuple[str, object]]:
    import typer.main

    group = typer.main.get_command(app)
    out = []

    def walk(cmd, prefix):
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            full = f"{prefix} {name}".strip()
            if getattr(sub, "commands", None):
                walk(sub, full)
            else:
                out.append((full, sub))

    walk(group, "")
    return out


@pytest.mark.parametrize(
    ("name", "cmd"), _commands(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_is_documented_and_has_help(name, cmd):
    assert f"obsctl {name}" in _section("Command reference")
    assert (cmd.help or "").strip(), f"obsctl {name} has no help text"


def test_every_format_is_in_the_formats_table():
    from obsctl.ingest.detect import registry

    table = _section("Formats")
    for spec in registry():
        assert f"`{spec.name}`" in table, spec.name


def test_every_exit_code_is_documented():
    section = _section("Exit codes")
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", section, re.M), code


def test_every_public_table_and_column_is_documented(store):
    section = _section("Store schema")
    for table in ("logs", "spans", "metric_points", "profiles", "profile_samples", "sources"):
        assert f"`{table}`" in section
        for (col,) in store.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ):
            assert f"`{col}`" in section, f"{table}.{col}"


def test_readme_test_command_is_what_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README
    assert "python -m pytest -q" in ci
