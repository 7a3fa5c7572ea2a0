"""Model card following the reporting items of the MLHOps checklist and clinical reporting
guidelines: intended use and population, inclusion criteria, data provenance and lineage, the
model, performance with intervals overall and per subgroup, calibration, the comparison with the
previous version, global importance, the membership-inference check, limitations, update history.

Every value shown is an aggregate (metrics, intervals, counts); subgroups under the minimum size
never reach the tables this card reads.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table, table_exists
from mlhops.io.tables.core import RUNS
from mlhops.io.tables.models import (
    INFERENCE_LOG, MODEL_EVENTS, MODEL_IMPORTANCE, MODEL_PRIVACY, PERFORMANCE_METRICS, PROMOTION_DECISIONS,
)
from mlhops.reporting.html import badge, escape, fmt, table
from mlhops.reporting.notes import muted

if TYPE_CHECKING:
    from mlhops.config.stages import ChecklistSettings, ModelSettings, ReportSettings
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


# The card's headings, in order (the report test checks each is there).
ITEMS = ("Intended use and population", "Inclusion criteria", "Data provenance and lineage", "Model",
         "Performance with intervals", "Performance per subgroup", "Calibration", "Comparison with the previous version",
         "Global importance", "Membership inference (privacy)", "Limitations", "Update history")
PERFORMANCE_SHOWN = ("auroc", "sensitivity", "ppv", "brier")
CALIBRATION_SHOWN = ("ece", "calibration_slope", "calibration_intercept")


def model_names(spark: SparkSession, cat: Catalog) -> list[str]:
    """The registered models the warehouse's model tables name (first table found)."""
    for name in (PERFORMANCE_METRICS, INFERENCE_LOG, MODEL_IMPORTANCE):
        if table_exists(spark, cat, name):
            return [r[0] for r in read_table(spark, cat, name).select("model_name").distinct().collect()]
    return []


def _registry(tracker: Tracker, names: list[str]) -> list[tuple[Any, ...]]:
    """Versions, aliases and lineage tags from the MLflow registry (empty when unreachable)."""
    rows: list[tuple[Any, ...]] = []
    try:
        client = tracker.client()
        for name in names:
            full = tracker.registered_name(name)
            model = client.get_registered_model(full)
            alias_of: dict[str, list[str]] = {}
            for alias, version in (model.aliases or {}).items():
                alias_of.setdefault(str(version), []).append(alias)
            for mv in sorted(client.search_model_versions(f"name='{full}'"), key=lambda v: int(v.version)):
                tags = {k: v for k, v in (mv.tags or {}).items() if not k.startswith("mlflow.")}
                lineage = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))[:400]
                rows.append((name, mv.version, ", ".join(sorted(alias_of.get(str(mv.version), []))) or "—",
                             str(mv.creation_timestamp), lineage or "—"))
    except Exception:  # noqa: BLE001 - the report must render even if the registry is down
        logger.warning("model registry not readable for the model card", exc_info=True)
    return rows


def _lineage(spark: SparkSession, cat: Catalog) -> list[tuple[Any, ...]]:
    if not table_exists(spark, cat, RUNS):
        return []
    runs = read_table(spark, cat, RUNS).where(F.col("status").isin("ok", "alerts"))
    exploded = runs.select("stage", "ended_at", "run_id", F.explode("tables").alias("table", "version"))
    latest = exploded.groupBy("table").agg(F.max_by(F.struct("version", "stage", "run_id", "ended_at"), "ended_at").alias("x"))
    return [(r["table"], int(r["x"]["version"]), r["x"]["stage"], r["x"]["run_id"], str(r["x"]["ended_at"])[:19])
            for r in latest.orderBy("table").collect()]


def _recorded(value: str) -> str:
    return escape(value) if value.strip() else '<span class="muted">not recorded</span>'


def _ci(v: Any, lo: Any, hi: Any) -> str:
    return f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"


def _latest_realized(spark: SparkSession, cat: Catalog) -> Any:
    """Realized metrics of each version's latest labelled window (pandas; None when not evaluated)."""
    if not table_exists(spark, cat, PERFORMANCE_METRICS):
        return None
    perf = read_table(spark, cat, PERFORMANCE_METRICS).where(F.col("method") == "realized").toPandas()
    if perf.empty:
        return perf
    last = perf.groupby(["model_name", "model_version"])["window_start"].transform("max")
    return perf[perf["window_start"] == last]


