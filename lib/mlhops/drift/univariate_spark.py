"""Univariate drift at scale: pair window states with their reference, test on the executors.

Each current window state (``mlhops.profile_states``) is joined with its reference state -
the baseline state of the same slice and feature, or the previous tumbling window's - and the
sketches are read in Spark into small summaries (both quantile functions on a common rank
grid, the baseline bin edges, category counts). A grouped pandas UDF per window x slice x reference then
runs :mod:`mlhops.drift.univariate` and the multiple-testing correction across features. Only
the result rows ever leave the executors.
"""

from __future__ import annotations

import datetime as dt
import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlhops.config.stages import UnivariateDriftSettings
from mlhops.drift import univariate as U
from mlhops.drift.result import DRIFT_RESULT_SCHEMA, DriftResult, to_dataframe

GROUP = ["granularity", "window_start", "window_end", "slice", "slice_value", "reference"]
_REF_COLS = ("n", "mean", "m2", "kll", "counts")
NUMERIC_DETECTORS = ("ks", "wasserstein", "psi", "js", "linf")
CATEGORICAL_DETECTORS = ("chi2", "psi", "js", "linf")


def _grid_ranks() -> Column:
    return F.array(*[F.lit(float(r)) for r in U.GRID_RANKS])


def _summaries(pairs: DataFrame) -> DataFrame:
    """Sketch reads: both quantile functions on the common rank grid (numeric features)."""
    numeric = (F.col("kind") == "numeric") & F.col("kll").isNotNull() & F.col("r_kll").isNotNull()
    return pairs.withColumns(
        {
            "q_cur": F.when(numeric, F.kll_sketch_get_quantile_double("kll", _grid_ranks())),
            "q_ref": F.when(numeric, F.kll_sketch_get_quantile_double("r_kll", _grid_ranks())),
        }
    ).select(
        *GROUP, "feature", "kind", "n", "r_n", "r_mean", "r_m2", "counts", "r_counts", "q_cur", "q_ref", "edges",
    )


def pair_with_baseline(current: DataFrame, baseline: DataFrame, bins: DataFrame) -> DataFrame:
    """Current window states joined with the baseline state of the same slice and feature."""
    ref = baseline.select(
        "slice", "slice_value", "feature", *[F.col(c).alias(f"r_{c}") for c in _REF_COLS]
    )
    pairs = current.join(ref, on=["slice", "slice_value", "feature"], how="inner")
    pairs = pairs.join(F.broadcast(bins.select("feature", "edges")), on="feature", how="left")
    return _summaries(pairs.withColumn("reference", F.lit("baseline")))


def pair_with_previous(current: DataFrame, history: DataFrame, bins: DataFrame) -> DataFrame:
    """Current window states joined with the state of the window just before, same granularity."""
    ref = history.select(
        "granularity",
        F.col("window_end").alias("window_start"),
        "slice",
        "slice_value",
        "feature",
        *[F.col(c).alias(f"r_{c}") for c in _REF_COLS],
    )
    pairs = current.join(ref, on=["granularity", "window_start", "slice", "slice_value", "feature"], how="inner")
    pairs = pairs.join(F.broadcast(bins.select("feature", "edges")), on="feature", how="left")
    return _summaries(pairs.withColumn("reference", F.lit("previous")))


def _test_config(settings: UnivariateDriftSettings) -> dict:  # type: ignore[type-arg]
    return {
        "alpha": settings.alpha,
        "correction": settings.correction,
        "min_samples": settings.min_samples,
        "min_effect": {"ks": settings.min_ks_d, "chi2": settings.min_cramers_v},
        "psi_threshold": settings.psi_threshold,
    }


def test_pairs(pairs: DataFrame, settings: UnivariateDriftSettings) -> DataFrame:
    """Drift results (:data:`DRIFT_RESULT_SCHEMA`) of every paired window state."""
    cfg = _test_config(settings)

    def run(frame: pd.DataFrame) -> pd.DataFrame:
        rows = [r.to_row() for r in evaluate_group(frame, cfg)]
        return pd.DataFrame(rows, columns=DRIFT_RESULT_SCHEMA.fieldNames())

    # Pairs below the minimum sample are not tested: their rows are written in Spark, and only
    # the testable pairs go through Python (a long sparse history is mostly the former).
    small = _below_min_samples(settings.min_samples)
    tested = pairs.where(~small).groupBy(*GROUP).applyInPandas(run, DRIFT_RESULT_SCHEMA)
    return tested.unionByName(insufficient_results(pairs.where(small)))


def _below_min_samples(min_samples: int) -> Column:
    return F.least(F.coalesce(F.col("n"), F.lit(0)), F.coalesce(F.col("r_n"), F.lit(0))) < F.lit(min_samples)


def insufficient_results(pairs: DataFrame) -> DataFrame:
    """The rows :func:`evaluate_group` writes for pairs below the minimum sample, built in
    Spark: one ``insufficient_data`` row per detector of the feature's kind, nothing tested."""
    detectors = F.when(F.col("kind") == "numeric", F.array(*[F.lit(d) for d in NUMERIC_DETECTORS])).otherwise(
        F.array(*[F.lit(d) for d in CATEGORICAL_DETECTORS])
    )
    no_double = F.lit(None).cast("double")
    columns = {
        "detector": F.explode(detectors),
        "feature": F.col("feature"),
        "features": F.array().cast("array<string>"),
        "granularity": F.col("granularity"),
        "window_start": F.col("window_start").cast("timestamp"),
        "window_end": F.col("window_end").cast("timestamp"),
        "slice": F.col("slice"),
        "slice_value": F.col("slice_value"),
        "reference": F.col("reference"),
        "statistic": no_double,
        "p_value": no_double,
        "p_value_adjusted": no_double,
        "threshold": no_double,
        "drift": F.lit(False),
        "effect_size": no_double,
        "effect_size_name": F.lit(None).cast("string"),
        "n_reference": F.coalesce(F.col("r_n"), F.lit(0)).cast("long"),
        "n_current": F.coalesce(F.col("n"), F.lit(0)).cast("long"),
        "status": F.lit("insufficient_data"),
        "extra": F.create_map().cast("map<string,double>"),
    }
    return pairs.select(*[c.alias(name) for name, c in columns.items()])


