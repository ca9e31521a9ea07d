"""Every corpus file is claimed by exactly its expected format — and non-telemetry by none.

As lnav checks its format samples for collisions, this runs every sniffer over every file
in ../shared/corpus: the expected format must win, clearly ahead of the runner-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obsctl.ingest import detect
from obsctl.ingest.files import open_source

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

# Expected format by exact path, or by folder prefix (entries ending in "/"); first match
# wins. None = not telemetry: nothing may claim it.
EXPECTED: list[tuple[str, str | None]] = [
    ("SHA256SUMS", None),
    ("SOURCES.md", None),
    ("logs/access/lnav_w3c_big.iis.log", "w3c"),
    ("logs/access/", "access-log"),
    ("logs/jsonl/", "jsonl"),
    ("logs/logfmt/", "logfmt"),
    ("logs/loghub/Apache/Apache_2k.log", "apache-error"),
    ("logs/loghub/HDFS/HDFS_2k.log", "hdfs"),
    ("logs/loghub/Linux/Linux_2k.log", "syslog"),
    ("logs/loghub/OpenSSH/OpenSSH_2k.log", "syslog"),
    ("logs/loghub/", None),  # structured/template CSVs, READMEs, licence, citation
    ("logs/otlp/", "otlp-logs"),
    ("logs/syslog/", "syslog"),
    ("logs/text/lnav_glog.log", "klog"),
    ("logs/text/lnav_java_spring.log", "java"),
    ("logs/text/lnav_zap_console_otelcol.log", "zap-console"),
    ("metrics/nab/data/", "csv-metrics"),
    ("metrics/nab/", None),  # labels JSON, README
    ("metrics/otlp/", "otlp-metrics"),
    ("metrics/prometheus/", "prometheus"),
    ("profiles/folded/", "folded"),
    ("profiles/other/chrome65_simple.cpuprofile.json", "chrome-cpuprofile"),
    ("profiles/perf_script/", "perf-script"),
    ("profiles/pprof/", "pprof"),
    ("profiles/pprof_legacy/", "pprof"),  # claimed, then refused with a conversion hint
    ("profiles/pprof_top/", None),
    ("profiles/speedscope/", "speedscope"),
    ("traces/jaeger/jaeger_otlp2jaeger-in.otlp.json", "otlp-traces"),
    ("traces/jaeger/jaegerui_otlp2jaeger-in-error.otlp.json", "otlp-traces"),
    ("traces/jaeger/jaegerui_otlp2jaeger-multi-in-combined.otlp.json", "otlp-traces"),
    ("traces/jaeger/", "jaeger"),
    ("traces/otlp/", "otlp-traces"),
    ("traces/zipkin/", "zipkin"),
]


def _expected(rel: str) -> str | None:
    for key, fmt in EXPECTED:
        if rel == key or (key.endswith("/") and rel.startswith(key)):
            return fmt
    raise AssertionError(f"no expectation for corpus file {rel}: add one")


FILES = sorted(
    str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()
) if CORPUS.is_dir() else []  # fmt: skip


def test_corpus_is_present():
    assert len(FILES) > 100


@pytest.mark.parametrize("rel", FILES)
def test_each_corpus_file_detects_as_its_format(rel):
    src = open_source(str(CORPUS / rel))
    ranked = [(s, spec.name) for s, spec in detect.scores(src.head, src.name) if s > 0]
    want = _expected(rel)
    if want is None:
        assert not ranked or ranked[0][0] < detect.MIN_SCORE, ranked[:3]
        return
    assert ranked, "nothing claimed it"
    best_score, best = ranked[0]
    assert best == want, ranked[:3]
    runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
    assert best_score - runner_up >= 0.15, ranked[:3]


def test_content_not_name_decides(tmp_path, corpus):
    # A Zipkin trace saved under a log-ish name is still Zipkin; a logfmt file named .json
    # is still logfmt.
    z = tmp_path / "server.log"
    z.write_bytes((corpus / "traces/zipkin/yelp.json").read_bytes())
    src = open_source(str(z))
    assert detect.detect(src.head, src.name).name == "zipkin"
    lf = tmp_path / "grafana.json"
    lf.write_bytes((corpus / "logs/logfmt/lnav_grafana.0.logfmt").read_bytes())
    src = open_source(str(lf))
    assert detect.detect(src.head, src.name).name == "logfmt"
