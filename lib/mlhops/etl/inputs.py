"""Where an ETL run reads from, and the fingerprint of what it would read.

The fingerprint identifies a run's input: the source, the input and vocabulary files (name,
size, modification time), the ``etl`` and ``deid`` settings and the mlhops version. The same
fingerprint for the same window means the run would change nothing, so the orchestrator skips
it (``--force`` redoes it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pyspark.sql import SparkSession

from mlhops.config.model import DeidSettings, EtlSettings
from mlhops.errors import ConfigError
from mlhops.io.fs import exists, list_tree

DEFAULT_SOURCE = "synthea-csv"
# Hex characters kept of the fingerprint's SHA-256.
FINGERPRINT_HEX = 24
# The repository root: relative input paths that do not exist from the working directory are
# resolved against it (``data/...`` in the configuration).
_REPO = Path(__file__).resolve().parents[3]


def input_path(etl: EtlSettings, source: str, given: str | None) -> str:
    """The input folder of ``source``: ``given``, else ``etl.inputs[source]``.

    Raises:
        ConfigError: neither is set.
    """
    path = given or etl.inputs.get(source)
    if not path:
        raise ConfigError(f"etl: no --input given and etl.inputs.{source} is not configured")
    if "://" not in path and not path.startswith("/"):
        p = Path(path)
        path = str((p if p.exists() else _REPO / p).resolve())
    return path


def listing(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """(relative path, size, modification time) of every file under ``root`` on any Hadoop FS.

    Raises:
        ConfigError: ``root`` does not exist.
    """
    if not exists(spark, root):
        raise ConfigError(f"etl: input {root} does not exist")
    return list_tree(spark, root)


def fingerprint(spark: SparkSession, etl: EtlSettings, deid: DeidSettings, source: str, path: str) -> str:
    """Identity of what an ETL run of ``source`` over ``path`` would read (see the module doc)."""
    from mlhops import __version__

    doc = {
        "source": source,
        "input": listing(spark, path),
        "vocabulary": listing(spark, etl.vocabulary_dir),
        "etl": repr(etl),
        "deid": repr(deid),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:FINGERPRINT_HEX]
