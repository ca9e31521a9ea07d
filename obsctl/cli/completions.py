"""Shell completion scripts, generated from the CLI (``completions/obsctl.{bash,zsh,fish}``).

The scripts are typer's shims: they call ``obsctl`` back with ``_OBSCTL_COMPLETE`` set,
so completions always follow the installed commands. Regenerate the committed copies with
``python -m obsctl.cli.completions completions/``; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")


def scripts() -> dict[str, str]:
    """Shell name → completion script text."""
    from typer._completion_shared import get_completion_script

    return {
        shell: get_completion_script(
            prog_name="obsctl", complete_var="_OBSCTL_COMPLETE", shell=shell
        ).rstrip("\n")
        + "\n"
        for shell in SHELLS
    }


def write(directory: Path) -> list[Path]:
    """Write ``obsctl.<shell>`` files into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for shell, text in scripts().items():
        path = directory / f"obsctl.{shell}"
        path.write_text(text)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "completions")):
        print(p)
