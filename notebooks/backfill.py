# Databricks notebook source
# MAGIC %md
# MAGIC # Backfill a date range
# MAGIC Runs the nightly stages for `[from, to]` (inclusive). Stages already done for the same
# MAGIC window and inputs are skipped unless `force` is `true`; every stage is idempotent, so a
# MAGIC backfill never duplicates rows. Runbook: `docs/runbooks/operations.md#backfill`.
# MAGIC
# MAGIC Parameters: `conf`, `warehouse`, `from`, `to` (YYYY-MM-DD; empty = incremental),
# MAGIC `stages` (comma-separated, empty = all nightly stages), `from_stage`, `force`.

# COMMAND ----------

import datetime as dt
import uuid

from mlhops.pipelines import StageRequest
from mlhops.pipelines.orchestrate import run_stages, select_stages
from mlhops.runtime import notebook_session, param

date_from = param("from", "")
date_to = param("to", "")
stages = [s.strip() for s in param("stages", "").split(",") if s.strip()]
from_stage = param("from_stage", "")
force = param("force", "false").lower() == "true"

ctx = notebook_session()

# COMMAND ----------

start = dt.date.fromisoformat(date_from) if date_from else None
end = dt.date.fromisoformat(date_to) + dt.timedelta(days=1) if date_to else None
run_id = f"backfill-{dt.datetime.utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
selected = select_stages(stages or None, from_stage or None)
print(f"run {run_id}: stages {selected}, window [{start}, {end})")
summary = run_stages(ctx, selected, StageRequest(run_id=run_id, start=start, end=end, force=force))
print(summary.render())
if summary.failed:
    raise SystemExit(f"backfill failed in: {', '.join(summary.failed)}")