def _metric_rows(latest: Any, metrics: tuple[str, ...], overall: bool) -> list[tuple[Any, ...]]:
    part = latest[(latest["attribute"] == "all") == overall]
    part = part[part["metric"].isin(metrics)].sort_values(["model_version", "attribute", "grp", "metric"])
    return [(r.model_name, f"v{r.model_version}", str(r.window_start)[:10],
             *(() if overall else (r.attribute, r.grp)), r.metric, _ci(r.estimate, r.ci_lower, r.ci_upper), int(r.n))
            for r in part.itertuples()]


def _performance(spark: SparkSession, cat: Catalog, min_group: int) -> list[str]:
    latest = _latest_realized(spark, cat)
    parts = ["<h3>Performance with intervals</h3>"]
    if latest is None or latest.empty:
        parts.append(muted("No labelled window evaluated yet."))
        parts.append("<h3>Performance per subgroup</h3>" + muted("No labelled window evaluated yet."))
        parts.append("<h3>Calibration</h3>" + muted("No labelled window evaluated yet."))
        return parts
    parts.append("<p>Each version's latest labelled window, bootstrap intervals (see Performance for all windows).</p>")
    parts.append(table(["model", "version", "window", "metric", "estimate [CI]", "n"],
                       _metric_rows(latest, PERFORMANCE_SHOWN, True)))
    sub = _metric_rows(latest, ("auroc", "sensitivity"), False)
    parts.append("<h3>Performance per subgroup</h3>" + (
        f"<p>Groups with at least {min_group} cases (smaller ones are suppressed).</p>"
        + table(["model", "version", "window", "attribute", "group", "metric", "estimate [CI]", "n"], sub)
        if sub else muted("No subgroup reached the minimum size in the latest labelled window.")))
    cal = _metric_rows(latest, CALIBRATION_SHOWN, True)
    parts.append("<h3>Calibration</h3>" + (table(["model", "version", "window", "metric", "estimate [CI]", "n"], cal)
                                           if cal else muted("No calibration metric yet.")))
    return parts


def _comparison(spark: SparkSession, cat: Catalog) -> str:
    if not table_exists(spark, cat, PROMOTION_DECISIONS):
        return muted("No challenger has been compared with its champion yet (mlhops/promotion_decisions).")
    pdf = read_table(spark, cat, PROMOTION_DECISIONS).toPandas()
    if pdf.empty:
        return muted("No promotion decision recorded.")
    latest = pdf.sort_values("decided_at").groupby(["model_name", "champion_version", "challenger_version"]).tail(1)
    rows = [(r.model_name, f"v{r.champion_version}", f"v{r.challenger_version}", str(r.labels_as_of)[:10],
             r.decision.replace("_", " "), "yes" if r.applied else "no",
             _ci(r.auroc_diff, r.auroc_diff_lower, r.auroc_diff_upper), int(r.n)) for r in latest.itertuples()]
    return ("<p>The latest decision per pair under the declared rule (<code>models.promotion</code>).</p>"
            + table(["model", "previous (champion)", "new (challenger)", "labels as of", "decision", "applied",
                     "AUROC diff [CI]", "cases"], rows))


def _importance(spark: SparkSession, cat: Catalog, top_k: int) -> str:
    from mlhops.models.explain import TRAINING

    if not table_exists(spark, cat, MODEL_IMPORTANCE):
        return muted("No importance profile yet (computed when a version is trained).")
    pdf = read_table(spark, cat, MODEL_IMPORTANCE).where(
        (F.col("computed_on") == TRAINING) & (F.col("rank") <= top_k)).toPandas()
    if pdf.empty:
        return muted("No version has a training importance profile.")
    pdf = pdf.sort_values(["model_name", "model_version", "rank"])
    return ("<p>Permutation importance on the validation persons (AUROC drop, t-interval over repeats); the "
            "champion vs challenger comparison and the drift over windows are in Model explanations.</p>"
            + table(["model", "version", "rank", "feature", "importance [CI]"],
                    [(r.model_name, f"v{r.model_version}", int(r.rank), r.feature,
                      _ci(r.importance, r.ci_lower, r.ci_upper)) for r in pdf.itertuples()]))


