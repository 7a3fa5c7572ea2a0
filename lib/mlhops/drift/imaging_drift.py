"""Imaging-metadata drift per window: scanner, protocol and modality mix against a reference.

Each window of image occurrences (``image_occurrence_date``, tumbling windows of the configured
granularity) is compared with the reference period, parameter by parameter:

* categorical parameters (modality, manufacturer, model, body part, view position): Pearson
  chi-squared on the reference-vs-window category counts, a missing value counting as its own
  category (a scanner that stops writing an attribute is a change too); effect size Cramer's V;
* numeric parameters (kVp, exposure, exposure time, slice thickness, pixel spacing, rows,
  columns): two-sample Kolmogorov-Smirnov on the images that carry the parameter; effect
  size KS D.

P-values are corrected across the parameters of a window; a parameter flags drift when its
corrected p-value is below alpha *and* its effect size reaches the configured minimum. A
parameter no image of reference or window carries is not tested; one carried by fewer than
``min_rows`` images on either side, or a window (or reference) of fewer than ``min_rows``
images, gives a result with ``status="insufficient_data"`` and no flag. One summary row per
window (detector ``imaging_metadata``) says how many of the tested parameters drifted.

Results are :class:`~mlhops.drift.result.DriftResult` rows (detector ``imaging_chi2`` or
``imaging_ks``, feature ``imaging.<parameter>``; the summary: detector ``imaging_metadata``,
feature ``imaging``) written to ``mlhops.multivariate_drift`` with ``detector_name``
:data:`DETECTOR_NAME`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from scipy import stats as sps

from mlhops.config.stages import DriftSettings, ImagingDriftSettings, StatsSettings
from mlhops.drift.imaging import (
    DEFAULT_PARAMETERS,
    ImagingFeature,
    ImagingParameter,
    image_metadata_frame,
    imaging_features,
)
from mlhops.drift.result import ALL_SLICE, DriftResult, driver_row
from mlhops.drift.univariate import TestOutcome, chi2_from_counts, flag_tests
from mlhops.io import Catalog, merge_into, read_table, table_exists
from mlhops.io.tables.etl import IMAGE_FEATURE, IMAGE_OCCURRENCE, MEASUREMENT, PROCEDURE_OCCURRENCE
from mlhops.io.tables.monitoring import DRIFT_RESULT_KEYS, MULTIVARIATE_DRIFT, MULTIVARIATE_DRIFT_SCHEMA
from mlhops.windows import date_bounds, with_windows

logger = logging.getLogger(__name__)

DETECTOR_NAME = "imaging-metadata"
DETECTOR_VERSION = "1"
SUMMARY_DETECTOR = "imaging_metadata"
SUMMARY_FEATURE = "imaging"
FEATURE_PREFIX = "imaging."
# Per-parameter detectors are imaging_chi2 / imaging_ks (apart from the registered detectors' ks).
DETECTOR_PREFIX = "imaging_"
MISSING = "(missing)"


@dataclass(frozen=True)
class Period:
    """A reference or current sample: its images (capped) and the images in the period."""

    start: dt.date
    end: dt.date
    rows: pd.DataFrame
    n_total: int


def has_images(spark: SparkSession, catalog: Catalog) -> bool:
    """Whether ``omop.image_occurrence`` and ``omop.image_feature`` exist and hold an image."""
    if not (table_exists(spark, catalog, IMAGE_OCCURRENCE) and table_exists(spark, catalog, IMAGE_FEATURE)):
        return False
    return read_table(spark, catalog, IMAGE_OCCURRENCE).limit(1).count() > 0


def image_frame(spark: SparkSession, catalog: Catalog,
                parameters: Sequence[ImagingParameter] = DEFAULT_PARAMETERS) -> DataFrame:
    """:func:`~mlhops.drift.imaging.image_metadata_frame` of the warehouse's imaging tables."""
    procedures = (read_table(spark, catalog, PROCEDURE_OCCURRENCE)
                  if table_exists(spark, catalog, PROCEDURE_OCCURRENCE) else None)
    return image_metadata_frame(
        read_table(spark, catalog, IMAGE_OCCURRENCE), read_table(spark, catalog, IMAGE_FEATURE),
        read_table(spark, catalog, MEASUREMENT), parameters, procedures,
    )


def _sample(frame: DataFrame, cap: int, seed: int) -> DataFrame:
    """At most ``cap`` rows per window, chosen by a seeded hash of the image id (deterministic)."""
    order = F.xxhash64(F.col("image_occurrence_id"), F.lit(seed))
    rank = F.row_number().over(Window.partitionBy("window_start").orderBy(order, "image_occurrence_id"))
    return frame.withColumn("_rank", rank).where(F.col("_rank") <= cap).drop("_rank")


