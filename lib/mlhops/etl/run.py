"""One ETL run of one source: extract -> shared loader, and the run's summary.

:func:`extract_and_load` parses the input with the source's ``extract`` and loads the batch
(:func:`mlhops.etl.loader.load_batch`); :func:`summarise` turns what was loaded into the
stage's status, metrics (counts, mapping rates, never values) and details; :func:`combine`
adds up the summaries of several exports of one source loaded one after another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyspark.sql import SparkSession

from mlhops.etl.batch import LoadResult, SourceBatch
from mlhops.etl.csv_reader import input_cache
from mlhops.etl.env import EtlEnv
from mlhops.etl.files import InputFile
from mlhops.etl.loader import load_batch
from mlhops.etl.sanitize import safe_file_name
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


def input_file_records(files: Sequence[InputFile]) -> list[dict[str, Any]]:
    """The run record's lineage of its input files: name, size, SHA-256.

    A file name is the input's text (a DICOM file may be named after its patient): it passes
    :func:`~mlhops.etl.sanitize.safe_file_name`, the rule the quarantine's ``source_file`` passes,
    so the two records name a file alike and an unsafe name only by its digest.
    """
    return [{"name": safe_file_name(f.name), "size": f.size, "sha256": f.sha256} for f in files]


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
        "input_files": input_file_records(batch.input_files),
        "filtered": {name: dict(t.filtered) for name, t in cons.tables.items() if t.filtered},
        "mapping": loaded.mapping,
        "quarantine_over_threshold": over,
    }
    message = (
        f"{source} ({batch.layout}): {total_read} rows read, {total_q} quarantined, "
        f"{len(loaded.rows_written)} tables written"
    )
    return Summary("alerts" if over else "ok", message, metrics, details)


def _summed(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise sums of (nested) count dictionaries."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                out[key] = _summed([out.get(key, {}), value])
            else:
                out[key] = out.get(key, 0) + value
    return out


def combine(source: str, summaries: Sequence[Summary]) -> Summary:
    """One summary for exports of ``source`` loaded one after another, in order.

    Counts add up; mapping rates are recomputed from the summed events and mapped events (the
    distinct-code counts are summed per export, so a code seen in two exports counts twice).
    Status is ``alerts`` when any export's quarantined share was over the threshold. The
    per-export details stay under ``details["batches"]``.
    """
    if len(summaries) == 1:
        return summaries[0]
    metrics = _summed([{k: v for k, v in s.metrics.items() if not k.startswith("mapping_rate.")} for s in summaries])
    mapping = _summed([{vocab: {k: v for k, v in m.items() if k != "rate"} for vocab, m in
                        s.details.get("mapping", {}).items()} for s in summaries])
    for vocab, m in mapping.items():
        m["rate"] = float(m.get("mapped", 0)) / m["events"] if m.get("events") else 0.0
        metrics[f"mapping_rate.{vocab}"] = m["rate"]
    filtered = _summed([s.details.get("filtered", {}) for s in summaries])
    layouts = sorted({s.details.get("layout", "") for s in summaries})
    over = sorted({t for s in summaries for t in s.details.get("quarantine_over_threshold", [])})
    details = {
        "source": source,
        "layout": layouts[0] if len(layouts) == 1 else layouts,
        "input": [s.details.get("input") for s in summaries],
        "input_files": [f for s in summaries for f in s.details.get("input_files", [])],
        "filtered": filtered,
        "mapping": mapping,
        "quarantine_over_threshold": over,
        "batches": [s.details for s in summaries],
    }
    message = (
        f"{source} ({', '.join(layouts)}): {len(summaries)} exports, {int(metrics.get('rows_read', 0))} rows read, "
        f"{int(metrics.get('rows_quarantined', 0))} quarantined"
    )
    status: Literal["ok", "alerts"] = "alerts" if any(s.status == "alerts" for s in summaries) else "ok"
    return Summary(status, message, metrics, details)
