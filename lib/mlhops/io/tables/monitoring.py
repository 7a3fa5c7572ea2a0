"""Tables of the monitoring area: the feature table, the statistics (profile states, metrics and
histogram bins), univariate and multivariate drift results, and the incremental watermarks.

Stages ``features`` (feature table, watermarks), ``stats`` (profiles and univariate drift) and
``drift`` (multivariate drift) write them; reports, alerts and notebooks read them.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct
from mlhops.io.tables.core import STAGE_WATERMARKS

FEATURES = "mlhops.features"
PROFILE_STATES = "mlhops.profile_states"
PROFILE_METRICS = "mlhops.profile_metrics"
PROFILE_BINS = "mlhops.profile_bins"
DRIFT_METRICS = "mlhops.drift_metrics"
MULTIVARIATE_DRIFT = "mlhops.multivariate_drift"
DRIFT_EXPLANATIONS = "mlhops.drift_explanations"

# --- mlhops.features: one row per visit; the columns beyond the keys follow conf/features. ---
FEATURE_KEYS: tuple[str, ...] = ("visit_occurrence_id",)

# --- Profile states: one row per window x slice x feature (day states: granularity "day"). ---
WINDOW_KEYS: tuple[str, ...] = ("granularity", "window_start", "window_end")
SLICE_KEYS: tuple[str, ...] = ("slice", "slice_value", "feature", "kind")
STATE_KEYS: tuple[str, ...] = (*WINDOW_KEYS, "slice", "slice_value", "feature")
# The mergeable values of a state (see mlhops.stats.states).
STATE_VALUE_FIELDS: list[T.StructField] = list(
    struct(
        ("n_rows", T.LongType(), False),
        ("n_null", T.LongType(), False),
        ("n", T.LongType(), False),
        ("mean", T.DoubleType()),
        ("m2", T.DoubleType()),
        ("min", T.DoubleType()),
        ("max", T.DoubleType()),
        ("kll", T.BinaryType()),
        ("hll", T.BinaryType()),
        ("counts", T.MapType(T.StringType(), T.LongType(), False)),
    ).fields
)
# Window, slice and feature of a state (and of its profile metrics).
_STATE_KEY_FIELDS: list[T.StructField] = list(
    struct(
        ("granularity", T.StringType(), False),
        ("window_start", T.DateType(), False),
        ("window_end", T.DateType(), False),
        ("slice", T.StringType(), False),
        ("slice_value", T.StringType(), False),
        ("feature", T.StringType(), False),
        ("kind", T.StringType(), False),
    ).fields
)
STATE_SCHEMA = T.StructType([*_STATE_KEY_FIELDS, *STATE_VALUE_FIELDS])

# --- Profile metrics: projections of the states (same windows and keys). ---
PROFILE_KEYS: tuple[str, ...] = (*WINDOW_KEYS, "slice", "slice_value", "feature")
PROFILE_SCHEMA = T.StructType([*_STATE_KEY_FIELDS, *struct(
    ("n_rows", T.LongType(), False),
    ("n_null", T.LongType(), False),
    ("null_fraction", T.DoubleType()),
    ("n", T.LongType(), False),
    ("mean", T.DoubleType()),
    ("stddev", T.DoubleType()),
    ("min", T.DoubleType()),
    ("max", T.DoubleType()),
    ("quantiles", T.ArrayType(struct(("q", T.DoubleType()), ("value", T.DoubleType())))),
    ("distinct_approx", T.LongType()),
    ("hist_edges", T.ArrayType(T.DoubleType())),
    ("hist_counts", T.ArrayType(T.DoubleType())),
    ("top_k", T.ArrayType(struct(("value", T.StringType()), ("count", T.LongType())))),
).fields])

# --- Histogram bin edges per numeric feature, from the baseline state. ---
BINS_SCHEMA = struct(
    ("feature", T.StringType(), False),
    ("edges", T.ArrayType(T.DoubleType(), False), False),
)

# --- Drift results: one row per detector x feature (set) x window x slice x reference. ---
DRIFT_RESULT_SCHEMA = struct(
    ("detector", T.StringType(), False),
    ("feature", T.StringType(), False),
    ("features", T.ArrayType(T.StringType(), False), False),
    ("granularity", T.StringType(), False),
    ("window_start", T.TimestampType(), False),
    ("window_end", T.TimestampType(), False),
    ("slice", T.StringType(), False),
    ("slice_value", T.StringType(), False),
    ("reference", T.StringType(), False),
    ("statistic", T.DoubleType()),
    ("p_value", T.DoubleType()),
    ("p_value_adjusted", T.DoubleType()),
    ("threshold", T.DoubleType()),
    ("drift", T.BooleanType(), False),
    ("effect_size", T.DoubleType()),
    ("effect_size_name", T.StringType()),
    ("n_reference", T.LongType(), False),
    ("n_current", T.LongType(), False),
    ("status", T.StringType(), False),
    ("extra", T.MapType(T.StringType(), T.DoubleType(), False), False),
)
# Stable key of one result row (MERGE key of the drift tables).
DRIFT_RESULT_KEYS: tuple[str, ...] = (
    "detector",
    "feature",
    "granularity",
    "window_start",
    "slice",
    "slice_value",
    "reference",
)
MULTIVARIATE_DRIFT_SCHEMA = T.StructType(
    [
        *DRIFT_RESULT_SCHEMA.fields,
        *struct(
            ("detector_name", T.StringType(), False),
            ("detector_version", T.StringType(), False),
            ("device", T.StringType(), False),
            ("duration_s", T.DoubleType()),
            ("run_id", T.StringType(), False),
        ).fields,
    ]
)

# --- Explanations of flagged multivariate windows: per feature (method) and per slice value. ---
DRIFT_EXPLANATIONS_SCHEMA = struct(
    ("granularity", T.StringType(), False),
    ("window_start", T.TimestampType(), False),
    ("window_end", T.TimestampType(), False),
    ("slice", T.StringType(), False),
    ("slice_value", T.StringType(), False),
    ("detector", T.StringType(), False),
    ("feature", T.StringType(), False),
    ("method", T.StringType(), False),
    ("score", T.DoubleType()),
    ("share", T.DoubleType()),
    ("rank", T.IntegerType(), False),
    ("p_value", T.DoubleType()),
    ("q_value", T.DoubleType()),
    ("n_reference", T.LongType(), False),
    ("n_current", T.LongType(), False),
    ("detector_version", T.StringType(), False),
    ("run_id", T.StringType(), False),
)
DRIFT_EXPLANATION_KEYS: tuple[str, ...] = (
    "granularity", "window_start", "slice", "slice_value", "detector", "feature", "method",
)

# --- Incremental watermarks: the last Delta version of each source a consumer processed. ---
WATERMARK_SCHEMA = struct(
    ("consumer", T.StringType(), False),
    ("source", T.StringType(), False),
    ("version", T.LongType(), False),
)
WATERMARK_KEYS: tuple[str, ...] = ("consumer", "source")

# Registered drift detectors' reference rows (mlhops.drift.references), erasable like any table.
DETECTOR_REFERENCES = "mlhops.detector_references"
DETECTOR_REFERENCES_SCHEMA = struct(
    ("model_name", T.StringType(), False),
    ("model_version", T.StringType(), False),
    ("slice", T.StringType(), False),
    ("slice_value", T.StringType(), False),
    ("part", T.StringType(), False),
    ("row_index", T.IntegerType(), False),
    ("person_id", T.LongType()),
    ("numeric_values", T.MapType(T.StringType(), T.DoubleType(), True)),
    ("category_values", T.MapType(T.StringType(), T.StringType(), True)),
    ("recorded_at", T.TimestampType(), False),
)
DETECTOR_REFERENCES_SPEC = TableSpec(
    DETECTOR_REFERENCES, DETECTOR_REFERENCES_SCHEMA,
    ("model_name", "model_version", "slice", "slice_value", "part", "row_index"), ("person_id",), "drift",
    "registered drift detectors' reference rows (feature values) and fit persons, per version and slice",
)


TABLES: tuple[TableSpec, ...] = (
    TableSpec(FEATURES, None, FEATURE_KEYS, ("person_id", "visit_occurrence_id"), "features",
              "one row per visit: keys, event date/time, care site and the configured feature columns"),
    TableSpec(PROFILE_STATES, STATE_SCHEMA, STATE_KEYS, (), "stats",
              "mergeable per-window feature states (counts, moments, KLL/HLL sketches, category counts)"),
    TableSpec(PROFILE_METRICS, PROFILE_SCHEMA, PROFILE_KEYS, (), "stats",
              "profile metrics of every window state: null rate, moments, quantiles, histogram, top-k"),
    TableSpec(PROFILE_BINS, BINS_SCHEMA, ("feature",), (), "stats",
              "histogram bin edges per numeric feature, from the baseline state"),
    TableSpec(DRIFT_METRICS, DRIFT_RESULT_SCHEMA, DRIFT_RESULT_KEYS, (), "stats",
              "univariate drift of each window state against the baseline and the previous window"),
    TableSpec(MULTIVARIATE_DRIFT, MULTIVARIATE_DRIFT_SCHEMA, DRIFT_RESULT_KEYS, (), "drift",
              "multivariate drift of sampled windows with the registered detectors"),
    TableSpec(DRIFT_EXPLANATIONS, DRIFT_EXPLANATIONS_SCHEMA, DRIFT_EXPLANATION_KEYS, (), "drift",
              "flagged multivariate windows explained: feature contributions per detector, slice values ranked"),
    TableSpec(STAGE_WATERMARKS, WATERMARK_SCHEMA, WATERMARK_KEYS, (), "features",
              "per consumer stage (features, stats) and source table: the last Delta version processed"),
    DETECTOR_REFERENCES_SPEC,
)