def reference_bounds(s: ImagingDriftSettings, ds: DriftSettings, stats: StatsSettings,
                     window_starts: Sequence[dt.date]) -> tuple[dt.date, dt.date] | None:
    """Reference ``[start, end)``: ``drift.imaging.reference_*``, else ``drift.reference_*``, else
    ``stats.baseline``, else the first ``reference_windows`` windows that hold images (None
    when there are none)."""
    for start, end in ((s.reference_start, s.reference_end), (ds.reference_start, ds.reference_end),
                       (stats.baseline.start, stats.baseline.end)):
        if start and end:
            return dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))
    starts = sorted(set(window_starts))
    if not starts:
        return None
    last = starts[min(s.reference_windows, len(starts)) - 1]
    return starts[0], date_bounds(last, s.granularity)[1]


def _outcome(feature: ImagingFeature, ref: pd.Series, cur: pd.Series, min_rows: int) -> TestOutcome | None:
    """The test of one parameter; None when neither side carries it, a TestOutcome without a
    p-value when one side has fewer than ``min_rows`` values."""
    if feature.kind == "categorical":
        if ref.isna().all() and cur.isna().all():
            return None
        r = ref.fillna(MISSING).astype(str).value_counts().to_dict()
        c = cur.fillna(MISSING).astype(str).value_counts().to_dict()
        return chi2_from_counts(r, c)
    r_num = pd.to_numeric(ref, errors="coerce").dropna().to_numpy(dtype=float)
    c_num = pd.to_numeric(cur, errors="coerce").dropna().to_numpy(dtype=float)
    if len(r_num) == 0 and len(c_num) == 0:
        return None
    extra = {"n_reference_values": float(len(r_num)), "n_current_values": float(len(c_num))}
    if len(r_num) < min_rows or len(c_num) < min_rows:
        return TestOutcome("ks", None, None, None, "ks_d", extra)
    res = sps.ks_2samp(r_num, c_num, method="asymp")
    return TestOutcome("ks", float(res.statistic), float(res.pvalue), float(res.statistic), "ks_d",
                       {**extra, "reference_median": float(np.median(r_num)), "current_median": float(np.median(c_num))})


def compare(reference: Period, current: Period, s: ImagingDriftSettings,
            features: Sequence[ImagingFeature]) -> list[DriftResult]:
    """Per-parameter results and the window's summary row for one window against the reference.

    Args:
        reference: the reference images.
        current: the window's images.
        s: the imaging drift settings (alpha, correction, minimum effects, min_rows).
        features: the pivoted columns to test (:func:`~mlhops.drift.imaging.imaging_features`).
    """
    common: dict[str, Any] = {
        "window_start": dt.datetime.combine(current.start, dt.time()),
        "window_end": dt.datetime.combine(current.end, dt.time()),
        "n_reference": len(reference.rows), "n_current": len(current.rows), "slice": ALL_SLICE,
        "slice_value": ALL_SLICE, "reference": "baseline", "granularity": s.granularity,
    }
    tested = [f for f in features if f.name in reference.rows.columns and f.name in current.rows.columns]
    too_small = len(reference.rows) < s.min_rows or len(current.rows) < s.min_rows
    outcomes: list[tuple[ImagingFeature, TestOutcome]] = []
    for f in tested:
        o = None if too_small else _outcome(f, reference.rows[f.name], current.rows[f.name], s.min_rows)
        if o is not None or too_small:
            outcomes.append((f, o or TestOutcome("chi2" if f.kind == "categorical" else "ks", None)))
    flags = [(None, False)] * len(outcomes) if too_small else flag_tests(
        [o for _, o in outcomes], alpha=s.alpha, correction=s.correction,
        min_effect={"chi2": s.min_cramers_v, "ks": s.min_ks_d},
    )
    results: list[DriftResult] = []
    for (f, o), (p_adj, drift) in zip(outcomes, flags, strict=True):
        ok = o.p_value is not None
        results.append(DriftResult(
            detector=DETECTOR_PREFIX + o.detector, feature=FEATURE_PREFIX + f.name, statistic=o.statistic,
            p_value=o.p_value, p_value_adjusted=p_adj, threshold=s.alpha, drift=drift, effect_size=o.effect_size,
            effect_size_name=o.effect_size_name, status="ok" if ok else "insufficient_data",
            extra={**(o.extra or {}), "rows_in_window": float(current.n_total),
                   "rows_in_reference": float(reference.n_total)},
            **common,
        ))
    decided = [r for r in results if r.status == "ok"]
    drifted = [r for r in decided if r.drift]
    p_min = min((r.p_value_adjusted for r in decided if r.p_value_adjusted is not None), default=None)
    results.append(DriftResult(
        detector=SUMMARY_DETECTOR, feature=SUMMARY_FEATURE, statistic=float(len(drifted)),
        p_value=p_min, p_value_adjusted=p_min, threshold=s.alpha, drift=bool(drifted),
        effect_size=(len(drifted) / len(decided)) if decided else None,
        effect_size_name="fraction_of_parameters_drifted",
        features=tuple(f.name for f, _ in outcomes), status="ok" if decided else "insufficient_data",
        extra={"parameters_tested": float(len(decided)), "parameters_drifted": float(len(drifted)),
               "rows_in_window": float(current.n_total), "rows_in_reference": float(reference.n_total)},
        **common,
    ))
    return results


