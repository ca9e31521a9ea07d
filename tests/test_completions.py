"""The committed completion scripts are the ones the CLI generates today."""

from __future__ import annotations

from pathlib import Path

from obsctl.cli.completions import scripts

COMPLETIONS = Path(__file__).resolve().parents[1] / "completions"


def test_committed_completions_are_current():
    for shell, text in scripts().items():
        committed = (COMPLETIONS / f"obsctl.{shell}").read_text()
        assert committed == text, (
            f"completions/obsctl.{shell} is stale: run python -m obsctl.cli.completions"
        )


def test_completion_callback_answers_with_commands(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, _OBSCTL_COMPLETE="complete_bash", COMP_WORDS="obsctl st", COMP_CWORD="1")
    proc = subprocess.run(
        [sys.executable, "-m", "obsctl"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "status" in proc.stdout.split()