def test_pairs_on_driver(pairs: DataFrame, settings: UnivariateDriftSettings) -> DataFrame:
    """The results of :func:`test_pairs` for a few windows (a nightly run): the pairs (small
    summaries) are collected through Arrow, as the pandas UDF would receive them, and tested in
    this process with the same :func:`evaluate_group`."""
    cfg = _test_config(settings)
    frame = pairs.toArrow().to_pandas()
    results: list[DriftResult] = []
    for _, group in frame.groupby(GROUP, sort=False, dropna=False):
        results += evaluate_group(group, cfg)
    return to_dataframe(pairs.sparkSession, results)


def _as_ts(value: object) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    assert isinstance(value, dt.date)
    return dt.datetime(value.year, value.month, value.day)


def _counts(value: object) -> dict[str, float]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    items = value.items() if isinstance(value, dict) else value  # arrow maps arrive as pairs
    return {str(k): float(v) for k, v in items}  # type: ignore[union-attr]


def evaluate_group(frame: pd.DataFrame, cfg: dict) -> list[DriftResult]:  # type: ignore[type-arg]
    """All results of one window x slice x reference: per-feature tests, then the correction."""
    pending: list[tuple[U.TestOutcome, dict]] = []  # type: ignore[type-arg]
    results: list[DriftResult] = []
    for rec in frame.to_dict("records"):
        base = {
            "feature": rec["feature"],
            "window_start": _as_ts(rec["window_start"]),
            "window_end": _as_ts(rec["window_end"]),
            "slice": rec["slice"],
            "slice_value": rec["slice_value"],
            "reference": rec["reference"],
            "granularity": rec["granularity"],
            "n_reference": int(rec["r_n"] or 0),
            "n_current": int(rec["n"] or 0),
        }
        outcomes = _feature_outcomes(rec)
        if min(base["n_reference"], base["n_current"]) < cfg["min_samples"] or not outcomes:
            detectors = NUMERIC_DETECTORS if rec["kind"] == "numeric" else CATEGORICAL_DETECTORS
            for det in detectors:
                results.append(DriftResult(detector=det, statistic=None, status="insufficient_data", **base))
            continue
        for o in outcomes:
            pending.append((o, base))
    flags = U.flag_tests(
        [o for o, _ in pending], alpha=cfg["alpha"], correction=cfg["correction"], min_effect=cfg["min_effect"]
    )
    for (o, base), (p_adj, flag) in zip(pending, flags):
        threshold = cfg["alpha"] if o.detector in U.TEST_DETECTORS else None
        if o.detector == "psi":
            threshold = cfg["psi_threshold"]
            flag = bool(o.statistic is not None and o.statistic >= threshold)
        results.append(
            DriftResult(
                detector=o.detector,
                statistic=o.statistic,
                p_value=o.p_value,
                p_value_adjusted=p_adj,
                threshold=threshold,
                drift=flag,
                effect_size=o.effect_size,
                effect_size_name=o.effect_size_name,
                extra=dict(o.extra or {}),
                **base,
            )
        )
    return results


def _feature_outcomes(rec: dict) -> list[U.TestOutcome]:  # type: ignore[type-arg]
    if rec["kind"] in ("categorical", "binary"):
        ref, cur = _counts(rec["r_counts"]), _counts(rec["counts"])
        if not ref or not cur:
            return []
        cats = sorted(set(ref) | set(cur))
        d = U.distances(np.array([ref.get(c, 0.0) for c in cats]), np.array([cur.get(c, 0.0) for c in cats]))
        return [U.chi2_from_counts(ref, cur), *_distance_outcomes(d)]
    q_ref, q_cur = rec.get("q_ref"), rec.get("q_cur")
    if q_ref is None or q_cur is None or len(q_ref) == 0 or len(q_cur) == 0:
        return []
    q_ref, q_cur = np.asarray(q_ref, float), np.asarray(q_cur, float)
    n_ref, n_cur = int(rec["r_n"]), int(rec["n"])
    ref_std = float(np.sqrt(rec["r_m2"] / (n_ref - 1))) if n_ref > 1 and rec["r_m2"] is not None else None
    out = [U.ks_from_quantiles(q_ref, q_cur, n_ref, n_cur), U.wasserstein_from_quantiles(q_ref, q_cur, ref_std)]
    edges = rec.get("edges")
    if edges is not None and len(edges) > 0:
        d = U.distances(U.hist_from_quantiles(q_ref, edges, n_ref), U.hist_from_quantiles(q_cur, edges, n_cur))
        out += _distance_outcomes(d)
    return out


def _distance_outcomes(d: dict[str, float]) -> list[U.TestOutcome]:
    return [U.TestOutcome(name, d[name], None, d[name], name) for name in ("psi", "js", "linf")]
