"""Reading a DICOM file by path parses exactly what the whole-file parse does, while reading only
its header bytes from disk (pixel data stays on disk); the hash is still of the whole file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest

from mlhops.etl.sources import dicom_read
from mlhops.etl.sources.dicom_header import parse_header
from mlhops.io import fs
from tests.conftest import shared_path

PIXEL_BYTES = 16 * 1024 * 1024


def _test_files() -> list[Path]:
    return sorted(p for p in shared_path("dicom_pydicom_test_files").rglob("*") if p.is_file())


def _bytes_read(path: Path) -> tuple[dict, int]:
    with open(path, "rb", buffering=0) as fh:
        return dicom_read.read_header(fh)


@pytest.fixture(scope="module")
def large_ct(tmp_path_factory) -> Path:
    """CT_small.dcm with 16 MiB of pixel data (a real header in front of a large image)."""
    ds = pydicom.dcmread(shared_path("dicom_pydicom_test_files", "CT_small.dcm"))
    ds.PixelData = bytes(range(256)) * (PIXEL_BYTES // 256)
    out = tmp_path_factory.mktemp("large") / "large_ct.dcm"
    ds.save_as(out)
    return out


def test_reading_by_path_gives_the_whole_file_parse_and_hash_for_every_test_file():
    files = _test_files()
    assert len(files) == 177
    statuses = set()
    for path in files:
        data = path.read_bytes()
        record, sha = dicom_read.parse_path(str(path))
        assert record == parse_header(data), path.name
        assert sha == hashlib.sha256(data).hexdigest(), path.name
        statuses.add(record["status"])
    # The folder exercises every outcome: images, DICOMDIR indexes, unreadable and truncated files.
    assert statuses == {"image", "dicomdir", "error"}


def test_spark_file_paths_are_opened_as_local_paths(tmp_path):
    folder = tmp_path / "a b%20c#d"
    folder.mkdir()
    src = shared_path("dicom_pydicom_test_files", "CT_small.dcm")
    dst = folder / "CT small?.dcm"
    dst.write_bytes(src.read_bytes())
    # Spark lists local files as Hadoop paths: the scheme in front, nothing percent-encoded.
    assert fs.local_path(f"file:{dst}") == str(dst)
    assert fs.local_path(f"file://{dst}") == str(dst)
    assert fs.local_path(f"file://localhost{dst}") == str(dst)
    assert fs.local_path(str(dst)) == str(dst)
    record, _ = dicom_read.parse_path(f"file:{dst}")
    assert record == parse_header(src.read_bytes())


def test_a_large_image_is_parsed_reading_its_header_not_its_pixel_data(large_ct):
    size = large_ct.stat().st_size
    assert size > PIXEL_BYTES
    record, read = _bytes_read(large_ct)
    assert record == parse_header(large_ct.read_bytes())
    assert record["status"] == "image" and record["modality"] == "CT"
    assert read <= 2 * dicom_read.HEADER_BUFFER_BYTES < size // 100


def test_a_real_file_skips_its_overlay_and_pixel_data():
    # 321,700 bytes: a header, a 1-bit overlay (6000,3000) and the pixel data after it.
    path = shared_path("dicom_pydicom_test_files", "examples_overlay.dcm")
    record, read = _bytes_read(path)
    assert record["status"] == "image"
    assert read <= 2 * dicom_read.HEADER_BUFFER_BYTES < path.stat().st_size // 8


def test_truncated_pixel_data_of_a_large_image_is_still_detected_from_the_header(large_ct, tmp_path):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(large_ct.read_bytes()[: -PIXEL_BYTES // 2])
    record, read = _bytes_read(cut)
    assert record == parse_header(cut.read_bytes())
    assert record["status"] == "error" and record["field"] == "(7FE0,0010)"
    assert record["reason"].startswith(f"truncated: element (7FE0,0010) declares {PIXEL_BYTES} bytes")
    assert read <= 2 * dicom_read.HEADER_BUFFER_BYTES


def test_the_file_hash_covers_the_pixel_data(large_ct, tmp_path):
    changed = tmp_path / "changed.dcm"
    data = bytearray(large_ct.read_bytes())
    data[-1] ^= 0xFF  # one pixel byte differs: same header, different file
    changed.write_bytes(bytes(data))
    (rec_a, sha_a), (rec_b, sha_b) = dicom_read.parse_path(str(large_ct)), dicom_read.parse_path(str(changed))
    assert rec_a == rec_b
    assert sha_a != sha_b and sha_b == hashlib.sha256(bytes(data)).hexdigest()
