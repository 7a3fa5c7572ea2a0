"""Open one listed DICOM file on an executor and read its header without its pixel data.

Spark lists the files (``binaryFile`` with only ``path``/``length`` selected, which never opens
them); the executors then open each path themselves. The parser
(:func:`mlhops.etl.sources.dicom_header.parse_stream`) reads through a buffered, counting file
object, so it pulls only the bytes before the Pixel Data element (7FE0,0010) plus at most one
read buffer: large values are skipped by seeking (``defer_size``) and the pixel data is never
read into memory.

Paths: Spark's ``file:`` URIs and plain paths are opened with ``open()``. Other schemes
(``s3a://``, ``abfss://``, ``dbfs:/``) are opened with fsspec when fsspec can build a file system
for the scheme with default arguments on this machine (its backend installed and importable);
otherwise Hadoop's FileSystem is out of reach of the Python workers and the caller falls back to
``binaryFile``'s ``content`` column (whole files shipped to the worker, as before).

The file's SHA-256 (``mlhops.quarantine``'s ``file_sha256`` key and the run's input lineage) is
of the *whole* file, as before: hashing needs every byte, so :func:`file_sha256` streams the file
through hashlib in fixed-size chunks on the executor. The pixel bytes pass through that one chunk
buffer only; they never become a Spark row, an Arrow batch or a Python ``bytes`` of the file.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any, BinaryIO

from mlhops.etl.sources.dicom_header import parse_stream
from mlhops.io.fs import open_file

# Read-ahead of the header reader: pydicom asks for a few bytes at a time; one buffer of this
# size usually holds a whole header, and it bounds what is read past the Pixel Data tag.
HEADER_BUFFER_BYTES = 16 * 1024
# Chunk of the streamed whole-file hash: memory per file stays this small whatever the file size.
HASH_CHUNK_BYTES = 1 << 20


class CountingReader(io.RawIOBase):
    """A raw binary reader over a seekable file that counts the bytes actually read from it."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer) or 0
        self.bytes_read += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


class _Unnamed:
    """``read``/``seek``/``tell`` of a buffered file, and nothing else.

    pydicom treats an ``io.BufferedReader`` (or any object with a ``name``) as a file it may
    re-open by name for deferred values, which would bypass the counting reader (and fail for
    non-local files); behind this it reads through the given object, as from ``io.BytesIO``.
    """

    __slots__ = ("read", "seek", "tell")
    read: Callable[..., bytes]
    seek: Callable[..., int]
    tell: Callable[[], int]

    def __init__(self, fp: io.BufferedReader) -> None:
        self.read = fp.read
        self.seek = fp.seek
        self.tell = fp.tell


def read_header(raw: BinaryIO) -> tuple[dict[str, Any], int]:
    """Parse a file's header from an open, seekable binary file, reading only its header bytes.

    Returns:
        The :data:`~mlhops.etl.sources.dicom_header.HEADER_SCHEMA` record and the number of
        bytes read from ``raw`` (the header, plus at most one read-ahead buffer).
    """
    size = raw.seek(0, io.SEEK_END)
    raw.seek(0)
    counter = CountingReader(raw)
    buffered = _Unnamed(io.BufferedReader(counter, buffer_size=HEADER_BUFFER_BYTES))
    record = parse_stream(buffered, size)
    return record, counter.bytes_read


def file_sha256(raw: BinaryIO) -> str:
    """SHA-256 of the whole file, streamed in :data:`HASH_CHUNK_BYTES` chunks."""
    raw.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: raw.read(HASH_CHUNK_BYTES), b""):
        digest.update(chunk)
    return digest.hexdigest()


def parse_path(path: str) -> tuple[dict[str, Any], str]:
    """Header record and whole-file SHA-256 of one listed file (runs on the executors)."""
    with open_file(path) as raw:
        record, _ = read_header(raw)
        return record, file_sha256(raw)
