"""Template-mining accuracy on the loghub 2k samples: GA and PA per system, and time.

Usage::

    python bench/loghub_accuracy.py [--corpus DIR] [--systems Apache,HDFS] [--errors N]

``DIR`` holds ``<System>/<System>_2k.log_structured.csv`` (default
``../shared/corpus/logs/loghub``); every system found there is measured. The miner is fed
the ``Content`` column (the message without its header), as loghub does.

Metrics (as loghub's evaluator computes them):

* **GA**, grouping accuracy: a line counts when the set of lines sharing its predicted
  template equals the set sharing its true ``EventTemplate``.
* **PA**, parsing accuracy: a line counts when its predicted template equals the true
  one. The only normalisation, applied to both sides: whitespace runs become one space
  and the ends are stripped (loghub templates are tokens joined by spaces; a few ground
  truths carry double spaces from the raw text).
* **PA-fold** additionally folds variables separated only by whitespace (``<*> <*>`` →
  ``<*>``) on both sides, the miner's own convention for multi-token variables; shown for
  information, the tests hold ``PA``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "logs" / "loghub"
sys.path.insert(0, str(ROOT))


def load_system(path: Path) -> tuple[list[str], list[str]]:
    """(contents, true templates) of one ``*_2k.log_structured.csv`` (CRLF-safe)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


def normalise(template: str) -> str:
    """Whitespace runs → one space, ends stripped: the PA comparison key."""
    return " ".join(template.split())


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of lines whose predicted group is exactly their true group."""
    true_groups: dict[str, set[int]] = defaultdict(set)
    pred_groups: dict[str, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[t].add(i)
        pred_groups[p].add(i)
    ok = 0
    for members in pred_groups.values():
        first = next(iter(members))
        if true_groups[truth[first]] == members:
            ok += len(members)
    return ok / len(truth) if truth else 1.0


def parsing_accuracy(
    truth: Sequence[str], predicted: Sequence[str], norm: Callable[[str], str] = normalise
) -> float:
    """Share of lines whose predicted template equals the true one after ``norm``."""
    ok = sum(norm(t) == norm(p) for t, p in zip(truth, predicted, strict=True))
    return ok / len(truth) if truth else 1.0


def systems(corpus: Path) -> list[tuple[str, Path]]:
    """(name, structured csv) for each system in the corpus, sorted by name."""
    return sorted(
        (p.parent.name, p) for p in corpus.glob("*/*_2k.log_structured.csv") if p.is_file()
    )


def obsctl_parse(contents: Sequence[str]) -> list[str]:
    """obsctl's templates for the contents."""
    from obsctl.analysis.log_patterns import mine

    return mine(contents).templates.to_pylist()


def main(argv: Sequence[str] | None = None) -> int:
    """Print GA / PA / PA-fold / time per system and their means."""
    from obsctl.analysis.log_patterns import fold_variables

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--systems", default="", help="comma-separated subset")
    ap.add_argument("--errors", type=int, default=0, help="show N mis-parsed templates each")
    args = ap.parse_args(argv)
    wanted = {s for s in args.systems.split(",") if s}
    rows = []
    print(f"{'system':<12} {'lines':>6} {'GA':>6} {'PA':>6} {'PA-fold':>8} {'ms':>8}")
    for name, path in systems(args.corpus):
        if wanted and name not in wanted:
            continue
        contents, truth = load_system(path)
        t0 = time.perf_counter()
        pred = obsctl_parse(contents)
        ms = (time.perf_counter() - t0) * 1e3
        ga = grouping_accuracy(truth, pred)
        pa = parsing_accuracy(truth, pred)
        paf = parsing_accuracy(truth, pred, lambda s: fold_variables(normalise(s)))
        rows.append((ga, pa, paf, ms))
        print(f"{name:<12} {len(contents):>6} {ga:>6.3f} {pa:>6.3f} {paf:>8.3f} {ms:>8.1f}")
        if args.errors:
            bad: Counter[tuple[str, str]] = Counter(
                (normalise(t), normalise(p))
                for t, p in zip(truth, pred, strict=True)
                if normalise(t) != normalise(p)
            )
            for (t, p), n in bad.most_common(args.errors):
                print(f"    {n:>4}  true {t!r}\n          got  {p!r}")
    if rows:
        k = len(rows)
        means = [sum(r[j] for r in rows) / k for j in range(4)]
        print(
            f"{'mean':<12} {'':>6} {means[0]:>6.3f} {means[1]:>6.3f} {means[2]:>8.3f}"
            f" {sum(r[3] for r in rows):>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
