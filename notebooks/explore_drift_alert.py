# Databricks notebook source
# MAGIC %md
# MAGIC # Explore an alert (any kind)
# MAGIC Start here when the nightly job raised an alert. The notebook shows the alert, its runbook
# MAGIC section and what that runbook asks you to look at, read from the platform tables:
# MAGIC - `drift`: the feature's drift over windows, its profile, and its reference-vs-current
# MAGIC   distribution from the stored histograms (`mlhops/profile_metrics`);
# MAGIC - `multivariate_drift`: the detector's statistic and p-value per window and slice
# MAGIC   (`mlhops/multivariate_drift`) and the univariate screens of the same window, largest effect first;
# MAGIC   then the window's explanation (`mlhops/drift_explanations`): the features the detector relied
# MAGIC   on and the slice values ranked by how much of the shift they carry;
# MAGIC - `quality`: the check over windows and the other failing checks of the window;
# MAGIC - `quarantine`: the quarantine reasons of the ETL run (counts, never row values);
# MAGIC - `performance` / `calibration`: the metric per window (realized and CBPE) with intervals,
# MAGIC   its subgroups, and the label-shift / concept-drift detectors;
# MAGIC - `fairness`: the group's gap over windows with its interval, and every reportable group;
# MAGIC - any other kind: the model tables' rows of the alert's window.
# MAGIC
# MAGIC Every alert also shows its own history and the other alerts of its window.
# MAGIC
# MAGIC Parameters: `conf` (environment), `warehouse`, `alert_id` (empty = the latest alert),
# MAGIC `kind` (with no `alert_id`: the latest alert of this kind).

# COMMAND ----------

from mlhops.runtime import notebook_session, param, show

alert_id = param("alert_id", "")
kind = param("kind", "")

run = notebook_session()
spark = run.spark

# COMMAND ----------

# MAGIC %md ## The alert and its runbook

# COMMAND ----------

from mlhops.reporting.explore import alert_view

view = alert_view(spark, run.catalog, alert_id or None, kind or None)
if view is None:
    print(f"No {kind or ''} alert has been raised: nothing to explore.".replace("  ", " "))
else:
    for key in ("kind", "rule_id", "severity", "subject", "window_start", "window_end", "value", "threshold",
                "message", "runbook"):
        print(f"{key:>13}: {view.alert[key]}")
    print()
    print(view.runbook or f"(runbook section {view.alert['runbook']} not found in this checkout)")

# COMMAND ----------

# MAGIC %md ## What the runbook asks to look at

# COMMAND ----------

if view is not None:
    for panel in view.panels:
        show(panel.frame, panel.title)
        if panel.note:
            print(f"   note: {panel.note}")

# COMMAND ----------

# MAGIC %md ## Multivariate drift: which features and which slice carry it

# COMMAND ----------

from mlhops.reporting.drift_sections import read_explanations, window_explanation

if view is not None and view.kind == "multivariate_drift" and view.subject:
    s = view.subject
    features, slices = window_explanation(read_explanations(spark, run.catalog), view.alert["window_start"],
                                          s["detector"], s["slice"], s["slice_value"])
    if features.empty and slices.empty:
        print("This window has no explanation (drift.explain disabled, or the window was scored before it existed).")
    else:
        show(features, f"Features {s['detector']} relied on ({s['slice']}={s['slice_value']}), by method and rank")
        show(slices, f"Slice values ranked by {s['detector']}'s statistic (share: of the whole population's)")
