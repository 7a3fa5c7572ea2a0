"""A source's patient ids -> the natural person keys its ETL hashed into ``mlhops.id_map``.

Each source writes its persons' keys its own way (:mod:`mlhops.etl.sources`): Synthea CSV, FHIR
and DICOM use the patient id as it is (Synthea's ``patients.csv`` ``Id``, the ``Patient``
resource id, the DICOM ``PatientID``); the CXR metadata namespaces it (``nih-cxr14:<id>``); an
OMOP CDM export's ``person_id`` is a key ``omop|person|<id>``. The keys are hashed by the
warehouse's :class:`~mlhops.hashing.KeyedHasher` (kind ``person``) only in :mod:`mlhops.erasure.plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from mlhops.errors import ConfigError
from mlhops.etl.sources import SOURCES
from mlhops.etl.sources.cxr import PERSON_NAMESPACE
from mlhops.etl.sources.omop_cdm_ids import ENTITY_SPACES, KEY_PREFIX

# id_map kind of person keys (every source).
PERSON_KIND = "person"

_PERSON_NAMESPACE_OMOP = ENTITY_SPACES["person"][1]

KEY_OF: dict[str, Callable[[str], str]] = {
    "synthea-csv": lambda i: i,
    "fhir": lambda i: i,
    "dicom": lambda i: i,
    "cxr-metadata": lambda i: f"{PERSON_NAMESPACE}:{i}",
    "omop": lambda i: f"{KEY_PREFIX}|{_PERSON_NAMESPACE_OMOP}|{i}",
}


def person_keys(source: str, ids: Iterable[str]) -> list[str]:
    """The natural person keys of ``ids`` as ``source`` wrote them (distinct, input order).

    Raises:
        ConfigError: a source without a key rule (a new source must add one here).
    """
    if source not in SOURCES:
        raise ConfigError(f"--source {source!r}: unknown source (known: {', '.join(sorted(SOURCES))})")
    if source not in KEY_OF:
        raise ConfigError(f"erasure: no person key rule for source {source!r} (mlhops.erasure.keys.KEY_OF)")
    rule = KEY_OF[source]
    return list(dict.fromkeys(rule(i) for i in ids))


def read_ids(path: str | Path, max_ids: int) -> list[str]:
    """One id per line, as the source wrote it (blank lines and surrounding spaces ignored).

    Raises:
        ConfigError: the file is missing, empty or holds more than ``max_ids`` ids (never
            quoting a line of it).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--ids {p}: no such file")
    ids = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise ConfigError(f"--ids {p}: no ids in the file")
    if len(ids) > max_ids:
        raise ConfigError(f"--ids {p}: {len(ids)} ids, more than erasure.max_ids={max_ids}")
    return ids
