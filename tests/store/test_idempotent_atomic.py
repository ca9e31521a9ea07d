"""Ingest is idempotent (same content twice adds nothing) and atomic per file."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from obsctl.errors import IngestError
from obsctl.ingest import detect, ingest_paths
from obsctl.ingest.base import FormatSpec


def _counts(store) -> tuple[int, int, int]:
    return (
        store.scalar("SELECT count(*) FROM sources"),
        store.scalar("SELECT count(*) FROM logs"),
        store.scalar("SELECT count(*) FROM rejects"),
    )


def test_same_content_twice_adds_nothing_and_says_already_loaded(store, corpus, tmp_path):
    src = corpus / "logs/jsonl/lnav_bunyan.jsonl"
    copy = tmp_path / "renamed.jsonl"
    shutil.copy(src, copy)
    first = ingest_paths(store, [str(src)])
    assert first.files[0].status == "loaded"
    before = _counts(store)
    again = ingest_paths(store, [str(src), str(copy)])
    assert [f.status for f in again.files] == ["already-loaded", "already-loaded"]
    assert again.records == 0
    assert _counts(store) == before


def _failing_spec(rows_before_failure: int) -> FormatSpec:
    def load(src, ctx):
        ctx.append(
            "logs",
            pa.table({"body": [f"row {i}" for i in range(rows_before_failure)]}),
        )
        ctx.reject(3, "bad record")
        raise RuntimeError("disk on fire half-way")

    return FormatSpec("halfway", "logs", "fails after writing", lambda h, n: 1.0, load)


def test_a_file_failing_half_way_leaves_the_store_as_it_was(store, corpus, tmp_path, monkeypatch):
    ingest_paths(store, [str(corpus / "logs/jsonl/lnav_bunyan.jsonl")])
    before = _counts(store)
    monkeypatch.setattr(detect, "registry", lambda: (_failing_spec(50),))
    bad = tmp_path / "half.log"
    bad.write_text("whatever\n")
    report = ingest_paths(store, [str(bad)])
    assert report.files[0].status == "failed"
    assert "disk on fire half-way" in report.files[0].error
    assert _counts(store) == before
    # and the failed file can be loaded later (its hash was not recorded)
    assert store.scalar("SELECT count(*) FROM sources WHERE path LIKE '%half.log'") == 0


def test_one_failing_file_does_not_stop_the_others(store, corpus, tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    report = ingest_paths(store, [str(empty), str(corpus / "logs/jsonl/lnav_bunyan.jsonl")])
    assert [f.status for f in report.files] == ["failed", "loaded"]
    assert "empty" in report.files[0].error


def test_unrecognised_files_in_a_directory_are_skipped_named_files_fail(store, tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    (d / "notes.bin").write_bytes(bytes(range(256)) * 4)
    walked = ingest_paths(store, [str(d)])
    assert [f.status for f in walked.files] == ["skipped"]
    named = ingest_paths(store, [str(d / "notes.bin")])
    assert [f.status for f in named.files] == ["failed"]
    assert "format not recognised" in named.files[0].error


def test_forced_unknown_format_is_a_usage_error(store, tmp_path):
    from obsctl.errors import UsageError

    p = tmp_path / "x.log"
    p.write_text("x\n")
    with pytest.raises(UsageError, match="unknown format 'nope'"):
        ingest_paths(store, [str(p)], format="nope")


def test_ingest_error_is_an_obsctl_error():
    from obsctl.errors import ObsctlError

    assert issubclass(IngestError, ObsctlError)


def test_large_file_with_same_ends_but_other_middle_is_new_content(store, tmp_path, monkeypatch):
    from obsctl.ingest import files

    monkeypatch.setattr(files, "HASH_EAGERLY_BYTES", 1000)
    line = b'{"ts":"2024-01-01T00:00:00Z","level":"info","msg":"m %d"}\n'
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    rows = [line % i for i in range(40000)]
    a.write_bytes(b"".join(rows))
    rows[20000] = line % 999999  # same first and last MiB, other content in the middle
    b.write_bytes(b"".join(rows))
    assert ingest_paths(store, [str(a)]).files[0].status == "loaded"
    assert ingest_paths(store, [str(a)]).files[0].status == "already-loaded"
    assert ingest_paths(store, [str(b)]).files[0].status == "loaded"
    assert store.scalar("SELECT count(DISTINCT content_hash) FROM sources") == 2
