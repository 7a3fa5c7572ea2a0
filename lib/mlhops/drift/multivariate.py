"""Fit and run the registered multivariate drift detectors over feature-table windows.

``fit_detectors`` splits the reference period's rows by key into a fit part and a disjoint
reference part, fits the preprocessing and VAE on a sample of the fit part, builds one suite per
slice value on samples of the reference part (all sharing that preprocessing and VAE), and
registers them in MLflow.
``score_windows`` loads the version behind the configured alias, samples each window and slice
value, and writes one row per window, slice value and detector to ``mlhops.multivariate_drift``.
Flagged windows are explained (features and slice values that carry the shift,
:mod:`mlhops.drift.explain`) into ``mlhops.drift_explanations``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from mlhops.drift.detectors import FIT_SHARE, DetectorSuite, SuiteConfig, fit_suite
from mlhops.drift.explain import ExplainConfig, explain_features, localise
from mlhops.drift.references import PERSON_COLUMN
from mlhops.drift.result import ALL_SLICE, DriftResult, driver_row
from mlhops.drift.sampling import collect_sample, in_window, sample_rows, split_by_key
from mlhops.errors import ConfigError
from mlhops.io import Catalog, merge_into, read_table, table_version
from mlhops.io.tables.monitoring import (
    DRIFT_EXPLANATIONS, DRIFT_EXPLANATIONS_SCHEMA, DRIFT_RESULT_KEYS, FEATURES, MULTIVARIATE_DRIFT,
    MULTIVARIATE_DRIFT_SCHEMA,
)
from mlhops.windows import window_bounds

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from mlhops.config.stages import BaselineSettings, DriftSettings, SliceSettings
    from mlhops.drift.registry import RegisteredSuites
    from mlhops.features.spec import FeatureSpec

logger = logging.getLogger(__name__)

# Marks collected rows as fit sample or detector reference (dropped before fitting).
_PART = "_mlhops_part"
# Fewest rows the preprocessing and VAE are fitted on (a small baseline gives the rest to x_ref).
MIN_FIT_ROWS = 50
# Fewest reference rows a flagged slice value is explained with (fewer: logged, not explained).
MIN_EXPLAIN_ROWS = 50
# Numeric columns of an explanation row (NaN or inf written as null).
_NUMBERS = ("score", "share", "p_value", "q_value")


def suite_config(ds: DriftSettings) -> SuiteConfig:
    """The detector part of the drift settings."""
    return SuiteConfig(
        detectors=tuple(ds.detectors), alpha=ds.alpha, n_permutations=ds.n_permutations,
        mmd_permutation=ds.mmd_permutation,  # type: ignore[arg-type]
        latent_dim=ds.latent_dim, hidden_dim=ds.hidden_dim, vae_epochs=ds.vae_epochs,
        vae_batch_size=ds.vae_batch_size, vae_learning_rate=ds.vae_learning_rate, vae_beta=ds.vae_beta,
        classifier_hidden=ds.classifier_hidden, classifier_epochs=ds.classifier_epochs,
        classifier_folds=ds.classifier_folds, seed=ds.seed, device=ds.device,
    )


def drift_features(specs: Sequence[FeatureSpec], ds: DriftSettings) -> list[FeatureSpec]:
    """Feature specs the detectors use (``drift.features`` filters ``conf/features``)."""
    wanted = list(ds.features)
    if not wanted:
        return list(specs)
    by_name = {s.name: s for s in specs}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise ConfigError(f"drift.features: unknown features {unknown}")
    return [by_name[w] for w in wanted]


def drift_slices(ds: DriftSettings, defined: Sequence[SliceSettings]) -> list[SliceSettings]:
    """``drift.slices`` resolved against the slice definitions of ``stats.slices`` (``defined``)."""
    by_name = {s.name: s for s in defined}
    unknown = [n for n in ds.slices if n not in by_name]
    if unknown:
        raise ConfigError(f"drift.slices: {unknown} not defined in stats.slices")
    return [by_name[n] for n in ds.slices]


def reference_period(ds: DriftSettings, baseline: BaselineSettings) -> tuple[dt.date, dt.date]:
    """Reference ``[start, end)``: ``drift.reference_*`` or else ``stats.baseline``."""
    start = ds.reference_start or baseline.start
    end = ds.reference_end or baseline.end
    if not start or not end:
        raise ConfigError("drift: set drift.reference_start/end or stats.baseline.start/end")
    return dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))


def group_samples(sample: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Split a collected sample into one frame per ``(slice, slice_value)``."""
    return {(str(k[0]), str(k[1])): g.reset_index(drop=True) for k, g in sample.groupby(["slice", "slice_value"], sort=True)}