def _privacy(spark: SparkSession, cat: Catalog) -> str:
    if not table_exists(spark, cat, MODEL_PRIVACY):
        return muted("No membership-inference check yet (computed when a version is trained).")
    pdf = read_table(spark, cat, MODEL_PRIVACY).toPandas().sort_values(["model_name", "model_version"])
    rows = [(r.model_name, f"v{r.model_version}", r.attack.replace("_", " "), _ci(r.auroc, r.ci_lower, r.ci_upper),
             f"{int(r.n_members)} / {int(r.n_nonmembers)}", fmt(r.max_auroc),
             badge(r.verdict, "ok" if r.verdict == "pass" else "fail")) for r in pdf.itertuples()]
    return ("<p>Can an attacker who knows a person's features and outcome tell whether the person was in the "
            "training set? Attack AUROC 0.5: no better than chance; above the limit: verdict fail.</p>"
            + table(["model", "version", "attack", "AUROC [CI]", "training / held-out persons", "limit", "verdict"],
                    rows))


def render(spark: SparkSession, cat: Catalog, tracker: Tracker, rs: ReportSettings, models: ModelSettings,
           records: ChecklistSettings | None = None) -> str:
    """The model card section (HTML).

    Args:
        spark: the session.
        cat: the warehouse (runs, performance, inference log, model events, importance, privacy).
        tracker: the MLflow tracker (registered versions, aliases, lineage tags).
        rs: the ``report`` settings (intended use, owner, limitations).
        models: the ``models`` settings (task, fairness attributes and minimum group size).
        records: the team's ``governance.checklist`` records (population, inclusion, provenance).
    """
    from mlhops.config.stages import ChecklistSettings

    records = records or ChecklistSettings()
    names = model_names(spark, cat)
    parts = ["<h3>Intended use and population</h3>", f"<p>{escape(rs.intended_use)}</p>",
             _kv([("Owner", escape(rs.owner)), ("Prediction task", escape(models.task)),
                  ("Registered model(s)", escape(", ".join(names) or "none yet")),
                  ("Intended use (team record)", _recorded(records.intended_use)),
                  ("Target population", _recorded(records.target_population)),
                  ("Clinical sign-off", _recorded(records.clinical_sign_off))])]
    parts.append("<h3>Inclusion criteria</h3>" + _kv([
        ("Inclusion criteria (team record)", _recorded(records.inclusion_criteria)),
        ("Cohort in the pipeline", escape(f"index visits of task {models.task} (conf/models/{models.task}.yaml)"))]))
    parts.append("<h3>Data provenance and lineage</h3>"
                 + _kv([("Data provenance (team record)", _recorded(records.data_provenance))])
                 + "<p>OMOP CDM v5.4 tables built by the mlhops ETL (de-identified: "
                 "keyed hashes of source identifiers, per-person date shifts unless deid.date_shift_max_days is 0, "
                 "as in the local demo) and the platform tables derived from them. "
                 "Each row is the Delta version currently in use and the run that wrote it.</p>")
    lineage = _lineage(spark, cat)
    parts.append(table(["table", "Delta version", "written by stage", "run", "at (UTC)"], lineage) if lineage
                 else muted("No successful stage run is recorded in mlhops/runs yet."))
    parts.append("<h3>Model</h3>")
    registered = _registry(tracker, names)
    parts.append(table(["model", "version", "aliases", "registered (ms)", "lineage tags"], registered) if registered
                 else muted("No registered model version (not trained yet, or the registry is not reachable)."))
    parts += _performance(spark, cat, models.fairness.min_group_size)
    parts.append("<p>Performance and calibration are reported per "
                 f"{escape(', '.join(models.fairness.attributes))} "
                 f"with a minimum group size of {models.fairness.min_group_size}; smaller groups "
                 "are suppressed everywhere (see Fairness).</p>")
    parts.append("<h3>Comparison with the previous version</h3>" + _comparison(spark, cat))
    parts.append("<h3>Global importance</h3>" + _importance(spark, cat, models.explain.top_k))
    parts.append("<h3>Membership inference (privacy)</h3>" + _privacy(spark, cat))
    parts.append(f"<h3>Limitations</h3><p>{escape(rs.limitations)}</p>")
    history: list[tuple[Any, ...]] = []
    if table_exists(spark, cat, MODEL_EVENTS):
        ev = read_table(spark, cat, MODEL_EVENTS).orderBy(F.col("event_time").desc()).limit(50).collect()
        history = [(str(e["event_time"])[:19], e["model_name"], e["action"], e["from_version"] or "—",
                    e["to_version"] or "—", e["reason"] or "") for e in ev]
    parts.append("<h3>Update history</h3>")
    parts.append(table(["when (UTC)", "model", "action", "from", "to", "reason"], history) if history
                 else muted("No explicit promote or rollback yet: the champion is the version training registered."))
    return "".join(parts)
