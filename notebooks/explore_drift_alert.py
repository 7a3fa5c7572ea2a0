# Databricks notebook source
# MAGIC %md
# MAGIC # Explore a drift alert
# MAGIC Start here when the nightly job raised a `drift` or `multivariate_drift` alert.
# MAGIC The notebook shows the alert, the drift results of its feature over time and the feature's
# MAGIC profile (count, nulls, mean, spread) per window, so you can tell a feed problem (nulls jump,
# MAGIC unit change) from a population change. Runbook: `docs/runbooks/drift.md`.
# MAGIC
# MAGIC Parameters: `conf` (environment), `warehouse`, `alert_id` (empty = the latest drift alert).

# COMMAND ----------

from mlhops.runtime import notebook_session, param, show

alert_id = param("alert_id", "")

run = notebook_session()
spark = run.spark

# COMMAND ----------

# MAGIC %md ## The alert

# COMMAND ----------

from mlhops.reporting.explore import drift_alert_context

ctx = drift_alert_context(spark, run.catalog, alert_id or None)
if ctx is None:
    print("No drift alert has been raised: nothing to explore.")
else:
    for key in ("rule_id", "severity", "subject", "window_start", "window_end", "message", "runbook"):
        print(f"{key:>13}: {ctx.alert[key]}")

# COMMAND ----------

# MAGIC %md ## Drift of the feature over time (every test, slice and reference)

# COMMAND ----------

if ctx is not None:
    show(ctx.history, f"drift results for {ctx.feature}")

# COMMAND ----------

# MAGIC %md ## Profile of the feature per window (whole population)
# MAGIC A jump in `null_fraction` points to a feed or site problem; a shift of `mean` with stable
# MAGIC nulls to a unit/calibration change or a real population change.

# COMMAND ----------

if ctx is not None:
    show(ctx.profile, f"profile of {ctx.feature}")