def _period(sampled: pd.DataFrame, counts: dict[dt.date, int], start: dt.date, end: dt.date) -> Period:
    rows = sampled[(sampled["window_start"] >= start) & (sampled["window_start"] < end)]
    return Period(start, end, rows.reset_index(drop=True), sum(n for w, n in counts.items() if start <= w < end))


def score_imaging(
    spark: SparkSession, catalog: Catalog, ds: DriftSettings, stats: StatsSettings, *, run_id: str,
    start: dt.date | None = None, end: dt.date | None = None,
    parameters: Sequence[ImagingParameter] = DEFAULT_PARAMETERS,
) -> dict[str, Any]:
    """Score every window overlapping ``[start, end)`` (default: every window after the reference)
    and MERGE the results into ``mlhops.multivariate_drift``.

    Returns:
        ``windows``, ``results``, ``flags`` (windows whose summary flagged), ``insufficient``
        (windows without a decision), ``reference_start``/``reference_end`` (ISO, or None when
        there is no image) and ``seconds``.
    """
    s = ds.imaging
    started = time.perf_counter()
    frame = with_windows(image_frame(spark, catalog, parameters), s.granularity)
    frame = frame.where(F.col("event_date").isNotNull())
    counts = {r["window_start"]: int(r["n"]) for r in frame.groupBy("window_start").agg(F.count(F.lit(1)).alias("n")).collect()}
    bounds = reference_bounds(s, ds, stats, list(counts))
    if bounds is None:
        return {"windows": 0, "results": 0, "flags": 0, "insufficient": 0, "reference_start": None,
                "reference_end": None, "seconds": time.perf_counter() - started}
    ref_start, ref_end = bounds
    lo = start or ref_end
    hi = end or (max(counts) + dt.timedelta(days=1))
    # Windows overlapping [lo, hi) (a nightly week inside a month scores that month), reference excluded.
    windows = sorted(w for w in counts if w < hi and date_bounds(w, s.granularity)[1] > lo
                     and not ref_start <= w < ref_end)
    keep = F.col("window_start").isin(windows) | ((F.col("event_date") >= ref_start) & (F.col("event_date") < ref_end))
    sampled = _sample(frame.where(keep), s.sample_cap, s.seed).toPandas()
    # The reference is one period: cap it as a whole (same hash order as the windows).
    ref_rows = sampled[(sampled["event_date"] >= ref_start) & (sampled["event_date"] < ref_end)]
    ref_rows = ref_rows.assign(_h=pd.util.hash_pandas_object(ref_rows["image_occurrence_id"], index=False).to_numpy())
    ref_rows = ref_rows.sort_values(["_h", "image_occurrence_id"]).head(s.sample_cap).drop(columns="_h")
    n_ref = sum(n for w, n in counts.items() if ref_start <= w < ref_end)
    reference = Period(ref_start, ref_end, ref_rows.reset_index(drop=True), n_ref)
    features = imaging_features(parameters)
    results: list[DriftResult] = []
    for w in windows:
        w_end = date_bounds(w, s.granularity)[1]
        results.extend(compare(reference, _period(sampled, counts, w, w_end), s, features))
    if results:
        _write(spark, catalog, results, run_id, time.perf_counter() - started)
    summaries = [r for r in results if r.detector == SUMMARY_DETECTOR]
    out = {
        "windows": len(windows), "results": len(results), "flags": sum(r.drift for r in summaries),
        "insufficient": sum(r.status == "insufficient_data" for r in summaries),
        "reference_start": ref_start.isoformat(), "reference_end": ref_end.isoformat(),
        "seconds": time.perf_counter() - started,
    }
    logger.info("imaging drift: %d windows against [%s, %s), %d flagged, %d without enough images",
                out["windows"], out["reference_start"], out["reference_end"], out["flags"], out["insufficient"])
    return out


def _write(spark: SparkSession, catalog: Catalog, results: Sequence[DriftResult], run_id: str, seconds: float) -> None:
    rows = []
    for r in results:
        row = driver_row(r)
        row.update({"detector_name": DETECTOR_NAME, "detector_version": DETECTOR_VERSION, "device": "cpu",
                    "duration_s": seconds, "run_id": run_id})
        rows.append(row)
    merge_into(spark.createDataFrame(rows, schema=MULTIVARIATE_DRIFT_SCHEMA), catalog, MULTIVARIATE_DRIFT,
               list(DRIFT_RESULT_KEYS))
