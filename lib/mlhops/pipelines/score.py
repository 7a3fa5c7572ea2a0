"""Stage ``score``: the champion (and challenger, in shadow) score each window into the inference log.

Windows are ``models.window`` tumbling windows over the feature table's ``event_date`` (the
prediction time; weeks start Monday, as the statistics windows). Every visit not yet scored by
the version is scored, all in one Spark job per version, including late visits of a window
scored on an earlier night; ``--date``/``--from``/``--to`` limit the run to the windows
overlapping those days. Re-scoring inserts nothing new (MERGE on model, version and visit hash);
``--force`` rewrites the windows.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.features.spec import load_feature_specs
from mlhops.io import merge_into, read_table, replace_where, table_exists, table_version
from mlhops.io.tables.etl import PERSON, VISIT_OCCURRENCE
from mlhops.io.tables.models import INFERENCE_LOG, INFERENCE_LOG_SPEC
from mlhops.io.tables.monitoring import FEATURES
from mlhops.models import registry
from mlhops.models.scoring import pending_windows, score, scoring_rows, windows_predicate
from mlhops.models.task import load_task
from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult

logger = logging.getLogger(__name__)
STAGE = "score"


def _scored(ctx: Context, req: StageRequest[NoOptions], loaded: registry.LoadedModel) -> DataFrame | None:
    """Visits the version already scored (None when every requested visit is to be (re)scored)."""
    if req.force or not table_exists(ctx.spark, ctx.catalog, INFERENCE_LOG):
        return None
    log = read_table(ctx.spark, ctx.catalog, INFERENCE_LOG)
    return log.where((F.col("model_name") == loaded.name) & (F.col("model_version") == loaded.version)
                     ).select("visit_hash")


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Score new (or the requested) windows with the champion and, in shadow, the challenger."""
    spark, catalog, cfg = ctx.spark, ctx.catalog, ctx.settings.models
    task = load_task(ctx.settings)
    person = read_table(spark, catalog, PERSON) if table_exists(spark, catalog, PERSON) else None
    rows = scoring_rows(read_table(spark, catalog, FEATURES), read_table(spark, catalog, VISIT_OCCURRENCE),
                        person, task, load_feature_specs(ctx.settings), cfg)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    n_windows = 0
    versions: dict[str, str] = {}
    for alias in [registry.CHAMPION] + ([registry.CHALLENGER] if cfg.score_challenger else []):
        if registry.alias_version(ctx.tracker, task.registered_model, alias) is None:
            if alias == registry.CHAMPION:
                return StageResult(STAGE, "skipped", f"no {alias} registered for {task.registered_model}")
            continue
        loaded = registry.load(ctx.tracker, task.registered_model, alias)
        versions[alias] = loaded.version
        pending, starts = pending_windows(rows, _scored(ctx, req, loaded), req.start, req.end, ctx.hasher)
        if not starts:
            continue
        out = score(spark, pending, loaded, task=task.name, hasher=ctx.hasher, scored_at=scored_at)
        if req.force:
            replace_where(out, catalog, INFERENCE_LOG, windows_predicate(loaded, starts))
        else:
            merge_into(out, catalog, INFERENCE_LOG, list(INFERENCE_LOG_SPEC.keys), update=False,
                       bound_by="model_version", bounds=(loaded.version, loaded.version))
        n_windows += len(starts)
        logger.info("scored %d window(s) with %s version %s", len(starts), loaded.name, loaded.version)
    version = table_version(spark, catalog, INFERENCE_LOG)
    return StageResult(STAGE, "ok", f"scored {n_windows} window(s)", metrics={"windows": float(n_windows)},
                       tables={INFERENCE_LOG: version} if version is not None else {},
                       details={"versions": versions})
