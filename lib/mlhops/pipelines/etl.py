"""Stage ``etl``: a raw source export -> OMOP CDM v5.4 Delta tables (``mlhops etl``).

``params.source`` picks the source (registry: :mod:`mlhops.etl.sources`), ``params.input`` its
folder (default: ``etl.inputs[source]`` from the configuration).
"""

from __future__ import annotations

import logging
import time

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.errors import ConfigError
from mlhops.etl.csv_reader import input_cache
from mlhops.etl.loader import load_batch
from mlhops.etl.sources import get_extractor, get_loader
from mlhops.pipelines.base import StageParams, StageResult

logger = logging.getLogger(__name__)

STAGE = "etl"
DEFAULT_SOURCE = "synthea-csv"
CSV_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"


def _input_path(settings: Settings, source: str, given: str | None) -> str:
    path = given or settings.etl.inputs.get(source)
    if not path:
        raise ConfigError(f"etl: no --input given and etl.inputs.{source} is not configured")
    if "://" not in path and not path.startswith("/"):
        from pathlib import Path

        p = Path(path)
        repo = Path(__file__).resolve().parents[3]
        path = str((p if p.exists() else repo / p).resolve())
    return path


def _listing(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """(relative path, size, modification time) of every file under ``root`` on any Hadoop FS."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(root)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    if not fs.exists(path):
        raise ConfigError(f"etl: input {root} does not exist")
    base = fs.makeQualified(path).toString().rstrip("/")
    files = []
    it = fs.listFiles(path, True)
    while it.hasNext():
        st = it.next()
        files.append((st.getPath().toString()[len(base):], int(st.getLen()), int(st.getModificationTime())))
    return sorted(files)


def fingerprint(spark: SparkSession, settings: Settings, params: StageParams) -> str:
    """Identity of what an ETL run would read: input and vocabulary files (name, size, mtime), the
    ETL settings and the mlhops version. The same fingerprint for the same window means the run
    would change nothing, so the orchestrator skips it (``--force`` redoes it)."""
    import hashlib
    import json

    from mlhops import __version__

    source = params.source or DEFAULT_SOURCE
    doc = {
        "source": source,
        "input": _listing(spark, _input_path(settings, source, params.input)),
        "vocabulary": _listing(spark, settings.etl.vocabulary_dir),
        "etl": repr(settings.etl),
        "deid": repr(settings.deid),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Extract, map and load one source export; returns counts, mapping rates and versions.

    Status is ``alerts`` when a source table's quarantined share exceeds
    ``etl.max_quarantine_fraction`` (the rows are still accounted for), else ``ok``.
    """
    source = params.source or DEFAULT_SOURCE
    input_path = _input_path(settings, source, params.input)
    started = time.monotonic()
    overrides = {
        "spark.sql.shuffle.partitions": str(settings.etl.shuffle_partitions),
        # CSV column pruning skips the field-count check, so malformed rows would go unnoticed.
        CSV_PRUNING: "false",
    }
    previous = {k: spark.conf.get(k, None) for k in overrides}
    for k, v in overrides.items():
        spark.conf.set(k, v)
    try:
        # Each input file parsed once for the whole run (released at the end).
        with input_cache():
            direct = get_loader(source)
            if direct is not None:  # sources that write their own tables (existing OMOP, DICOM)
                out = direct(spark, settings, input_path, params.run_id)
                layout, input_files, loaded = out.layout, out.input_files, out.result
            else:
                batch = get_extractor(source)(spark, settings, input_path)
                logger.info("etl %s: %s layout, %d source tables", source, batch.layout, len(batch.rows_read))
                layout, input_files = batch.layout, batch.input_files
                loaded = load_batch(spark, settings, batch, params.run_id)
    finally:
        for k, v in previous.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
    cons = loaded.conservation
    assert cons is not None
    metrics: dict[str, float] = dict(cons.metrics())
    for table, n in loaded.rows_written.items():
        metrics[f"rows_written.{table}"] = float(n)
    for vocab, m in loaded.mapping.items():
        metrics[f"mapping_rate.{vocab}"] = m["rate"]
        metrics[f"mapping_events.{vocab}"] = m["events"]
    total_read = sum(t.read for t in cons.tables.values())
    total_q = sum(t.quarantined for t in cons.tables.values())
    metrics["rows_read"] = float(total_read)
    metrics["rows_quarantined"] = float(total_q)
    metrics["duration_s"] = time.monotonic() - started
    over = sorted(
        name for name, t in cons.tables.items()
        if t.read and t.quarantined / t.read > settings.etl.max_quarantine_fraction
    )
    details = {
        "source": source,
        "layout": layout,
        "input": input_path,
        "input_files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in input_files],
        "filtered": {name: dict(t.filtered) for name, t in cons.tables.items() if t.filtered},
        "mapping": loaded.mapping,
        "quarantine_over_threshold": over,
    }
    status = "alerts" if over else "ok"
    message = (
        f"{source} ({layout}): {total_read} rows read, {total_q} quarantined, "
        f"{len(loaded.rows_written)} tables written"
    )
    return StageResult(stage=STAGE, status=status, message=message, metrics=metrics, tables=loaded.tables, details=details)
