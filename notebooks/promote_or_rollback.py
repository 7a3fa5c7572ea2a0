# Databricks notebook source
# MAGIC %md
# MAGIC # Promote or roll back the risk model
# MAGIC Compares the registered versions side by side (latest realized and estimated metrics per
# MAGIC version), then, only if `action` says so, moves the `champion` alias. Every alias change is
# MAGIC recorded in `mlhops/model_events` and MLflow. Runbook: `docs/runbooks/model-rollback.md`.
# MAGIC
# MAGIC Parameters: `conf`, `warehouse`, `action` (`compare` (default, changes nothing), `promote`,
# MAGIC `rollback`), `version` (empty = the challenger for promote, the previous champion for
# MAGIC rollback), `reason`.

# COMMAND ----------

import datetime as dt

from mlhops.runtime import notebook_session, param, show

action = param("action", "compare")
version = param("version", "")
reason = param("reason", "")

ctx = notebook_session()

# COMMAND ----------

# MAGIC %md ## Registered versions and aliases

# COMMAND ----------

from mlhops.models import registry
from mlhops.models.task import load_task

name = load_task(ctx.settings).registered_model
for alias in (registry.CHAMPION, registry.CHALLENGER, registry.PREVIOUS_CHAMPION):
    print(f"{alias:>18}: version {registry.alias_version(ctx.tracker, name, alias)}")

# COMMAND ----------

# MAGIC %md ## Side by side: latest metrics per version

# COMMAND ----------

from mlhops.reporting.explore import model_comparison

show(model_comparison(ctx.spark, ctx.catalog, name), f"{name}: latest window per version")

# COMMAND ----------

# MAGIC %md ## Change the champion (only when `action` is promote or rollback)

# COMMAND ----------

from mlhops.pipelines.options import PromoteOptions
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import StageRequest

if action in ("promote", "rollback"):
    options = PromoteOptions(action=action, version=version or None, reason=reason or f"{action} from notebook")
    run_id = f"notebook-{action}-{dt.datetime.utcnow():%Y%m%dT%H%M%S}"
    outcome = run_stage(ctx, "promote", StageRequest(run_id=run_id, force=True, options=options))
    print(outcome.status, outcome.message)
    if outcome.status == "failed":
        raise SystemExit(outcome.message)
else:
    print("action=compare: nothing changed")
