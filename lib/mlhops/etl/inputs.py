"""Where an ETL run reads from, and the fingerprint of what it would read.

A source's input is one folder or a list of folders (one export each, loaded in order). The
fingerprint identifies a run's input: the source, the files of every input folder and of the
vocabulary (name, size, modification time), the ``etl`` and ``deid`` settings and the mlhops
version. The same fingerprint for the same window means the run would change nothing, so the
orchestrator skips it (``--force`` redoes it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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


def _absolute(path: str) -> str:
    if "://" not in path and not path.startswith("/"):
        p = Path(path)
        path = str((p if p.exists() else _REPO / p).resolve())
    return path


def input_paths(etl: EtlSettings, source: str, given: str | None) -> list[str]:
    """The input folders of ``source``, in load order: ``[given]``, else ``etl.inputs[source]``
    (one folder or a list of them, e.g. one export per site).

    Raises:
        ConfigError: neither is set.
    """
    configured = etl.inputs.get(source)
    folders = [given] if given else [configured] if isinstance(configured, str) else list(configured or ())
    if not folders:
        raise ConfigError(f"etl: no --input given and etl.inputs.{source} is not configured")
    return [_absolute(f) for f in folders]


def listing(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """(relative path, size, modification time) of every file under ``root`` on any Hadoop FS.

    Raises:
        ConfigError: ``root`` does not exist.
    """
    if not exists(spark, root):
        raise ConfigError(f"etl: input {root} does not exist")
    return list_tree(spark, root)


def fingerprint(spark: SparkSession, etl: EtlSettings, deid: DeidSettings, source: str,
                path: str | Sequence[str]) -> str:
    """Identity of what an ETL run of ``source`` over ``path`` (one folder, or folders loaded in
    this order) would read (see the module doc)."""
    from mlhops import __version__

    paths = [path] if isinstance(path, str) else list(path)
    # One folder keeps the single-folder form, so existing warehouses do not re-run their ETL.
    listed = listing(spark, paths[0]) if len(paths) == 1 else [[p, listing(spark, p)] for p in paths]
    doc = {
        "source": source,
        "input": listed,
        "vocabulary": listing(spark, etl.vocabulary_dir),
        "etl": repr(etl),
        "deid": repr(deid),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:FINGERPRINT_HEX]
