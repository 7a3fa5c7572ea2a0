"""Redaction of free text: what a source carries as text (FHIR ``valueString`` and
``valueCodeableConcept.text``, Synthea survey answers, CDM ``value_as_string``/free
``*_source_value`` columns) keeps its non-identifying words, with every span that matches an
identifier pattern (street address, phone, email, date, MRN-like and SSN-like number) replaced by
:data:`REDACTED`, and every value holding one of its own patient's name or address tokens blanked.

The same patterns run in Python (:func:`redact_text`, for parsers that run on executors) and as
Spark Columns (:func:`redact`): Java and Python read these regular expressions alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

REDACTED = "[redacted]"
# Shorter own-name tokens ("Li", a "Mr" prefix) would blank ordinary text.
MIN_OWN_TOKEN_LEN = 3
_STREET_SUFFIX = (r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
                  r"terrace|ter|circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|alley|row|loop)")
# Identifier patterns, in the order applied (dates before phone numbers: 2020-01-02 is no phone).
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "date": (r"\b\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
             r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
             r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2},? \d{4}\b"
             r"|\b\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]* \d{4}\b"),
    "phone": r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\b\d{3})[\s.-]?\d{3}[\s.-]\d{4}\b",
    "mrn": r"\b(?:mrn|mr#|medical record(?: number| no\.?| #)?|patient id|record (?:number|no\.?))\s*[:#]?\s*[a-z0-9-]{4,}",
    "long_number": r"\b\d{9,}\b",
    "street_address": (r"\b\d{1,6}[a-z]?\s+(?:[a-z0-9.'-]+\s+){0,4}" + _STREET_SUFFIX + r"\b\.?"
                       r"(?:,?\s*(?:apt|apartment|suite|ste|unit|#)\.?\s*[a-z0-9-]+)?"),
}
# Case-insensitive as one expression (Java and Python accept the inline flag at the start).
_COMBINED = "(?i)" + "|".join(f"(?:{p})" for p in PATTERNS.values())
_COMPILED = re.compile(_COMBINED)


# Words of an address line that are not distinctive (they would blank ordinary text).
_COMMON_ADDRESS_WORDS = frozenset(re.findall(r"[a-z]+", _STREET_SUFFIX)) | {"apt", "apartment", "suite", "unit",
                                                                            "north", "south", "east", "west"}


def own_tokens(words_of: Iterable[str | None], whole: Iterable[str | None] = ()) -> list[str]:
    """The distinctive tokens of one patient, lower-cased: each value of ``words_of`` (names,
    address lines) whole and word by word (words of at least :data:`MIN_OWN_TOKEN_LEN` letters,
    street-type words and numbers left out), and each value of ``whole`` (telecom, identifiers)
    as it is."""
    out: set[str] = set()
    for v in words_of:
        if not v:
            continue
        text = str(v).strip().lower()
        if len(text) >= MIN_OWN_TOKEN_LEN:
            out.add(text)
        out.update(w for w in re.findall(r"[^\W_]+", text)
                   if len(w) >= MIN_OWN_TOKEN_LEN and not w.isdigit() and w not in _COMMON_ADDRESS_WORDS)
    out.update(str(v).strip().lower() for v in whole if v and len(str(v).strip()) >= MIN_OWN_TOKEN_LEN)
    return sorted(out)


def redact_text(text: str | None, own: Iterable[str] = ()) -> str | None:
    """``text`` with identifier spans replaced; None when it holds one of the ``own`` tokens
    (a patient's name or address words: the value is dropped, not patched)."""
    if text is None:
        return None
    lowered = text.lower()
    for token in own:
        if re.search(r"(?<![^\W_])" + re.escape(token) + r"(?![^\W_])", lowered):
            return None
    return _COMPILED.sub(REDACTED, text)


def redact(col: Column) -> Column:
    """Spark: ``col`` with identifier spans replaced by :data:`REDACTED` (null stays null)."""
    return F.regexp_replace(col, _COMBINED, REDACTED)


# Event columns that may carry free text.
FREE_TEXT_EVENT_COLUMNS = ("value_as_string", "value_source_value", "stop_reason")


def redact_events(events: DataFrame, columns: Iterable[str] = FREE_TEXT_EVENT_COLUMNS) -> DataFrame:
    """Identifier patterns redacted in the free-text columns of an events frame (others as they are)."""
    present = set(events.columns)
    return events.withColumns({c: redact(F.col(c)) for c in columns if c in present})
