"""Carry out an erasure plan: delete the rows, purge old file versions, flag trained versions.

**Purge.** A Delta DELETE only writes a new version: the removed rows stay in the data files of
older versions (time travel) and in change-data files until VACUUM deletes files removed longer
ago than the retention. The erasure vacuums every table it changed with
``erasure.vacuum_retention_hours`` (default 0: at once). Below Delta's 7-day safety retention,
Delta refuses unless ``spark.databricks.delta.retentionDurationCheck.enabled`` is false: the
erasure turns that check off for its own VACUUM calls only and restores the previous value after,
deliberately (a reader still pinned to an older version of a vacuumed table fails and must re-run;
the writer lease keeps the platform's own writers out meanwhile). Files carrying deletion vectors
are rewritten first (``REORG ... APPLY (PURGE)``) so no file holding an erased row stays referenced.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import SparkSession

from mlhops.erasure.plan import ErasurePlan, Flag, TableDeletion
from mlhops.io import Catalog, read_table
from mlhops.io.delta import delta_table
from mlhops.io.tables.models import MODEL_TRIGGERS_SPEC
from mlhops.models.outputs import merge_rows

logger = logging.getLogger(__name__)

# Delta's guard against VACUUM below the default retention (7 days).
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# Delta's default retention; at or above it the safety check needs no override.
DELTA_DEFAULT_RETENTION_HOURS = 168.0
# Tag on every flagged registered version (value: the erasure id).
RETRAIN_TAG = "mlhops.erasure_retrain_required"
TRIGGER_KIND = "erasure"


def delete_rows(spark: SparkSession, catalog: Catalog, deletions: Sequence[TableDeletion],
                check: Callable[[], None] = lambda: None) -> dict[str, int]:
    """Delete each table's planned rows (one Delta commit per table that has any).

    Args:
        spark: the session.
        catalog: table locations.
        deletions: the plan's deletions.
        check: called before each table (the writer lease's ``check``: stop if it was lost).

    Returns:
        Rows deleted per table (tables with none left out).
    """
    counts: dict[str, int] = {}
    for d in deletions:
        check()
        n = read_table(spark, catalog, d.table).where(d.condition).count()
        if not n:
            continue
        delta_table(spark, catalog, d.table).delete(d.condition)
        counts[d.table] = n
        logger.info("erasure: deleted %d rows from %s", n, d.table)
    return counts


def _has_deletion_vectors(spark: SparkSession, catalog: Catalog, name: str) -> bool:
    props = delta_table(spark, catalog, name).detail().select("properties").first()
    return bool(props and str((props["properties"] or {}).get("delta.enableDeletionVectors", "")).lower() == "true")


def purge(spark: SparkSession, catalog: Catalog, tables: Sequence[str], retention_hours: float) -> None:
    """VACUUM ``tables`` (data and change-data files) with ``retention_hours`` (module docstring)."""
    override = retention_hours < DELTA_DEFAULT_RETENTION_HOURS
    previous = spark.conf.get(RETENTION_CHECK, "true")
    if override:
        logger.warning("erasure: VACUUM below Delta's default retention (%.1f h): retention check off for "
                       "the erasure's VACUUM only", retention_hours)
        spark.conf.set(RETENTION_CHECK, "false")
    try:
        for name in tables:
            if _has_deletion_vectors(spark, catalog, name):
                spark.sql(f"REORG TABLE {catalog.sql_ref(name)} APPLY (PURGE)")
            delta_table(spark, catalog, name).vacuum(retention_hours)
            logger.info("erasure: vacuumed %s (retention %.1f h)", name, retention_hours)
    finally:
        if override:
            spark.conf.set(RETENTION_CHECK, previous)


def flag_versions(spark: SparkSession, catalog: Catalog, client: Any, flags: Sequence[Flag], *, erasure_id: str,
                  today: dt.date) -> list[str]:
    """Tag each version for retraining and add a ``retrain`` trigger row the nightly acts on.

    The trigger (``mlhops.model_triggers``, kind ``erasure``) is what the train stage reads for
    the champion (:func:`mlhops.models.lifecycle.retrain_requested`); a drift detector version
    is re-fitted with ``mlhops drift fit`` (the runbook). Returns ``model@version`` of each.
    """
    rows = []
    for f in flags:
        client.set_model_version_tag(f.model_name, f.version, RETRAIN_TAG, erasure_id)
        reason = f"trained on {f.n_persons} erased person(s) (erasure {erasure_id})"
        action = "refit" if f.kind == "drift" else "retrain"
        rows.append({"model_name": f.model_name, "model_version": f.version, "window_start": today,
                     "window_end": today + dt.timedelta(days=1), "kind": TRIGGER_KIND, "action": action,
                     "reason": reason, "labels_as_of": None, "detector": None, "feature": None,
                     "evidence_start": None, "evidence_end": None, "evidence_windows": None,
                     "effect_size": None})
    if rows:
        merge_rows(spark, catalog, MODEL_TRIGGERS_SPEC, rows)
    return [f"{f.model_name}@{f.version}" for f in flags]


def apply_plan(spark: SparkSession, catalog: Catalog, client: Any, plan: ErasurePlan, *, erasure_id: str,
               retention_hours: float, check: Callable[[], None] = lambda: None) -> tuple[dict[str, int], list[str]]:
    """Delete, purge and flag. Returns rows deleted per table and the flagged versions."""
    counts = delete_rows(spark, catalog, plan.deletions, check)
    check()
    purge(spark, catalog, sorted(counts), retention_hours)
    flagged = flag_versions(spark, catalog, client, plan.flags, erasure_id=erasure_id,
                            today=dt.datetime.now(dt.timezone.utc).date())
    return counts, flagged
