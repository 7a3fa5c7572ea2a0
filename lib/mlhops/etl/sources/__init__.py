"""Source registry: ``--source`` name -> module exposing ``extract``.

Every source module defines::

    def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch

which parses the raw input under ``input_path`` into a :class:`mlhops.etl.batch.SourceBatch`
(events with ``mlhops.etl.events.EVENT_SCHEMA``, entities with ``mlhops.etl.entities``
schemas, row-level rejects and filtered rows, rows read per source table, input checksums, and
the optional parts: image instances or EHR imaging series, an existing CDM export's typed
tables). The shared loader (:func:`mlhops.etl.loader.load_batch`) does the rest; no source
writes a table. Modules are imported lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlhops.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlhops.etl.batch import SourceBatch
    from mlhops.etl.env import EtlEnv

# source name -> module path. Owners add their source here (one line each).
SOURCES: dict[str, str] = {
    "synthea-csv": "mlhops.etl.sources.synthea",
    "omop": "mlhops.etl.sources.omop_cdm",
    "dicom": "mlhops.etl.sources.dicom",
    "fhir": "mlhops.etl.sources.fhir",
    "cxr-metadata": "mlhops.etl.sources.cxr",
}

Extract = Callable[["SparkSession", "EtlEnv", str], "SourceBatch"]


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
