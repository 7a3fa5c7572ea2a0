"""Stage ``features``: OMOP -> ``mlhops.features`` (one row per visit), incrementally.

Incremental runs rebuild only the visits touched by OMOP rows changed since the versions this
stage last processed (:mod:`mlhops.features.incremental`), plus the visits of a requested range
(``--date``/``--from``/``--to``); without a usable feed, or with ``--force``, every visit (of the
range, if one is given) is rebuilt. The watermark moves only when every change was rebuilt.
"""

from __future__ import annotations

import logging

from mlhops.features.build import build_features, required_tables
from mlhops.features.incremental import (
    VISITS,
    missing_omop,
    read_inputs,
    select_visits,
    touched_visits,
    write_features,
)
from mlhops.features.spec import load_feature_specs
from mlhops.io import table_exists, table_version
from mlhops.io.changes import read_watermarks, write_watermarks
from mlhops.io.tables.monitoring import FEATURES
from mlhops.pipelines.context import Context
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult

logger = logging.getLogger(__name__)

NAME = "features"


def run(ctx: Context, req: StageRequest[NoOptions]) -> StageResult:
    """Build or update the feature table."""
    spark, cat = ctx.spark, ctx.catalog
    specs = load_feature_specs(ctx.settings)
    missing = missing_omop(spark, cat)
    if missing:
        return StageResult(NAME, "skipped", f"OMOP tables missing: {', '.join(missing)}")
    inputs = read_inputs(spark, cat, required_tables(specs))
    marks = read_watermarks(spark, cat, NAME)
    incremental = ctx.settings.features.incremental and not req.force and table_exists(spark, cat, FEATURES)
    touched = touched_visits(spark, cat, inputs, marks) if incremental else None
    if touched is not None and touched.empty:
        write_watermarks(spark, cat, NAME, inputs.versions)
        return StageResult(NAME, "ok", "no OMOP changes", metrics={"visits_rebuilt": 0.0})
    visits = select_visits(inputs.frames[VISITS], touched, req.start, req.end)
    rows = build_features({**inputs.frames, VISITS: visits}, specs)
    # Every change since the watermark was rebuilt (incremental: touched plus any range; or a
    # full run over everything): only then may the watermark move. A forced run over a range
    # leaves it, so the next run still sees the changes outside the range.
    covered = touched is not None or (req.start is None and req.end is None)
    n_rows, removed = write_features(spark, cat, rows, visits, touched, remove_deleted=covered)
    if covered:
        write_watermarks(spark, cat, NAME, inputs.versions)
    mode = "incremental" if touched is not None else "full"
    logger.info("features: %s run rebuilt %d visits", mode, n_rows)
    return StageResult(
        NAME,
        "ok",
        f"{mode}: {n_rows} visits rebuilt",
        metrics={"visits_rebuilt": float(n_rows), "visits_removed": float(removed)},
        tables={FEATURES: int(table_version(spark, cat, FEATURES) or 0)},
    )
