"""Run the declared checks over the OMOP tables: the tables they read, the fingerprint of that
input, the results per window and their summary.

A failing check is data (status ``fail`` in the results), never an exception. Checks whose
table (or referenced table) is missing are skipped with a warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.frames import union_all
from mlhops.config.stages import QualitySettings
from mlhops.io import Catalog, read_table, table_exists, table_version
from mlhops.io.tables.etl import omop_table
from mlhops.io.tables.operations import QUALITY_RESULTS_SCHEMA
from mlhops.quality.checks import EVENT_DATE, evaluate_table
from mlhops.quality.rules import CheckSpec

logger = logging.getLogger(__name__)

# Read by every run besides the checked tables: person facts (birth, death, gender) and the
# concept domains some checks compare against.
CONTEXT_TABLES = ("person", "death", "concept")
# Digits of the sha256 kept as the stage fingerprint.
FINGERPRINT_CHARS = 24


def tables_read(checks: Sequence[CheckSpec]) -> set[str]:
    """OMOP tables (short names) the checks read."""
    return {c.table for c in checks} | {c.ref_table for c in checks if c.ref_table} | set(CONTEXT_TABLES)


def input_fingerprint(
    spark: SparkSession, catalog: Catalog, checks: Sequence[CheckSpec], quality: QualitySettings
) -> str:
    """Delta versions of every OMOP table the checks read, plus the checks and settings: when
    none changed, the results would be identical."""
    doc = {
        "versions": {t: table_version(spark, catalog, omop_table(t)) for t in sorted(tables_read(checks))},
        "checks": sorted(repr(c) for c in checks),
        "settings": repr(quality),
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:FINGERPRINT_CHARS]


def runnable_checks(checks: Sequence[CheckSpec], present: set[str]) -> dict[str, list[CheckSpec]]:
    """Checks by table, leaving out (with a warning) those whose tables are not ``present``."""
    by_table: dict[str, list[CheckSpec]] = defaultdict(list)
    for c in checks:
        if c.table not in present:
            logger.warning("quality: table %s missing, its checks are skipped", omop_table(c.table))
            continue
        if c.type == "foreign_key" and c.ref_table not in present:
            logger.warning("quality: check %s skipped, %s missing", c.id, omop_table(c.ref_table or ""))
            continue
        if c.type == "concept_domain" and "concept" not in present:
            logger.warning("quality: check %s skipped, %s missing", c.id, omop_table("concept"))
            continue
        by_table[c.table].append(c)
    return by_table


def in_period(df: DataFrame, table: str, start: dt.date | None, end: dt.date | None) -> DataFrame:
    """Rows of an OMOP table whose event date falls in ``[start, end)`` (tables without an event
    date, and open bounds, are not restricted)."""
    date_field = EVENT_DATE.get(table)
    if date_field and start is not None:
        df = df.where(F.col(date_field) >= F.lit(start))
    if date_field and end is not None:
        df = df.where(F.col(date_field) < F.lit(end))
    return df


def evaluate_checks(
    spark: SparkSession,
    frames: Mapping[str, DataFrame],
    checks: Sequence[CheckSpec],
    quality: QualitySettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> DataFrame:
    """Results of every check whose tables are in ``frames`` (one aggregation pass per table).

    Args:
        spark: the session (for an empty result).
        frames: OMOP tables by short name (``person``, ``measurement``...).
        checks: the declared checks.
        quality: window granularity and default threshold.
        start: first day of the windows to compute (None: from the start).
        end: day after the last (None: to the end).
    """
    parts = [
        evaluate_table(table, in_period(frames[table], table, start, end), table_checks, frames,
                       quality.window, quality.default_threshold_pct)
        for table, table_checks in sorted(runnable_checks(checks, set(frames)).items())
    ]
    if not parts:
        return spark.createDataFrame([], QUALITY_RESULTS_SCHEMA)
    return union_all(parts)


def read_inputs(spark: SparkSession, catalog: Catalog, checks: Sequence[CheckSpec]) -> dict[str, DataFrame]:
    """The OMOP tables the checks read that exist, by short name."""
    return {t: read_table(spark, catalog, omop_table(t)) for t in tables_read(checks)
            if table_exists(spark, catalog, omop_table(t))}


def window_predicate(granularity: str, start: dt.date | None, end: dt.date | None) -> str | None:
    """The ``replaceWhere`` predicate of the result windows a run over ``[start, end)`` recomputes;
    None when the run covers every window (the table is replaced)."""
    if start is None and end is None:
        return None
    clauses = [f"granularity = '{granularity}'"]
    if start is not None:
        clauses.append(f"window_start >= DATE'{start.isoformat()}'")
    if end is not None:
        clauses.append(f"window_start < DATE'{end.isoformat()}'")
    return " AND ".join(clauses)


@dataclass(frozen=True)
class Summary:
    """Counts over the results of one run."""

    results: int
    failing: int
    failing_checks: int


def summarize(results: DataFrame) -> Summary:
    """Result rows, failing rows and distinct failing checks (one pass)."""
    row = results.agg(
        F.count(F.lit(1)).alias("results"),
        F.sum(F.when(F.col("status") == "fail", 1).otherwise(0)).alias("failing"),
        F.countDistinct(F.when(F.col("status") == "fail", F.col("check_id"))).alias("failing_checks"),
    ).first()
    return Summary(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))
