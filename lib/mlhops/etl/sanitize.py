"""Input-derived labels (FHIR resource types, file names, CSV column names, paths) made safe for
run records, MLflow metric names, quarantine reasons and webhook bodies.

Such a string is chosen by whoever wrote the input and may carry a name or an identifier: only a
bounded set of characters and a bounded length pass as they are; any other value (spaces, commas,
``@``, slashes, a run of six or more digits such as a date, phone number or MRN, or a longer
text) is replaced by a short, stable digest of itself, so distinct inputs stay distinct without
their text reaching any record. The same rule runs in Python (:func:`safe_label`) and as a Spark
Column (:func:`safe_label_col`).
"""

from __future__ import annotations

import hashlib
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

# Longest label kept (MLflow metric names allow 250; records stay readable).
MAX_LABEL_LEN = 64
# Hex characters of the digest that replaces an unsafe label.
_DIGEST_HEX = 12
_SAFE = r"^[A-Za-z0-9_.+-]+$"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
# Six or more digits in a row: a date, a phone number, an MRN; no table or file kind needs them.
# (Digits inside a hex digest, such as a content-hash lineage name, do not count.)
_DIGIT_RUN_RE = r"(?<![0-9A-Fa-f])\d{6,}(?![0-9A-Fa-f])"
_DIGIT_RUN = re.compile(_DIGIT_RUN_RE)


def digest_label(value: str, prefix: str = "input") -> str:
    """``<prefix>-<digest>``: names the value without showing it (unkeyed: for labels, not ids)."""
    return f"{prefix}-{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:_DIGEST_HEX]}"


def safe_label(value: object, prefix: str = "input", max_len: int = MAX_LABEL_LEN) -> str:
    """A label for records and metric names: letters, digits, ``_.+-`` only, at most ``max_len``
    characters, no run of six digits; any other value becomes :func:`digest_label` of it."""
    text = "" if value is None else str(value)
    if text and len(text) <= max_len and not _UNSAFE.search(text) and not _DIGIT_RUN.search(text):
        return text
    return digest_label(text, prefix)


def safe_file_name(path: str, max_len: int = MAX_LABEL_LEN) -> str:
    """The last path component as a safe label (directories, which name sites or people, never kept)."""
    name = re.split(r"[\\/]", path.rstrip("/\\"))[-1] if path else ""
    return safe_label(name, prefix="file", max_len=max_len)


def safe_label_col(col: Column, prefix: str = "input", max_len: int = MAX_LABEL_LEN) -> Column:
    """Spark: :func:`safe_label` of a string column (null stays null)."""
    text = col.cast("string")
    safe = (F.length(text) <= max_len) & text.rlike(_SAFE) & ~text.rlike(_DIGIT_RUN_RE)
    digest = F.concat(F.lit(f"{prefix}-"), F.substring(F.sha2(text, 256), 1, _DIGEST_HEX))
    return F.when(text.isNull(), F.lit(None).cast("string")).when(safe, text).otherwise(digest)
