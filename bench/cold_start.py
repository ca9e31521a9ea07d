"""Cold start: ``obsctl --help`` against a bare typer app, best of N runs each.

python bench/cold_start.py [-n 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BARE = "import typer\napp = typer.Typer()\n@app.command()\ndef hello(): pass\napp()"


def best(cmd: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    n = ap.parse_args().n
    bare = best([sys.executable, "-c", BARE, "--help"], n)
    help_ = best([sys.executable, "-m", "obsctl", "--help"], n)
    version = best([sys.executable, "-m", "obsctl", "--version"], n)
    print(f"bare typer --help     {bare * 1000:6.0f} ms")
    print(f"obsctl --help         {help_ * 1000:6.0f} ms  ({help_ / bare:.2f}x bare)")
    print(f"obsctl --version      {version * 1000:6.0f} ms  ({version / bare:.2f}x bare)")


if __name__ == "__main__":
    main()