def ensure_reference_rows(
    reference: pd.DataFrame, fit_sample: pd.DataFrame, min_rows: int, min_fit_rows: int = MIN_FIT_ROWS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give the detectors' reference at least ``min_rows`` rows when the baseline is small.

    The key split halves the reference period; when that leaves the whole-population reference
    below ``min_rows``, the first rows of the fit sample (in its sampling order) move to the
    reference, so the two stay disjoint and the fit keeps the rest.

    Args:
        reference: whole-population reference rows.
        fit_sample: rows for the preprocessing and VAE (disjoint from ``reference``).
        min_rows: rows the reference needs.
        min_fit_rows: rows the fit sample must keep.

    Returns:
        ``(reference, fit sample)``, unchanged when the reference already has ``min_rows`` rows.

    Raises:
        ConfigError: the two together cannot give ``min_rows`` reference and ``min_fit_rows`` fit rows.
    """
    import pandas as pd

    need = min_rows - len(reference)
    if need <= 0:
        return reference, fit_sample
    if len(fit_sample) - need < min_fit_rows:
        raise ConfigError(
            f"drift fit: the reference period gives {len(reference) + len(fit_sample)} sampled rows; a detector needs "
            f"drift.min_rows={min_rows} reference rows plus {min_fit_rows} disjoint rows to fit the preprocessing and VAE"
        )
    moved = fit_sample.iloc[:need]
    logger.info("drift fit: small reference period; %d fit rows moved to the reference (%d fit rows left)", need,
                len(fit_sample) - need)
    return pd.concat([reference, moved], ignore_index=True), fit_sample.iloc[need:].reset_index(drop=True)


def fit_suites(
    groups: dict[tuple[str, str], pd.DataFrame], fit_sample: pd.DataFrame, features: Sequence[Any], config: SuiteConfig,
    min_rows: int, meta: dict[str, Any],
) -> dict[tuple[str, str], DetectorSuite]:
    """One suite per slice value with enough reference rows; slices reuse the ``all`` embedding.

    Args:
        groups: reference rows per ``(slice, slice_value)`` (the detectors' ``x_ref``).
        fit_sample: rows, disjoint from every group, the preprocessing and VAE are fitted on.
        features: feature specs.
        config: what to build.
        min_rows: fewest rows for a suite (and for the fit sample).
        meta: lineage recorded with every suite.
    """
    key_all = (ALL_SLICE, ALL_SLICE)
    if key_all not in groups or len(groups[key_all]) < min_rows:
        n = len(groups.get(key_all, ()))
        raise ConfigError(f"drift fit: reference sample has {n} rows, fewer than drift.min_rows={min_rows}")
    if len(fit_sample) < MIN_FIT_ROWS:
        raise ConfigError(f"drift fit: fit sample has {len(fit_sample)} rows, fewer than {MIN_FIT_ROWS}")
    base = fit_suite(groups[key_all], list(features), config, fit_sample=fit_sample,
                     meta={**meta, "slice": ALL_SLICE, "slice_value": ALL_SLICE})
    suites = {key_all: base}
    for key, frame in groups.items():
        if key == key_all:
            continue
        if len(frame) < min_rows:
            logger.info("drift fit: slice %s has %d reference rows (< %d); no detector", key[0], len(frame), min_rows)
            continue
        suites[key] = fit_suite(frame, list(features), config, base=base,
                                meta={**meta, "slice": key[0], "slice_value": key[1]})
    return suites


def fit_detectors(
    spark: SparkSession,
    catalog: Catalog,
    ds: DriftSettings,
    *,
    features: Sequence[Any],
    slices: Sequence[SliceSettings],
    period: tuple[dt.date, dt.date],
    client: Any,
    run_id: str,
    alias: str | None,
) -> dict[str, Any]:
    """Sample the reference, fit the suites and register them (``mlhops drift fit``): the fitted
    parts as an MLflow pyfunc model, the reference rows and the fit persons in
    ``mlhops.detector_references`` (:func:`~mlhops.drift.registry.register_suites`).

    The reference period's rows are split by key (:func:`~mlhops.drift.sampling.split_by_key`,
    ``FIT_SHARE``): the preprocessing and VAE are fitted on a capped sample of one part, and every
    slice's detector reference is a capped sample of the other, so no reference row was seen by
    the fitted transform (as no scored window row is). A small reference period that leaves the
    reference below ``drift.min_rows`` moves fit rows to it (:func:`ensure_reference_rows`).

    Args:
        spark: the session.
        catalog: table locations.
        ds: the ``drift`` settings.
        features: feature specs (name, kind) the detectors use (:func:`drift_features`).
        slices: slices with their own suite (:func:`drift_slices`).
        period: the reference ``[start, end)`` (:func:`reference_period`).
        client: the tracker's ``MlflowClient``.
        run_id: the active MLflow run the artifacts go to.
        alias: alias moved to the new version (None: register only).

    Returns:
        ``version``, ``n_suites``, ``n_reference``, ``n_fit`` for the stage result.
    """
    from mlhops.drift.registry import register_suites

    version = table_version(spark, catalog, FEATURES)
    names = [f.name for f in features]
    groups, fit_rows = _reference_samples(spark, catalog, ds, version, names, slices, period)
    start, end = period
    meta = {"reference_start": start.isoformat(), "reference_end": end.isoformat(), "features_table_version": version,
            "fit_share": FIT_SHARE}
    suites = fit_suites(groups, fit_rows, features, suite_config(ds), ds.min_rows, meta)
    tags = {
        "mlhops.reference_start": start.isoformat(),
        "mlhops.reference_end": end.isoformat(),
        "mlhops.features": ",".join(names),
        "mlhops.data_version.features": str(version),
        "mlhops.sampling": f"{ds.sampling} cap={ds.sample_cap} seed={ds.seed}",
        "mlhops.fit_split": f"key hash, fit share={FIT_SHARE}, fit rows={len(fit_rows)}",
        "mlhops.slices": ",".join(f"{k[0]}={k[1]}" for k in suites),
        "mlhops.detectors": ",".join(ds.detectors),
        "mlhops.alibi_detect": _alibi_version(),
    }
    ver = register_suites(client, suites, model_name=ds.model_name, run_id=run_id, tags=tags, alias=alias,
                          spark=spark, catalog=catalog, fit_persons=fit_rows[PERSON_COLUMN])
    n_ref = len(groups[(ALL_SLICE, ALL_SLICE)])
    return {"version": ver, "n_suites": len(suites), "n_reference": n_ref, "n_fit": len(fit_rows)}


_PERSON_WINDOW = "_mlhops_person_window"


def _reference_samples(
    spark: SparkSession,
    catalog: Catalog,
    ds: DriftSettings,
    version: int | None,
    names: list[str],
    slices: Sequence[SliceSettings],
    period: tuple[dt.date, dt.date],
) -> tuple[dict[tuple[str, str], pd.DataFrame], pd.DataFrame]:
    """The detectors' reference rows per slice value and the disjoint fit rows, in one collect.

    Every row keeps its ``person_id`` (ignored by the preprocessing, stored with the reference
    rows so that erasure can find them)."""
    df = read_table(spark, catalog, FEATURES, version=version)
    keep = [*names, PERSON_COLUMN] if PERSON_COLUMN not in names else list(names)
    one_per = None
    if ds.one_row_per_person:
        # One visit per person per scoring window, as each scored window is sampled: the reference
        # then weighs patients as the windows do (one per person over the whole period would
        # under-weigh regular patients against every window, and leave a small site too few rows).
        one_per = _PERSON_WINDOW
        df = df.withColumn(one_per, F.concat_ws("|", F.col("person_id").cast("string"),
                                                F.date_trunc(ds.granularity, F.col("event_time")).cast("string")))
    fit_part, ref_part = split_by_key(in_window(df, *period), FIT_SHARE, ds.seed)
    ref_sample = sample_rows(ref_part, cap=ds.sample_cap, seed=ds.seed, method=ds.sampling,  # type: ignore[arg-type]
                             strata=ds.strata, slices=slices, columns=keep, one_per=one_per)
    # The whole population only: slice suites reuse its preprocessing and VAE.
    fit_sample = sample_rows(fit_part, cap=ds.sample_cap, seed=ds.seed, method=ds.sampling,  # type: ignore[arg-type]
                             strata=ds.strata, columns=keep, one_per=one_per)
    both = collect_sample(ref_sample.withColumn(_PART, F.lit("reference")).unionByName(
        fit_sample.withColumn(_PART, F.lit("fit"))))
    is_fit = both[_PART] == "fit"
    groups = group_samples(both[~is_fit].drop(columns=[_PART]))
    key_all = (ALL_SLICE, ALL_SLICE)
    groups[key_all], fit_rows = ensure_reference_rows(
        groups.get(key_all, both.iloc[:0].drop(columns=[_PART])), both[is_fit].drop(columns=[_PART]), ds.min_rows
    )
    return groups, fit_rows.drop(columns=["slice", "slice_value"])


def _alibi_version() -> str:
    import alibi_detect

    return str(alibi_detect.__version__)


def score_sample(
    registered: RegisteredSuites, groups: dict[tuple[str, str], pd.DataFrame], window: tuple[dt.datetime, dt.datetime],
    *, granularity: str, min_rows: int, seed: int,
) -> list[tuple[DriftResult, dict[str, Any]]]:
    """Score each slice sample of one window with the suite of the same slice value.

    Returns:
        ``(result, row extras)`` pairs; slice values without a reference suite or with fewer
        than ``min_rows`` rows give ``insufficient_data`` results (never a flag).
    """
    out: list[tuple[DriftResult, dict[str, Any]]] = []
    start, end = window
    for key, frame in sorted(groups.items()):
        suite = registered.suites.get(key)
        if suite is None:
            logger.info("drift: no reference suite for slice %s; skipped", key[0])
            continue
        common = {"feature": registered.name, "window_start": start, "window_end": end, "slice": key[0],
                  "slice_value": key[1], "granularity": granularity, "features": tuple(suite.feature_names)}
        if len(frame) < min_rows:
            for name in suite.config.detectors:
                res = DriftResult(detector=name, statistic=None, n_reference=int(suite.meta.get("n_reference", 0)),
                                  n_current=len(frame), status="insufficient_data", **common)
                out.append((res, {"device": "none", "duration_s": None}))
            continue
        for o in suite.score(frame, seed=seed):
            extra = {"distance_threshold" if o.threshold_kind == "distance" else "alpha": o.threshold, **o.extra}
            res = DriftResult(
                detector=o.detector, statistic=o.statistic, p_value=o.p_value, threshold=suite.config.alpha,
                drift=o.drift, n_reference=o.n_reference, n_current=o.n_current, extra=extra, **common,
            )
            out.append((res, {"device": o.device, "duration_s": o.seconds}))
    return out


def write_results(
    spark: SparkSession, catalog: Catalog, scored: Sequence[tuple[DriftResult, dict[str, Any]]], *, version: str,
    run_id: str, detector_name: str | None = None,
) -> None:
    """MERGE ``(result, {"device", "duration_s"})`` pairs into ``mlhops.multivariate_drift`` (one commit).

    Args:
        spark: the session.
        catalog: table locations.
        scored: the results and where and how long each was computed.
        version: the detector version recorded on every row.
        run_id: the mlhops run recorded on every row.
        detector_name: the ``detector_name`` of every row (None: each result's detector).
    """
    rows = []
    for res, info in scored:
        row = driver_row(res)
        row.update({"detector_name": detector_name or res.detector, "detector_version": version,
                    "device": info["device"], "duration_s": info["duration_s"], "run_id": run_id})
        rows.append(row)
    merge_into(spark.createDataFrame(rows, schema=MULTIVARIATE_DRIFT_SCHEMA), catalog, MULTIVARIATE_DRIFT,
               list(DRIFT_RESULT_KEYS), bound_by="window_start")


def explain_window(
    registered: RegisteredSuites, groups: dict[tuple[str, str], pd.DataFrame],
    scored: Sequence[tuple[DriftResult, dict[str, Any]]], config: ExplainConfig, *, version: str, run_id: str,
) -> list[dict[str, Any]]:
    """Rows of ``mlhops.drift_explanations`` for one scored window (none when nothing flagged).

    Every slice value a detector flagged gets that detector's feature contributions, computed on
    the window's sample against the suite's own reference rows through the suite's
    preprocessing (:func:`mlhops.drift.explain.explain_features`); every detector that flagged
    any slice value gets its slice values ranked (:func:`mlhops.drift.explain.localise`).

    Args:
        registered: the loaded suites.
        groups: the window's sample per ``(slice, slice_value)``.
        scored: the window's results (:func:`score_sample`).
        config: how to explain.
        version: the detector version recorded on every row.
        run_id: the mlhops run recorded on every row.
    """
    import pandas as pd

    if not any(r.drift for r, _ in scored):
        return []
    first = scored[0][0]
    common = {"granularity": first.granularity, "window_start": _utc(first.window_start),
              "window_end": _utc(first.window_end), "detector_version": version, "run_id": run_id}
    results = pd.DataFrame([{"detector": r.detector, "slice": r.slice, "slice_value": r.slice_value,
                             "statistic": r.statistic, "p_value": r.p_value, "drift": r.drift, "status": r.status,
                             "n_reference": r.n_reference, "n_current": r.n_current} for r, _ in scored])
    sizes = results.set_index(["detector", "slice", "slice_value"])[["n_reference", "n_current"]]
    rows = []
    for loc in localise(results, ALL_SLICE).to_dict("records"):
        n_ref, n_cur = sizes.loc[(loc["detector"], loc["slice"], loc["slice_value"])]
        rows.append({**common, **loc, "feature": registered.name, "n_reference": int(n_ref), "n_current": int(n_cur)})
    for key, frame in sorted(groups.items()):
        flagged = [r.detector for r, _ in scored if (r.slice, r.slice_value) == key and r.status == "ok" and r.drift]
        suite = registered.suites.get(key)
        reference = getattr(suite, "reference", None)
        if not flagged or suite is None:
            continue
        if reference is None or len(reference) < MIN_EXPLAIN_ROWS:
            logger.info("drift explain: slice %s has no stored reference rows to explain with", key[0])
            continue
        features = explain_features(reference, frame, suite.preprocessor, flagged, config)
        for f in features.to_dict("records"):
            rows.append({**common, **f, "slice": key[0], "slice_value": key[1], "n_reference": len(reference),
                         "n_current": len(frame)})
    return [{k: _finite(v) if k in _NUMBERS else int(v) if k == "rank" else v for k, v in row.items()} for row in rows]


def write_explanations(
    spark: SparkSession, catalog: Catalog, rows: Sequence[dict[str, Any]], *, granularity: str,
    windows: Sequence[dt.datetime],
) -> None:
    """Replace the explanations of the scored ``windows`` with ``rows`` (one atomic commit).

    A re-run of a window replaces all of its rows, so a window no longer flagged loses its old
    explanation. Nothing is written (nor the table created) when there are no rows and no table.
    """
    from mlhops.io import replace_where, table_exists

    if not windows or (not rows and not table_exists(spark, catalog, DRIFT_EXPLANATIONS)):
        return
    stamps = ", ".join(f"TIMESTAMP '{_utc(w).strftime('%Y-%m-%d %H:%M:%S')}'" for w in sorted(set(windows)))
    predicate = f"granularity = '{granularity}' AND window_start IN ({stamps})"
    replace_where(spark.createDataFrame(list(rows), schema=DRIFT_EXPLANATIONS_SCHEMA), catalog, DRIFT_EXPLANATIONS,
                  predicate)
    logger.info("wrote %d drift explanation rows for %d windows", len(rows), len(set(windows)))


def explain_config(ds: DriftSettings) -> ExplainConfig:
    """The explanation part of the drift settings."""
    return ExplainConfig(max_rows=ds.explain.max_rows, permutation_repeats=ds.explain.permutation_repeats,
                         alpha=ds.alpha, seed=ds.seed)


def _utc(value: dt.datetime) -> dt.datetime:
    """A window bound as a UTC-aware datetime (PySpark reads naive ones in the local zone)."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def windows_between(start: dt.date, end: dt.date, granularity: str) -> list[tuple[dt.date, dt.date]]:
    """Tumbling windows whose start lies in ``[start, end)``."""
    from mlhops.stats.windows import touched_windows

    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    return [w for w in touched_windows(days, granularity) if start <= w[0] < end]


def score_windows(
    spark: SparkSession,
    catalog: Catalog,
    ds: DriftSettings,
    *,
    slices: Sequence[SliceSettings],
    start: dt.date,
    end: dt.date,
    run_id: str,
    client: Any,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """Run the registered detectors on every window starting in ``[start, end)`` (``mlhops drift``).

    Args:
        spark: the session.
        catalog: table locations.
        ds: the ``drift`` settings.
        slices: slices scored with their own suite (:func:`drift_slices`).
        start: first window start.
        end: windows start before this day.
        run_id: the mlhops run (recorded on every row).
        client: the tracker's ``MlflowClient`` (loads the detectors, logs per-window metrics).
        mlflow_run_id: the MLflow run the per-window metrics go to (None: not logged).

    Returns:
        Counts for the stage result (windows, results, flags, explanation rows) and the detector
        version. With ``drift.explain.enabled``, every flagged window is explained
        (:func:`explain_window`) into ``mlhops.drift_explanations``.
    """
    from mlhops.drift.registry import load_registered

    registered = load_registered(client, ds.model_name, ds.alias)
    features = registered.suites[(ALL_SLICE, ALL_SLICE)].feature_names
    df = read_table(spark, catalog, FEATURES)
    n_windows = 0
    all_scored: list[Any] = []
    explain = explain_config(ds)
    explained: list[dict[str, Any]] = []
    for w_start, w_end, groups in window_samples(df, ds, slices, features, windows_between(start, end, ds.granularity)):
        if not groups:
            continue
        ws = dt.datetime.combine(w_start, dt.time())
        we = dt.datetime.combine(w_end, dt.time())
        scored = score_sample(registered, groups, (ws, we), granularity=ds.granularity, min_rows=ds.min_rows, seed=ds.seed)
        if not scored:
            continue
        all_scored.extend(scored)
        if ds.explain.enabled:
            explained.extend(explain_window(registered, groups, scored, explain, version=registered.version,
                                            run_id=run_id))
        if mlflow_run_id is not None:
            _log_window_metrics(client, mlflow_run_id, scored, step=(w_start - dt.date(1970, 1, 1)).days)
        n_windows += 1
    if all_scored:
        # one MERGE for the whole run (a commit per window would cost more than the scoring)
        write_results(spark, catalog, all_scored, version=registered.version, run_id=run_id)
        if ds.explain.enabled:
            # flagged windows' explanations; a re-scored window no longer flagged loses its old ones
            write_explanations(spark, catalog, explained, granularity=ds.granularity,
                               windows=[r.window_start for r, _ in all_scored])
    n_flags = sum(r.drift for r, _ in all_scored)
    return {"windows": n_windows, "results": len(all_scored), "flags": n_flags, "version": registered.version,
            "explanation_rows": len(explained)}


# Rows a batch of windows may bring to the driver per slice value (at most this many windows' caps).
SAMPLE_ROWS_PER_JOB = 50_000
_WINDOW = "_window_start"


def window_samples(
    df: DataFrame, ds: DriftSettings, slices: Sequence[SliceSettings], features: Sequence[str],
    windows: Sequence[tuple[dt.date, dt.date]],
) -> Iterator[tuple[dt.date, dt.date, dict[tuple[str, str], pd.DataFrame]]]:
    """``(start, end, samples by slice)`` of each window, in order: the same samples as drawing
    each window on its own, but consecutive windows are drawn and collected in one Spark job
    (:data:`SAMPLE_ROWS_PER_JOB` // ``sample_cap`` windows at a time). A backfill scores hundreds of
    windows, and a job per window cost more than scoring them (94 monthly windows of a 27-patient
    sample: 94 jobs of ~0.35 s, most windows below ``min_rows``)."""
    per_job = max(1, SAMPLE_ROWS_PER_JOB // max(ds.sample_cap, 1))
    for i in range(0, len(windows), per_job):
        batch = windows[i:i + per_job]
        rows = in_window(df, batch[0][0], batch[-1][1])
        rows = rows.withColumn(_WINDOW, window_bounds(F.col("event_time"), ds.granularity)[0])
        sample = sample_rows(rows, cap=ds.sample_cap, seed=ds.seed, method=ds.sampling,  # type: ignore[arg-type]
                             strata=ds.strata, slices=slices, columns=[*features, _WINDOW],
                             one_per="person_id" if ds.one_row_per_person else None, by=[_WINDOW])
        collected = collect_sample(sample)
        parts = {w: part.drop(columns=[_WINDOW]) for w, part in collected.groupby(_WINDOW, sort=False)}
        for w_start, w_end in batch:
            part = parts.get(w_start)
            yield w_start, w_end, group_samples(part) if part is not None else {}


def _log_window_metrics(
    client: Any, mlflow_run_id: str, scored: Sequence[tuple[DriftResult, dict[str, Any]]], step: int
) -> None:
    """p-value, flag and seconds of each scored detector and slice of one window, as MLflow metrics."""
    import time

    from mlflow.entities import Metric

    metrics: dict[str, float] = {}
    for res, info in scored:
        if res.p_value is None:
            continue
        base = _metric_key(f"{res.detector}.{res.slice}.{res.slice_value}")
        metrics[f"{base}.p_value"] = res.p_value
        metrics[f"{base}.drift"] = float(res.drift)
        if info["duration_s"] is not None:
            metrics[f"{base}.seconds"] = float(info["duration_s"])
    if metrics:
        now = int(time.time() * 1000)
        client.log_batch(mlflow_run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def _metric_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", text)[:250]


def latest_window_end(spark: SparkSession, catalog: Catalog) -> dt.date | None:
    """Day after the last event date in the feature table (default end of a nightly run)."""
    row = read_table(spark, catalog, FEATURES).agg(F.max("event_date").alias("d")).first()
    return None if row is None or row["d"] is None else row["d"] + dt.timedelta(days=1)
