# Databricks notebook source
# MAGIC %md
# MAGIC # Compare two windows
# MAGIC Side-by-side profile of every feature in two windows of the same granularity and slice,
# MAGIC sorted by standardized mean difference. Works from the stored profile metrics only.
# MAGIC
# MAGIC Parameters: `conf`, `warehouse`, `granularity` (day/week/month), `window_a`, `window_b`
# MAGIC (window start dates; empty = the two most recent windows), `slice`, `slice_value`.

# COMMAND ----------

import datetime as dt

from pyspark.sql import functions as F

from mlhops.io import read_table
from mlhops.io.tables.monitoring import PROFILE_METRICS
from mlhops.runtime import notebook_session, param, show

granularity = param("granularity", "month")
window_a = param("window_a", "")
window_b = param("window_b", "")
slice_name = param("slice", "all")
slice_value = param("slice_value", "all")

ctx = notebook_session()
spark = ctx.spark

# COMMAND ----------

if not (window_a and window_b):
    starts = [
        r[0] for r in read_table(spark, ctx.catalog, PROFILE_METRICS)
        .where((F.col("granularity") == granularity) & (F.col("slice") == slice_name))
        .select("window_start").distinct().orderBy(F.col("window_start").desc()).limit(2).collect()
    ]
    if len(starts) < 2:
        raise SystemExit(f"fewer than two {granularity} windows profiled yet")
    b, a = starts
else:
    a, b = dt.date.fromisoformat(window_a), dt.date.fromisoformat(window_b)
print(f"comparing {granularity} windows {a} (A) and {b} (B), slice {slice_name}={slice_value}")

# COMMAND ----------

from mlhops.reporting.explore import compare_windows

show(compare_windows(spark, ctx.catalog, granularity, a, b, slice_name, slice_value), "A vs B")
