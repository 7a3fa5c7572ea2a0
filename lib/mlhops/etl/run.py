"""One ETL run of one source: extract -> shared loader, and the run's summary.

:func:`extract_and_load` parses the input with the source's ``extract`` and loads the batch
(:func:`mlhops.etl.loader.load_batch`); :func:`summarise` turns what was loaded into the
stage's status, metrics (counts, mapping rates, never values) and details.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from pyspark.sql import SparkSession

from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.csv_reader import input_cache
from mlhops.etl.env import EtlEnv
from mlhops.etl.loader import load_batch
from mlhops.etl.sources import get_extractor
from mlhops.spark import spark_conf

logger = logging.getLogger(__name__)

CSV_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"


def extract_and_load(spark: SparkSession, env: EtlEnv, source: str, path: str, run_id: str) -> tuple[SourceBatch, LoadResult]:
    """Parse ``path`` with ``source``'s ``extract`` and load the batch.

    Raises:
        ConfigError: unknown source.
        DataQualityError: the input is not the source's format, or conservation does not balance.
    """
    overrides = {
        "spark.sql.shuffle.partitions": str(env.etl.shuffle_partitions),
        # CSV column pruning skips the field-count check, so malformed rows would go unnoticed.
        CSV_PRUNING: "false",
    }
    # Each input file parsed once for the whole run (released at the end).
    with spark_conf(spark, overrides), input_cache():
        batch = get_extractor(source)(spark, env, path)
        logger.info("etl %s: %s layout, %d source tables", source, batch.layout, len(batch.rows_read))
        return batch, load_batch(spark, env, batch, run_id)


@dataclass(frozen=True)
class Summary:
    """The stage-facing outcome of a run."""

    status: Literal["ok", "alerts"]  # alerts: a table's quarantined share is over the threshold
    message: str
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def summarise(source: str, path: str, batch: SourceBatch, loaded: LoadResult, max_quarantine_fraction: float) -> Summary:
    """Counts, mapping rates and lineage of a run; ``alerts`` when a source table's quarantined
    share exceeds ``max_quarantine_fraction`` (its rows are still accounted for)."""
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
    over = sorted(
        name for name, t in cons.tables.items() if t.read and t.quarantined / t.read > max_quarantine_fraction
    )
    details = {
        "source": source,
        "layout": batch.layout,
        "input": path,
        "input_files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in batch.input_files],
        "filtered": {name: dict(t.filtered) for name, t in cons.tables.items() if t.filtered},
        "mapping": loaded.mapping,
        "quarantine_over_threshold": over,
    }
    message = (
        f"{source} ({batch.layout}): {total_read} rows read, {total_q} quarantined, "
        f"{len(loaded.rows_written)} tables written"
    )
    return Summary("alerts" if over else "ok", message, metrics, details)
