"""A second writer gets one clear line naming the lock, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys
import time

from typer.testing import CliRunner

from obsctl.cli import app
from obsctl.cli.exit_codes import ExitCode

HOLD = """
import sys, time
from obsctl.store import Store
s = Store.open(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_second_writer_gets_a_one_line_lock_error(tmp_path, corpus):
    db = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        runner = CliRunner()
        result = runner.invoke(
            app, ["ingest", "--store", str(db), str(corpus / "logs/jsonl/lnav_bunyan.jsonl")]
        )
        assert result.exit_code == ExitCode.LOCKED
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("obsctl: error: store ")
        assert "is locked" in lines[0] and str(db) in lines[0]
        assert f"process {holder.pid}" in lines[0]
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
