"""Parse one DICOM file's header into a flat, whitelisted record (runs on Spark executors).

Only the attributes listed in :data:`HEADER_FIELDS` are ever read out of a dataset, so names,
addresses, accession numbers, free-text comments and every other PHI-bearing tag cannot leave
this module. ``patient_id`` is the one identifier kept; the caller hashes it (and drops it)
before anything is written.

Pixel data is never read: pydicom stops before it (``stop_before_pixels``) and large values are
deferred (``defer_size``). Truncation is still detected: every element whose declared length runs
past the end of the file, the pixel data element included, makes the file a quarantine case.
:func:`parse_stream` parses from an open file and its size, so a caller can read only the header
bytes from disk (:mod:`mlhops.etl.sources.dicom_read`); :func:`parse_header` is the same parse of
a whole file's bytes.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

from pyspark.sql import types as T

# Values above this many bytes are not loaded while reading (they are never needed).
DEFER_SIZE_BYTES = 1024
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAG = 0x7FE00010
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
# VRs whose explicit-VR encoding has 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}

STATUS_IMAGE = "image"
STATUS_DICOMDIR = "dicomdir"
STATUS_ERROR = "error"

# Output record: status, reason, then the whitelisted attributes (see HEADER_FIELDS).
HEADER_SCHEMA = T.StructType(
    [
        T.StructField("status", T.StringType(), False),
        T.StructField("reason", T.StringType(), True),
        T.StructField("field", T.StringType(), True),
        T.StructField("patient_id", T.StringType(), True),
        T.StructField("patient_sex", T.StringType(), True),
        T.StructField("patient_birth_date", T.StringType(), True),
        T.StructField("patient_age", T.StringType(), True),
        T.StructField("study_uid", T.StringType(), True),
        T.StructField("series_uid", T.StringType(), True),
        T.StructField("sop_instance_uid", T.StringType(), True),
        T.StructField("sop_class_uid", T.StringType(), True),
        T.StructField("modality", T.StringType(), True),
        T.StructField("body_part", T.StringType(), True),
        T.StructField("view_position", T.StringType(), True),
        T.StructField("study_date", T.StringType(), True),
        T.StructField("study_time", T.StringType(), True),
        T.StructField("series_date", T.StringType(), True),
        T.StructField("series_time", T.StringType(), True),
        T.StructField("acquisition_date", T.StringType(), True),
        T.StructField("acquisition_time", T.StringType(), True),
        T.StructField("content_date", T.StringType(), True),
        T.StructField("content_time", T.StringType(), True),
        T.StructField("manufacturer", T.StringType(), True),
        T.StructField("model", T.StringType(), True),
        T.StructField("rows", T.IntegerType(), True),
        T.StructField("columns", T.IntegerType(), True),
        T.StructField("pixel_spacing_row", T.DoubleType(), True),
        T.StructField("pixel_spacing_col", T.DoubleType(), True),
        # Which attribute the spacing came from: PixelSpacing or ImagerPixelSpacing (keyword).
        T.StructField("pixel_spacing_attribute", T.StringType(), True),
        T.StructField("slice_thickness", T.DoubleType(), True),
        T.StructField("kvp", T.DoubleType(), True),
        T.StructField("exposure", T.DoubleType(), True),
        T.StructField("exposure_time", T.DoubleType(), True),
        T.StructField("transfer_syntax", T.StringType(), True),
        # DICOMDIR only: referenced files, as paths relative to the DICOMDIR's folder.
        T.StructField("referenced_files", T.ArrayType(T.StringType()), True),
    ]
)
HEADER_COLUMNS = HEADER_SCHEMA.fieldNames()

# record field -> DICOM keyword (the whitelist; nothing else is read from a dataset).
HEADER_FIELDS: dict[str, str] = {
    "patient_id": "PatientID",
    "patient_sex": "PatientSex",
    "patient_birth_date": "PatientBirthDate",
    "patient_age": "PatientAge",
    "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "view_position": "ViewPosition",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "series_date": "SeriesDate",
    "series_time": "SeriesTime",
    "acquisition_date": "AcquisitionDate",
    "acquisition_time": "AcquisitionTime",
    "content_date": "ContentDate",
    "content_time": "ContentTime",
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "rows": "Rows",
    "columns": "Columns",
    "slice_thickness": "SliceThickness",
    "kvp": "KVP",
    "exposure": "Exposure",
    "exposure_time": "ExposureTime",
}
# Spacing attributes, in order of preference: the patient-plane spacing, else the detector's.
SPACING_KEYWORDS: tuple[str, ...] = ("PixelSpacing", "ImagerPixelSpacing")
_INT_FIELDS = {"rows", "columns"}
_FLOAT_FIELDS = {"slice_thickness", "kvp", "exposure", "exposure_time"}
# Quoted fragments of exception messages may echo element values: never pass them on.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class SeekableReader(Protocol):
    """What the parser needs of a file: ``read``, ``seek`` and ``tell`` (no ``name``)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


@dataclass(frozen=True)
class _Truncation:
    tag: int
    declared: int
    available: int


def _reason(exc: BaseException) -> str:
    """pydicom's reason for a failure, with any quoted (possibly patient) value removed."""
    return f"{type(exc).__name__}: {_QUOTED.sub('<value>', str(exc))}"[:300]


def _empty(status: str, reason: str | None = None, field: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(HEADER_COLUMNS)
    rec.update(status=status, reason=reason, field=field)
    return rec


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _number(value: Any, as_int: bool) -> float | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):  # multi-valued: first value, as DICOM readers do
        value = value[0] if value else None
        if value is None:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if as_int else number


