"""Reading inputs: service from path, gzip/BOM detection, exact line numbers in bulk."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from obsctl.errors import InputNotFound
from obsctl.ingest.files import expand_paths, open_source, service_from_path


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("profiles/payment/cpu-1712.pb.gz", "payment"),
        ("logs/postgres.log", "postgres"),
        ("bundle/logs/checkout.jsonl.gz", "checkout"),
        ("incident-4711/metrics/node.prom", "node"),
        ("logs/order.log.1", "order"),
        ("logs/cart-2024-03-26.log", "cart"),
        ("/var/log/nginx/access.log", "nginx"),
        (None, None),
    ],
)
def test_service_from_path_follows_support_bundle_layout(path, service):
    assert service_from_path(path) == service


def _lines(src) -> list[tuple[int, str]]:
    out = []
    for b in src.line_batches(chunk_bytes=7):  # tiny chunks: lines straddle reads
        out.extend(zip(b.column("line").to_pylist(), b.column("text").to_pylist(), strict=True))
    return out


def test_line_batches_number_lines_exactly_across_chunks_crlf_and_no_final_newline(tmp_path):
    p = tmp_path / "x.log"
    p.write_bytes(b"first line\r\n\r\nthird is longer than a chunk\r\nlast")
    assert _lines(open_source(str(p))) == [
        (1, "first line"),
        (2, ""),
        (3, "third is longer than a chunk"),
        (4, "last"),
    ]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    p = tmp_path / "plain-name.log"
    p.write_bytes(gzip.compress(b"a\nb\n"))
    src = open_source(str(p))
    assert src.compression == "gzip"
    assert src.head == b"a\nb\n"
    assert _lines(src) == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_reaches_modules_as_utf8(tmp_path, codec):
    bom = "\ufeff".encode(codec)
    p = tmp_path / "stacks.txt"
    p.write_bytes(bom + "a;b;c 1\nµ;d 2\n".encode(codec))
    src = open_source(str(p))
    assert src.head == "a;b;c 1\nµ;d 2\n".encode()
    assert _lines(src) == [(1, "a;b;c 1"), (2, "µ;d 2")]
    assert src.read_text() == "a;b;c 1\nµ;d 2\n"


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    p = tmp_path / "bad.log"
    p.write_bytes(b"ok\nbad \xff\xfe byte\nok2\n")
    assert _lines(open_source(str(p))) == [(1, "ok"), (2, "bad \ufffd\ufffd byte"), (3, "ok2")]


def test_expand_paths_walks_directories_sorted_and_marks_explicit(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.log").write_text("z")
    (tmp_path / "a.log").write_text("a")
    (tmp_path / ".hidden").write_text("h")
    found = expand_paths([str(tmp_path), str(tmp_path / "a.log")])
    assert found == [
        (str(tmp_path / "a.log"), False),
        (str(tmp_path / "b" / "z.log"), False),
        (str(tmp_path / "a.log"), True),
    ]
    assert expand_paths([str(tmp_path / "*.log")]) == [(str(tmp_path / "a.log"), False)]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(InputNotFound, match="no such file"):
        expand_paths([str(tmp_path / "nope.log")])


def test_source_hash_is_of_raw_bytes(tmp_path):
    import hashlib

    p = tmp_path / "x"
    p.write_bytes(b"hello\n")
    assert open_source(str(p)).sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert open_source(str(p)).size == 6
    assert Path(open_source(str(p)).path) == p


def test_large_files_are_hashed_while_read(tmp_path, monkeypatch):
    import hashlib

    from obsctl.ingest import files

    monkeypatch.setattr(files, "HASH_EAGERLY_BYTES", 1000)
    p = tmp_path / "big.log"
    data = b"".join(b"line %d\n" % i for i in range(50000))
    p.write_bytes(gzip.compress(data))
    src = open_source(str(p))
    assert src.sha256 == ""  # not hashed up front
    assert sum(b.num_rows for b in src.line_batches()) == 50000
    # the read went through the hash: no second pass over the file is needed
    monkeypatch.setattr(files, "_sha256_file", lambda path: pytest.fail("re-read the file"))
    assert src.content_hash() == hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_partial_read_falls_back_to_hashing_the_file(tmp_path, monkeypatch):
    import hashlib

    from obsctl.ingest import files

    monkeypatch.setattr(files, "HASH_EAGERLY_BYTES", 10)
    p = tmp_path / "x.log"
    p.write_bytes(b"abc\n" * 1000)
    src = open_source(str(p))
    with src.open_raw() as f:
        f.read(5)
    assert src.content_hash() == hashlib.sha256(p.read_bytes()).hexdigest()


def test_same_size_and_ends_share_a_fingerprint_but_not_a_hash(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 5_000_000)
    b.write_bytes(b"x" * 2_500_000 + b"y" + b"x" * 2_499_999)
    fa, fb = open_source(str(a)), open_source(str(b))
    # same size and same ends: same fingerprint, so the full hash must decide
    assert fa.fingerprint == fb.fingerprint
    assert fa.content_hash() != fb.content_hash()
