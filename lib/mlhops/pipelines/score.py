"""Stage ``score``: the champion (and challenger, in shadow) score each window into the inference log.

Windows are ``models.window`` tumbling windows over the feature table's ``event_date`` (the
prediction time; weeks start Monday, as the statistics windows); with no ``--start/--end``
every window not yet scored by the version is scored, all in one Spark job per version.
Re-scoring a window inserts nothing new (MERGE on model, version and visit hash); ``--force``
rewrites the windows.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.loader import resolve_salt
from mlhops.config.model import Settings
from mlhops.features.spec import load_feature_specs
from mlhops.io import Catalog, merge_into, read_table, replace_where, table_exists, table_version
from mlhops.models import registry
from mlhops.models.scoring import score, with_subgroups, with_windows
from mlhops.models.tables import INFERENCE_KEYS, INFERENCE_LOG
from mlhops.models.task import load_task
from mlhops.pipelines.base import StageParams, StageResult

logger = logging.getLogger(__name__)
STAGE = "score"
FEATURES_TABLE = "mlhops.features"


def _pending(spark: SparkSession, catalog: Catalog, rows: DataFrame, params: StageParams, name: str,
             version: str) -> tuple[DataFrame, list[dt.date]]:
    """Rows of the windows to score for a version and those windows' starts."""
    if params.start is not None:
        rows = rows.where(F.col("window_start") >= F.lit(params.start))
    if params.end is not None:
        rows = rows.where(F.col("window_start") < F.lit(params.end))
    if params.start is None and not params.force and table_exists(spark, catalog, INFERENCE_LOG):
        done = read_table(spark, catalog, INFERENCE_LOG).where(
            (F.col("model_name") == name) & (F.col("model_version") == version)
        ).select("window_start").distinct()
        rows = rows.join(done, "window_start", "left_anti")
    starts = sorted(r[0] for r in rows.select("window_start").distinct().collect() if r[0] is not None)
    return rows, starts


def run(spark: SparkSession, settings: Settings, params: StageParams) -> StageResult:
    """Score new (or the requested) windows with the champion and, in shadow, the challenger."""
    cfg = settings.models
    catalog = Catalog(settings.warehouse)
    task = load_task(settings)
    salt = resolve_salt(settings)
    aliases = [registry.CHAMPION] + ([registry.CHALLENGER] if cfg.score_challenger else [])
    specs = load_feature_specs(settings)
    visits = read_table(spark, catalog, "omop.visit_occurrence").where(
        F.col("visit_concept_id").isin(list(task.label.index_visit_concept_ids))
    ).select(F.col("visit_occurrence_id").cast("long").alias("_cohort_visit"))
    features = read_table(spark, catalog, FEATURES_TABLE)
    in_cohort = F.col("visit_occurrence_id").cast("long") == F.col("_cohort_visit")
    cohort = features.join(visits, in_cohort).drop("_cohort_visit")
    has_person = table_exists(spark, catalog, "omop.person")
    person = read_table(spark, catalog, "omop.person") if has_person else None
    rows = with_windows(with_subgroups(cohort, specs, cfg.fairness, person), cfg.window)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    n_windows = 0
    versions: dict[str, str] = {}
    for alias in aliases:
        if registry.alias_version(settings, task.registered_model, alias) is None:
            if alias == registry.CHAMPION:
                return StageResult(STAGE, "skipped", f"no {alias} registered for {task.registered_model}")
            continue
        loaded = registry.load(settings, task.registered_model, alias)
        versions[alias] = loaded.version
        pending, starts = _pending(spark, catalog, rows, params, loaded.name, loaded.version)
        if not starts:
            continue
        out = score(spark, pending, loaded, task=task.name, salt=salt, scored_at=scored_at)
        if params.force:
            listed = ", ".join(f"DATE'{s.isoformat()}'" for s in starts)
            pred = (f"model_name = '{loaded.name}' AND model_version = '{loaded.version}' "
                    f"AND window_start IN ({listed})")
            replace_where(out, catalog, INFERENCE_LOG, pred)
        else:
            merge_into(out, catalog, INFERENCE_LOG, list(INFERENCE_KEYS), update=False)
        n_windows += len(starts)
        logger.info("scored %d window(s) with %s version %s", len(starts), loaded.name, loaded.version)
    version = table_version(spark, catalog, INFERENCE_LOG)
    return StageResult(STAGE, "ok", f"scored {n_windows} window(s)", metrics={"windows": float(n_windows)},
                       tables={INFERENCE_LOG: version} if version is not None else {},
                       details={"versions": versions})
