"""Stage ``quality``: declared checks over the OMOP tables -> ``mlhops.quality_results``.

A failing check is data (status ``fail`` in the results), never an exception; the stage status
is ``alerts`` when any check fails. ``params.start``/``end`` restrict the run to the windows of
``[start, end)`` (results of other windows are left as they are); otherwise every window is
recomputed and the table replaced.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.io import Catalog, read_table, replace_where, table_exists, table_version, write_overwrite
from mlhops.pipelines.base import StageParams, StageResult
from mlhops.quality.checks import EVENT_DATE, RESULT_SCHEMA, evaluate_table
from mlhops.quality.rules import CheckSpec, load_checks

logger = logging.getLogger(__name__)

STAGE = "quality"
RESULTS = "mlhops.quality_results"


def evaluate(
    spark: SparkSession, settings: Settings, checks: list[CheckSpec], params: StageParams
) -> DataFrame:
    """Results of all checks whose tables exist (one aggregation pass per table)."""
    cat = Catalog(settings.warehouse)
    needed = {c.table for c in checks} | {c.ref_table for c in checks if c.ref_table} | {"person", "death", "concept"}
    frames = {t: read_table(spark, cat, f"omop.{t}") for t in needed if table_exists(spark, cat, f"omop.{t}")}
    by_table: dict[str, list[CheckSpec]] = defaultdict(list)
    for c in checks:
        if c.table not in frames:
            logger.warning("quality: table omop.%s missing, its checks are skipped", c.table)
            continue
        if c.type == "foreign_key" and c.ref_table not in frames:
            logger.warning("quality: check %s skipped, omop.%s missing", c.id, c.ref_table)
            continue
        if c.type == "concept_domain" and "concept" not in frames:
            logger.warning("quality: check %s skipped, omop.concept missing", c.id)
            continue
        by_table[c.table].append(c)
    parts = []
    for table, table_checks in sorted(by_table.items()):
        df = frames[table]
        date_field = EVENT_DATE.get(table)
        if date_field and params.start is not None:
            df = df.where(F.col(date_field) >= F.lit(params.start))
        if date_field and params.end is not None:
            df = df.where(F.col(date_field) < F.lit(params.end))
        parts.append(
            evaluate_table(
                table, df, table_checks, frames, settings.quality.window, settings.quality.default_threshold_pct
            )
        )
    if not parts:
        return spark.createDataFrame([], RESULT_SCHEMA)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def fingerprint(spark: SparkSession, settings: Settings, params: StageParams) -> str:
    """Delta versions of every OMOP table the checks read, plus the checks and settings: when
    none changed, the orchestrator skips the stage (the results would be identical)."""
    import hashlib
    import json

    cat = Catalog(settings.warehouse)
    checks = load_checks(settings)
    needed = {c.table for c in checks} | {c.ref_table for c in checks if c.ref_table} | {"person", "death", "concept"}
    doc = {
        "versions": {t: table_version(spark, cat, f"omop.{t}") for t in sorted(needed)},
        "checks": sorted(repr(c) for c in checks),
        "settings": repr(settings.quality),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Evaluate the checks and write their per-window results."""
    cat = Catalog(settings.warehouse)
    checks = load_checks(settings)
    results = evaluate(spark, settings, checks, params).cache()
    try:
        if params.start is None and params.end is None:
            write_overwrite(results, cat, RESULTS)
        else:
            g = settings.quality.window
            clauses = [f"granularity = '{g}'"]
            if params.start is not None:
                clauses.append(f"window_start >= DATE'{params.start.isoformat()}'")
            if params.end is not None:
                clauses.append(f"window_start < DATE'{params.end.isoformat()}'")
            replace_where(results.where(" AND ".join(clauses)), cat, RESULTS, " AND ".join(clauses))
        summary = results.agg(
            F.count(F.lit(1)).alias("results"),
            F.sum(F.when(F.col("status") == "fail", 1).otherwise(0)).alias("failing"),
            F.countDistinct(F.when(F.col("status") == "fail", F.col("check_id"))).alias("failing_checks"),
        ).first()
    finally:
        results.unpersist()
    n, failing, failing_checks = (int(summary[0] or 0), int(summary[1] or 0), int(summary[2] or 0))
    status = "alerts" if failing else "ok"
    logger.info("quality: %d results, %d failing (%d checks)", n, failing, failing_checks)
    return StageResult(
        STAGE,
        status,
        f"{failing_checks} of {len(checks)} checks failing in at least one window",
        metrics={"results": float(n), "failing_results": float(failing), "failing_checks": float(failing_checks)},
        tables={RESULTS: int(table_version(spark, cat, RESULTS) or 0)},
    )
