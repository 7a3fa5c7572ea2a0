"""Source registry: ``--source`` name -> module exposing ``extract``.

Every source module defines::

    def extract(spark: SparkSession, settings: Settings, input_path: str) -> SourceBatch

which parses the raw input under ``input_path`` into a :class:`mlhops.etl.batch.SourceBatch`
(events with ``mlhops.etl.events.EVENT_SCHEMA``, entities with ``mlhops.etl.entities``
schemas, row-level rejects and filtered rows, rows read per source table, input checksums).
The shared loader does the rest. Modules are imported lazily.

Sources whose input already is in the warehouse's shape (an existing OMOP CDM export) or that
feed tables beyond the event tables (the MI-CDM imaging tables: DICOM, ChestX-ray14 metadata,
and the imaging studies of the Synthea CSV and FHIR exports) also define::

    def load(spark: SparkSession, settings: Settings, input_path: str, run_id: str) -> SourceLoad

which writes through the same loader / ``mlhops.io`` / conformance / quarantine / id functions
and returns the loader's :class:`~mlhops.etl.loader.LoadResult` (conservation included). The
``etl`` stage calls ``load`` when a source has one, else ``extract`` and the shared loader.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlhops.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlhops.config.model import Settings
    from mlhops.etl.batch import SourceBatch
    from mlhops.etl.files import InputFile
    from mlhops.etl.loader import LoadResult

# source name -> module path. Owners add their source here (one line each).
SOURCES: dict[str, str] = {
    "synthea-csv": "mlhops.etl.sources.synthea",
    "omop": "mlhops.etl.sources.omop_cdm",
    "dicom": "mlhops.etl.sources.dicom",
    "fhir": "mlhops.etl.sources.fhir",
    "cxr-metadata": "mlhops.etl.sources.cxr",
}

Extract = Callable[["SparkSession", "Settings", str], "SourceBatch"]


@dataclass(frozen=True)
class SourceLoad:
    """What a ``load``-style source wrote: layout, the loader-shaped result, input checksums."""

    layout: str
    result: LoadResult
    input_files: list[InputFile] = field(default_factory=list)


Load = Callable[["SparkSession", "Settings", str, str], SourceLoad]


def get_extractor(name: str) -> Extract:
    """The ``extract`` function of a registered source.

    Raises:
        ConfigError: unknown source name.
    """
    try:
        module = importlib.import_module(SOURCES[name])
    except KeyError:
        raise ConfigError(f"--source {name!r}: unknown source (known: {', '.join(sorted(SOURCES))})") from None
    return module.extract  # type: ignore[no-any-return]


def get_loader(name: str) -> Load | None:
    """The ``load`` function of a registered source that writes its own tables, else None.

    Raises:
        ConfigError: unknown source name.
    """
    try:
        module = importlib.import_module(SOURCES[name])
    except KeyError:
        raise ConfigError(f"--source {name!r}: unknown source (known: {', '.join(sorted(SOURCES))})") from None
    return getattr(module, "load", None)
