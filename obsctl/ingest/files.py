"""Finding input files and reading them: globs, directories, stdin, gzip, encodings.

A ``Source`` is one input file as the format modules see it: its first bytes for
sniffing, a decompressed byte stream, and ``line_batches`` — the bulk path for
line-oriented formats. ``line_batches`` cuts the decompressed stream into Arrow record
batches of ``(line, text)`` with exact 1-based line numbers, without a Python object per
line: newlines are found with numpy and the strings are zero-copy views of the read
buffer. Format modules then run DuckDB SQL over those batches, so a 1 GiB file never
passes through per-line Python.

Compression and text encoding are detected from content, not names: gzip by its magic
bytes; UTF-16 (LE/BE) and UTF-8 byte-order marks are honoured and the text handed to
modules is always UTF-8 (invalid bytes become U+FFFD rather than failing the file).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from obsctl.errors import InputNotFound

if TYPE_CHECKING:
    import pyarrow as pa

HEAD_BYTES = 64 * 1024
"""How much of a file (decompressed) the sniffers see."""

CHUNK_BYTES = 16 * 1024 * 1024
"""Read size of the bulk line reader."""

FINGERPRINT_BYTES = 1024 * 1024
"""How much of each end of a file its fingerprint covers."""

HASH_EAGERLY_BYTES = 8 * 1024 * 1024
"""Files up to this size are hashed up front; larger ones while they load."""

GZIP_MAGIC = b"\x1f\x8b"
BOM_UTF8 = b"\xef\xbb\xbf"
BOM_UTF16_LE = b"\xff\xfe"
BOM_UTF16_BE = b"\xfe\xff"

# Directory names that say what a folder holds rather than whose it is: a file under
# them takes its service from its own name (logs/postgres.log → postgres).
GENERIC_DIRS = frozenset(
    """
    . .. log logs metric metrics trace traces tracing span spans profile profiles pprof
    prof cpu heap mem memory data dump dumps export exports exported out output tmp temp
    var otel otlp telemetry bundle support-bundle incident incidents fixtures corpus samples
    sample test tests jsonl json ndjson logfmt text txt syslog access prometheus prom
    openmetrics csv nab jaeger zipkin folded speedscope raw archive archives other misc
    perf perf_script perf-script
    """.split()  # noqa: SIM905 - a word list reads better than 80 quoted strings
)

_EXTENSIONS = re.compile(
    r"(\.(gz|gzip|log|logs|jsonl|ndjson|json|txt|text|prom|om|csv|tsv|pb|pprof|prof|"
    r"folded|collapsed|out|logfmt|speedscope|cpuprofile|otlp|binpb|v?[0-9]+))+$",
    re.IGNORECASE,
)
_ROTATION = re.compile(r"([-_.](\d{2,}|\d{4}-\d{2}-\d{2}(T[\d:]+)?))+$")


def service_from_path(path: str | os.PathLike[str] | None) -> str | None:
    """Guess a service from where a support bundle put the file.

    The nearest parent directory that is not a generic folder name wins
    (``profiles/payment/cpu-1712.pb.gz`` → ``payment``); under generic folders the file's
    own name, without extensions or rotation suffixes, is used
    (``logs/postgres.log`` → ``postgres``). Returns None for stdin.
    """
    if path is None:
        return None
    p = Path(path)
    parent = p.parent
    # Only the immediate parent is trusted as a service folder: higher folders are more
    # often the bundle or project name than a service.
    if parent.name and parent.name.lower() not in GENERIC_DIRS and parent != Path(p.anchor):
        return parent.name
    stem = _EXTENSIONS.sub("", p.name)
    stem = _ROTATION.sub("", stem) or stem
    return stem or None


@dataclass
class Source:
    """One input file, ready to sniff and load."""

    display: str
    """The name shown to the user (the path as given, or ``-``)."""
    path: Path
    """A real file holding the raw (possibly compressed) bytes; stdin is spooled to one."""
    size: int = 0
    """Raw size in bytes."""
    sha256: str = ""
    """SHA-256 of the raw bytes (the idempotency key); "" until known — see ``content_hash``."""
    fingerprint: str = ""
    """A cheap stand-in for the hash: size plus the first and last MiB. Equal content has
    an equal fingerprint, so a file whose fingerprint is new is new content."""
    compression: str | None = None
    """``gzip`` or None, detected from magic bytes."""
    encoding: str = "utf-8"
    """Text encoding detected from a byte-order mark: utf-8, utf-16-le or utf-16-be."""
    head: bytes = b""
    """The first ``HEAD_BYTES`` of the content, decompressed and as UTF-8."""
    raw_head: bytes = b""
    """The first bytes of the content, decompressed but not transcoded (for binary formats)."""
    temporary: bool = False
    """Whether ``path`` is a spool file to delete after loading."""
    consumed: int = field(default=0, repr=False)
    """Raw bytes consumed by the last reader (for progress)."""
    _hashers: list[_HashingFile] = field(default_factory=list, repr=False)

    def content_hash(self) -> str:
        """The SHA-256 of the raw bytes.

        Large files are hashed while a loader reads them (``_HashingFile``), so the hash
        costs no extra pass; only when no reader went through the whole file is it read
        again here.
        """
        if not self.sha256:
            done = [h for h in self._hashers if h.complete(self.size)]
            self.sha256 = done[0].hexdigest() if done else _sha256_file(self.path)
        return self.sha256

    def _open_file(self) -> IO[bytes]:
        f = open(self.path, "rb")  # noqa: SIM115 - closed by the caller's stream
        if self.sha256:
            return f
        hasher = _HashingFile(f)
        self._hashers.append(hasher)
        return hasher  # type: ignore[return-value]

    @property
    def name(self) -> str:
        """The file name used as a sniffing hint ('' for stdin)."""
        return "" if self.display == "-" else Path(self.display).name

    def open_raw(self) -> IO[bytes]:
        """The decompressed content as a binary stream (encoding untouched)."""
        f = self._open_file()
        if self.compression == "gzip":
            return gzip.GzipFile(fileobj=f, mode="rb")
        return f

    def read_bytes(self) -> bytes:
        """The whole decompressed content, encoding untouched (for binary formats)."""
        with self.open_raw() as f:
            return f.read()

    def read_text(self) -> str:
        """The whole content decoded to ``str`` (BOM removed; bad bytes → U+FFFD)."""
        data = self.read_bytes()
        return _decode(data, self.encoding)

    def read_utf8(self) -> bytes:
        """The whole content as UTF-8 bytes (BOM removed)."""
        if self.encoding == "utf-8":
            data = self.read_bytes()
            return data[len(BOM_UTF8) :] if data.startswith(BOM_UTF8) else data
        return self.read_text().encode("utf-8")

    def line_batches(
        self, *, strip: bool = True, chunk_bytes: int = CHUNK_BYTES, batch_rows: int = 65536
    ) -> Iterator[pa.RecordBatch]:
        """Yield the content as Arrow batches of ``line`` (int64, 1-based) and ``text``.

        ``text`` is a ``large_string``; with ``strip`` its line terminator (``\\n``,
        ``\\r\\n``) is removed, without it the terminator stays (cheaper, and harmless for
        JSON). A last line without a final newline is still yielded. Empty lines are
        yielded too (their numbers count), so callers filter them in SQL.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
        next_line = 1
        carry = b""
        with self._utf8_stream() as f:
            raw = getattr(f, "raw_file", None)
            while True:
                block = f.read(chunk_bytes)
                eof = not block
                data = carry + block if carry else block
                if not data:
                    break
                if eof:
                    cut = len(data)
                    carry = b""
                else:
                    i = data.rfind(b"\n")
                    if i < 0:
                        carry = data
                        continue
                    cut = i + 1
                    carry = data[cut:]
                buf = np.frombuffer(data, dtype=np.uint8, count=cut)
                ends = np.flatnonzero(buf == 10) + 1
                if len(ends) == 0 or ends[-1] != cut:
                    ends = np.append(ends, cut)
                n = len(ends)
                offsets = np.empty(n + 1, dtype=np.int64)
                offsets[0] = 0
                offsets[1:] = ends
                texts = pa.LargeStringArray.from_buffers(
                    n, pa.py_buffer(offsets), pa.py_buffer(memoryview(data)[:cut])
                )
                try:
                    texts.validate(full=True)
                except pa.ArrowInvalid:
                    fixed = data[:cut].decode("utf-8", "replace").encode("utf-8")
                    pieces = fixed.split(b"\n")
                    if pieces and pieces[-1] == b"":
                        pieces.pop()
                    texts = pa.array([p + b"\n" for p in pieces], pa.large_binary()).cast(
                        pa.large_string()
                    )
                    n = len(texts)
                if strip:
                    texts = pc.utf8_rtrim(texts, characters="\r\n")
                lines = pa.array(np.arange(next_line, next_line + n, dtype=np.int64))
                batch = pa.record_batch([lines, texts], schema=schema)
                next_line += n
                for off in range(0, n, batch_rows):
                    yield batch.slice(off, batch_rows)
                if raw is not None:
                    self.consumed = raw.tell()
                if eof:
                    break

    def line_reader(self, **kwargs: int | bool) -> pa.RecordBatchReader:
        """``line_batches`` as a ``pyarrow.RecordBatchReader`` (register it with DuckDB)."""
        import pyarrow as pa

        schema = pa.schema([("line", pa.int64()), ("text", pa.large_string())])
        return pa.RecordBatchReader.from_batches(schema, self.line_batches(**kwargs))  # type: ignore[arg-type]

    def _utf8_stream(self) -> IO[bytes]:
        """A binary stream of the content in UTF-8, with ``raw_file`` for progress."""
        raw = self._open_file()
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if self.compression else raw
        if self.encoding != "utf-8":
            text = io.TextIOWrapper(stream, encoding=_codec(self.encoding), errors="replace")
            stream = _EncodeStream(text)
        else:
            stream = _SkipBOM(stream)
        stream.raw_file = raw  # type: ignore[attr-defined]
        return stream