def _pixel_truncation(
    fp: SeekableReader, pos: int, size: int, implicit_vr: bool, little: bool
) -> _Truncation | None:
    """Check the pixel data element the reader stopped at: does its value fit in the file?

    Reads only that element's header (at most 12 bytes at ``pos``) from ``fp``.
    """
    end = "<" if little else ">"
    if pos + 8 > size:
        return None
    fp.seek(pos)
    head = fp.read(12)
    group, elem = struct.unpack(f"{end}HH", head[0:4])
    if (group << 16 | elem) != PIXEL_DATA_TAG:
        return None
    vr = head[4:6]
    # Some writers encode this one element implicitly despite an explicit transfer syntax
    # (pydicom reads it the same way: "Expected explicit VR, but found implicit VR").
    if implicit_vr or not (vr.isalpha() and vr.isupper()):
        (length,) = struct.unpack(f"{end}I", head[4:8])
        start = pos + 8
    elif vr in _LONG_VRS:
        if pos + 12 > size:
            return _Truncation(PIXEL_DATA_TAG, 12, size - pos)
        (length,) = struct.unpack(f"{end}I", head[8:12])
        start = pos + 12
    else:
        (length,) = struct.unpack(f"{end}H", head[6:8])
        start = pos + 8
    if length != UNDEFINED_LENGTH and start + length > size:
        return _Truncation(PIXEL_DATA_TAG, length, size - start)
    return None


def _element_truncation(ds: Any, size: int) -> _Truncation | None:
    """A not-yet-decoded element whose declared length runs past the end of the file."""
    from pydicom.dataelem import RawDataElement

    for tag, raw in ds._dict.items():  # raw elements keep their file offsets
        if isinstance(raw, RawDataElement) and raw.length != UNDEFINED_LENGTH:
            if raw.value_tell + raw.length > size:
                return _Truncation(int(tag), raw.length, size - raw.value_tell)
    return None


def _dicomdir_files(ds: Any) -> list[str]:
    files: list[str] = []
    for record in ds.get("DirectoryRecordSequence", []):
        ref = record.get("ReferencedFileID")
        if ref is None:
            continue
        parts = [ref] if isinstance(ref, str) else list(ref)
        files.append("/".join(str(p).strip() for p in parts if str(p).strip()))
    return files


def parse_header(data: bytes) -> dict[str, Any]:
    """Parse one file's bytes into a :data:`HEADER_SCHEMA` record; never raises.

    Args:
        data: The whole file (Spark's binaryFile ``content``).

    Returns:
        See :func:`parse_stream` (the same parse, over the bytes in memory).
    """
    return parse_stream(io.BytesIO(data), len(data))


def parse_stream(fp: SeekableReader, size: int) -> dict[str, Any]:
    """Parse one file's header into a :data:`HEADER_SCHEMA` record; never raises.

    Reads from ``fp`` only what pydicom needs up to the Pixel Data element (large values are
    skipped by seeking), plus that element's own header for the truncation check: a file object
    over a large image reads a few kilobytes, not the image.

    Args:
        fp: The file, open for binary reading, seekable, positioned at its start, and without
            a ``name`` (pydicom would re-open a named file by its name for deferred values).
        size: The file's size in bytes (elements running past it are truncation).

    Returns:
        ``status`` ``image`` with the whitelisted attributes, ``dicomdir`` with
        ``referenced_files``, or ``error`` with pydicom's reason (values removed).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            # pydicom warns about odd-but-readable values; their text may echo the value.
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE_BYTES)
            stop_pos = fp.tell()
            implicit_vr, little = ds.original_encoding
            trunc = _element_truncation(ds, size)
            if trunc is None and implicit_vr is not None:
                trunc = _pixel_truncation(fp, stop_pos, size, bool(implicit_vr), little is not False)
            if trunc is not None:
                tag = f"({trunc.tag >> 16:04X},{trunc.tag & 0xFFFF:04X})"
                return _empty(
                    STATUS_ERROR,
                    f"truncated: element {tag} declares {trunc.declared} bytes, "
                    f"{max(trunc.available, 0)} present",
                    tag,
                )
            meta = getattr(ds, "file_meta", None)
            media_class = _text(meta.get("MediaStorageSOPClassUID")) if meta is not None else None
            if media_class == DICOMDIR_SOP_CLASS:
                rec = _empty(STATUS_DICOMDIR)
                rec["referenced_files"] = _dicomdir_files(ds)
                return rec
            rec = _empty(STATUS_IMAGE)
            for name, keyword in HEADER_FIELDS.items():
                value = ds.get(keyword)
                value = value.value if hasattr(value, "value") else value
                if name in _INT_FIELDS or name in _FLOAT_FIELDS:
                    rec[name] = _number(value, name in _INT_FIELDS)
                else:
                    rec[name] = _text(value)
            spacing_keyword = next((k for k in SPACING_KEYWORDS if ds.get(k)), None)
            spacing = ds.get(spacing_keyword) if spacing_keyword else None
            spacing = spacing.value if hasattr(spacing, "value") else spacing
            if spacing is not None:
                rec["pixel_spacing_attribute"] = spacing_keyword
                vals = [spacing] if isinstance(spacing, str | float | int) else list(spacing)
                rec["pixel_spacing_row"] = _number(vals[0], False) if len(vals) > 0 else None
                rec["pixel_spacing_col"] = _number(vals[1], False) if len(vals) > 1 else None
            if meta is not None:
                rec["transfer_syntax"] = _text(meta.get("TransferSyntaxUID"))
            return rec
    except InvalidDicomError as exc:  # fixed pydicom wording, no element values in it
        return _empty(STATUS_ERROR, f"InvalidDicomError: {exc}"[:300])
    except Exception as exc:  # noqa: BLE001 - any parser failure is a quarantine reason
        return _empty(STATUS_ERROR, _reason(exc))