def _codec(encoding: str) -> str:
    # 'utf-16' lets Python consume the BOM itself.
    return "utf-16" if encoding.startswith("utf-16") else encoding


def _decode(data: bytes, encoding: str) -> str:
    if encoding.startswith("utf-16"):
        return data.decode("utf-16", "replace")
    if data.startswith(BOM_UTF8):
        data = data[len(BOM_UTF8) :]
    return data.decode("utf-8", "replace")


class _HashingFile(io.RawIOBase):
    """A raw file that hashes what is read of it, while it is read front to back.

    ``hashlib`` releases the GIL on large updates, so hashing runs alongside DuckDB's work
    on the reader thread instead of costing a pass of its own before the load.
    """

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self._hashed = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        pos = self._inner.tell()
        data = self._inner.read(size)
        if pos == self._hashed and data:
            self._hash.update(data)
            self._hashed += len(data)
        if not data:
            self._eof = True
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def seekable(self) -> bool:
        return True

    def complete(self, size: int) -> bool:
        """Whether every byte of a ``size``-byte file went through the hash, in order."""
        return self._hashed == size

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self._inner.close()
        super().close()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _fingerprint(path: Path, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(size - FINGERPRINT_BYTES)
            h.update(f.read(FINGERPRINT_BYTES))
        elif size > FINGERPRINT_BYTES:
            h.update(f.read())
    return h.hexdigest()


class _SkipBOM(io.RawIOBase):
    """Wrap a binary stream, dropping a leading UTF-8 byte-order mark."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._first = True

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self._inner.read(size)
        if self._first:
            self._first = False
            if data.startswith(BOM_UTF8):
                data = data[len(BOM_UTF8) :]
        return data

    def close(self) -> None:
        self._inner.close()
        super().close()


class _EncodeStream(io.RawIOBase):
    """Wrap a text stream as a binary UTF-8 stream (for UTF-16 input)."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        chunk = self._text.read(size if size and size > 0 else -1)
        return chunk.encode("utf-8")

    def close(self) -> None:
        self._text.close()
        super().close()


def expand_paths(paths: list[str]) -> list[tuple[str, bool]]:
    """Expand directories (recursively, sorted), globs and ``-`` into files.

    Returns ``(path, explicit)`` pairs: ``explicit`` is False for files found by walking a
    directory or matching a glob (an unrecognised one of those is skipped, not an error).

    Raises:
        InputNotFound: a path or glob matched nothing.
    """
    out: list[tuple[str, bool]] = []
    for p in paths:
        if p == "-":
            out.append(("-", True))
            continue
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(os.path.join(root, f) for f in files if not f.startswith("."))
            out.extend((f, False) for f in sorted(found))
            continue
        if os.path.isfile(p):
            out.append((p, True))
            continue
        if glob.has_magic(p):
            matches = sorted(m for m in glob.glob(p, recursive=True) if os.path.isfile(m))
            if matches:
                out.extend((m, False) for m in matches)
                continue
        raise InputNotFound(f"no such file, directory or glob match: {p}")
    return out


def open_source(spec: str) -> Source:
    """Prepare one input (a path or ``-``): spool stdin, hash, detect compression/encoding."""
    temporary = False
    if spec == "-":
        fd, tmp = tempfile.mkstemp(prefix="obsctl-stdin-")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        path = Path(tmp)
        temporary = True
    else:
        path = Path(spec)
    size = path.stat().st_size
    src = Source(display=spec, path=path, size=size, temporary=temporary)
    src.fingerprint = _fingerprint(path, size)
    if size <= HASH_EAGERLY_BYTES:
        src.sha256 = _sha256_file(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        src.compression = "gzip"
    try:
        with src.open_raw() as f:
            raw_head = f.read(HEAD_BYTES)
    except (OSError, EOFError):
        # A corrupt or truncated gzip member: sniff its raw bytes, let the loader fail.
        src.compression = None
        with open(path, "rb") as f:
            raw_head = f.read(HEAD_BYTES)
    src.raw_head = raw_head
    if raw_head.startswith(BOM_UTF16_LE):
        src.encoding = "utf-16-le"
    elif raw_head.startswith(BOM_UTF16_BE):
        src.encoding = "utf-16-be"
    if src.encoding == "utf-8":
        src.head = raw_head[len(BOM_UTF8) :] if raw_head.startswith(BOM_UTF8) else raw_head
    else:
        even = raw_head[: len(raw_head) - len(raw_head) % 2]
        src.head = even.decode("utf-16", "replace").encode("utf-8")
    return src


def close_source(src: Source) -> None:
    """Remove a spooled stdin file."""
    if src.temporary:
        try:
            src.path.unlink()
        except OSError:
            pass
