"""Train -> score -> evaluate -> recalibrate -> promote/rollback on a real (UCI) warehouse.

Weeks 1-4 are the training period (labels final by the training as-of date); from week 6 the
feature feed corrupts prior inpatient counts (see conftest), which miscalibrates the champion
on the later windows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest
from pyspark.sql import functions as F
from sklearn import metrics as skm

from mlhops.io import read_table
from mlhops.models import registry
from mlhops.models.task import load_task
from mlhops.models.training import validation_flag
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import EvaluateOptions, PromoteOptions, TrainOptions
from mlhops.pipelines.orchestrate import run_stage
from mlhops.pipelines.stage import NoOptions, StageRequest, StageResult
from tests.spark.models.conftest import DRIFT_FROM, START

TRAIN_AS_OF = "2024-03-01"
# First evaluation: labels final for discharges up to mid-February (drift began 5 Feb).
FIRST_EVAL_AS_OF = "2024-03-14"
EVAL_AS_OF = "2024-05-01"


def _rows(ctx, name):
    df = read_table(ctx.spark, ctx.catalog, name)
    return sorted((tuple(r) for r in df.select(*sorted(df.columns)).collect()), key=repr)


def _run(ctx, stage, run_id, options=NoOptions(), **window) -> StageResult:
    outcome = run_stage(ctx, stage, StageRequest(run_id, options=options, **window))
    assert outcome.result is not None and outcome.status != "failed", outcome.message
    return outcome.result


def _day(iso):
    return dt.date.fromisoformat(iso)


@pytest.fixture(scope="module")
def lifecycle(spark, uci_warehouse):
    settings, visits, features = uci_warehouse
    ctx = Context.build(settings, spark)
    out = {"ctx": ctx, "settings": settings, "features": features}
    out["train"] = _run(ctx, "train", "t1", TrainOptions(as_of=_day(TRAIN_AS_OF)))
    out["score"] = _run(ctx, "score", "s1")
    out["log_after_first_score"] = _rows(ctx, "mlhops.inference_log")
    out["score_again"] = _run(ctx, "score", "s2", start=START, end=START + dt.timedelta(weeks=9))
    out["evaluate"] = _run(ctx, "evaluate", "e1", EvaluateOptions(as_of=_day(FIRST_EVAL_AS_OF)))
    out["perf_after_first_eval"] = _rows(ctx, "mlhops.performance_metrics")
    out["fair_after_first_eval"] = _rows(ctx, "mlhops.fairness_disparities")
    return out


def test_training_registers_a_champion_with_lineage(lifecycle):
    ctx = lifecycle["ctx"]
    res = lifecycle["train"]
    assert res.status == "ok" and res.details["alias"] == "champion"
    assert 0.55 < res.metrics["validation_auroc"] < 0.9
    mv = ctx.tracker.client().get_model_version("uci_readmission", res.details["version"])
    assert mv.tags["mlhops.features_table_version"].isdigit()
    assert mv.tags["mlhops.labels_table_version"].isdigit()
    assert mv.tags["mlhops.labels_as_of"] == TRAIN_AS_OF
    loaded = registry.load(ctx.tracker, "uci_readmission", "champion")
    assert "prior_inpatient" in loaded.features and 0 < loaded.profile.threshold < 1


def test_scoring_logs_hashed_keys_and_rescoring_leaves_the_log_identical(spark, lifecycle):
    ctx = lifecycle["ctx"]
    days = pd.to_datetime(pd.Series(lifecycle["features"]["event_date"]))
    weeks = (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.date.nunique()
    assert lifecycle["score"].metrics["windows"] == weeks  # discharge weeks, Monday-based
    log = read_table(spark, ctx.catalog, "mlhops.inference_log")
    assert log.count() == len(lifecycle["features"])
    sample = log.select("person_hash", "visit_hash", "decision", "score", "threshold").first()
    assert len(sample["visit_hash"]) == 64 and sample["decision"] == int(sample["score"] >= sample["threshold"])
    ids = {str(v) for v in lifecycle["features"]["visit_occurrence_id"]}
    assert not ids & {r[0] for r in log.select("visit_hash").collect()}
    assert _rows(ctx, "mlhops.inference_log") == lifecycle["log_after_first_score"]


def test_realized_metrics_equal_scikit_learn_on_the_logged_predictions(spark, lifecycle):
    ctx = lifecycle["ctx"]
    cat = ctx.catalog
    visit_hash = ctx.hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id"))
    labels = read_table(spark, cat, "mlhops.labels").select(visit_hash.alias("visit_hash"), "label")
    w0 = START + dt.timedelta(weeks=2)
    pdf = read_table(spark, cat, "mlhops.inference_log").where(F.col("window_start") == F.lit(w0)).join(labels, "visit_hash").toPandas()
    perf = read_table(spark, cat, "mlhops.performance_metrics").where(
        (F.col("window_start") == F.lit(w0)) & (F.col("method") == "realized") & (F.col("attribute") == "all")
    ).toPandas().set_index("metric")
    assert perf.loc["auroc", "estimate"] == pytest.approx(skm.roc_auc_score(pdf["label"], pdf["score"]), abs=1e-12)
    assert perf.loc["brier", "estimate"] == pytest.approx(skm.brier_score_loss(pdf["label"], pdf["score"]), abs=1e-12)
    assert perf.loc["sensitivity", "estimate"] == pytest.approx(skm.recall_score(pdf["label"], pdf["decision"]))
    assert perf.loc["auroc", "n"] == len(pdf) and perf.loc["auroc", "n_positive"] == pdf["label"].sum()
    assert perf.loc["auroc", "ci_lower"] < perf.loc["auroc", "estimate"] < perf.loc["auroc", "ci_upper"]
    cbpe = read_table(spark, cat, "mlhops.performance_metrics").where(
        (F.col("window_start") == F.lit(w0)) & (F.col("method") == "cbpe") & (F.col("metric") == "auroc")).first()
    assert abs(cbpe["estimate"] - perf.loc["auroc", "estimate"]) < 0.1


def test_small_subgroups_never_appear_in_any_output(spark, lifecycle):
    cat = lifecycle["ctx"].catalog
    f = lifecycle["features"]
    site_sizes = Counter(f["care_site_id"].astype(str))
    tiny = {s for s, n in site_sizes.items() if n < 60}
    assert tiny  # admission types 4, 7, 8 are rare in the real table
    perf = read_table(spark, cat, "mlhops.performance_metrics").where(F.col("attribute") == "site")
    fair = read_table(spark, cat, "mlhops.fairness_disparities").where(F.col("attribute") == "site")
    shown = {r[0] for r in perf.select("grp").collect()} | {r[0] for r in fair.select("grp").collect()} \
        | {r[0] for r in fair.select("reference_group").collect()}
    assert shown and not shown & tiny
    assert perf.where(F.col("n") < 60).count() == 0
    assert perf.where((F.col("n_positive") < 11) & (F.col("method") == "realized")).count() == 0


def test_planted_calibration_drift_triggers_recalibration_into_a_challenger(spark, lifecycle):
    ctx = lifecycle["ctx"]
    res = lifecycle["evaluate"]
    kinds = {(k, w) for _, w, k in res.details["triggers"]}
    assert any(k == "calibration" and dt.date.fromisoformat(w) >= DRIFT_FROM for k, w in kinds)
    assert not any(k == "calibration" and dt.date.fromisoformat(w) < DRIFT_FROM for k, w in kinds)
    recal = res.details["recalibration"]
    assert recal["challenger"]["ece"] < recal["champion"]["ece"]
    assert registry.alias_version(ctx.tracker, "uci_readmission", "challenger") == recal["version"]


def test_shadow_scored_challenger_is_better_calibrated_on_later_windows(spark, lifecycle):
    ctx = lifecycle["ctx"]
    _run(ctx, "score", "s3")
    _run(ctx, "evaluate", "e2", EvaluateOptions(as_of=_day(EVAL_AS_OF)))
    perf = read_table(spark, ctx.catalog, "mlhops.performance_metrics").where(
        (F.col("metric") == "ece") & (F.col("method") == "realized") & (F.col("attribute") == "all")
    ).toPandas()
    champion = registry.alias_version(ctx.tracker, "uci_readmission", "champion")
    challenger = registry.alias_version(ctx.tracker, "uci_readmission", "challenger")
    recal_window = dt.date.fromisoformat(
        ctx.tracker.client().get_model_version("uci_readmission", challenger)
        .tags["mlhops.recalibration_window"].split("/")[0])
    later = perf[perf["window_start"] > recal_window].pivot(index="window_start", columns="model_version", values="estimate")
    assert len(later) >= 1
    assert (later[challenger] < later[champion]).all()


def _held_out_cases(spark, ctx, task, champion, challenger, recal_window):
    """Independently: labelled visits (by EVAL_AS_OF) both versions scored, validation persons only,
    outside the window the recalibration was fitted on."""
    log = read_table(spark, ctx.catalog, "mlhops.inference_log").where(F.col("model_name") == "uci_readmission")
    both = (log.where(F.col("model_version") == champion).select("visit_hash", "window_start", F.col("score").alias("a"))
            .join(log.where(F.col("model_version") == challenger).select("visit_hash", F.col("score").alias("b")),
                  "visit_hash"))
    labels = read_table(spark, ctx.catalog, "mlhops.labels").where(
        (F.col("task") == task.name) & (F.col("label_available_date") <= F.lit(_day(EVAL_AS_OF)))
        & validation_flag(task.split_seed, task.validation_fraction)
    ).select(ctx.hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")).alias("visit_hash"), "label")
    return both.join(labels, "visit_hash").where(F.col("window_start") != F.lit(recal_window)).toPandas()


def test_the_challenger_is_compared_with_the_champion_on_cases_neither_has_seen(spark, lifecycle):
    ctx, settings = lifecycle["ctx"], lifecycle["settings"]
    champion = registry.alias_version(ctx.tracker, "uci_readmission", "champion")
    challenger = registry.alias_version(ctx.tracker, "uci_readmission", "challenger")
    rows = read_table(spark, ctx.catalog, "mlhops.promotion_decisions").where(
        (F.col("champion_version") == champion) & (F.col("challenger_version") == challenger)
        & (F.col("labels_as_of") == F.lit(_day(EVAL_AS_OF)))).collect()
    assert len(rows) == 1
    row = rows[0]
    recal_window = dt.date.fromisoformat(ctx.tracker.client().get_model_version("uci_readmission", challenger)
                                         .tags["mlhops.recalibration_window"].split("/")[0])
    cases = _held_out_cases(spark, ctx, load_task(settings), champion, challenger, recal_window)
    assert (row["n"], row["n_positive"]) == (len(cases), int(cases["label"].sum()))
    assert row["brier_diff"] == pytest.approx(skm.brier_score_loss(cases["label"], cases["b"])
                                              - skm.brier_score_loss(cases["label"], cases["a"]))
    # Platt recalibration is monotone: the same ranking, so the same AUROC in every replicate.
    assert (row["auroc_diff"], row["auroc_diff_lower"], row["auroc_diff_upper"]) == pytest.approx((0, 0, 0), abs=1e-9)
    # Recalibrated on the drifted feed, it is better calibrated on the later held-out cases:
    # non-inferior and better, so the rule recommends promotion; auto-promotion is off by default,
    # so the aliases stay for an operator's `mlhops promote`.
    assert row["brier_diff_upper"] < 0 and row["ece_diff"] < 0
    assert (row["decision"], row["applied"]) == ("promote", False)
    assert "non-inferior and better" in row["reason"]
    assert registry.alias_version(ctx.tracker, "uci_readmission", "challenger") == challenger


def test_reevaluating_with_the_same_labels_leaves_the_tables_identical(spark, lifecycle):
    ctx = lifecycle["ctx"]
    before = {t: _rows(ctx, t) for t in ("mlhops.performance_metrics", "mlhops.fairness_disparities",
                                         "mlhops.model_drift", "mlhops.label_requests")}
    _run(ctx, "evaluate", "e3", EvaluateOptions(as_of=_day(EVAL_AS_OF)))
    for t, rows in before.items():
        assert _rows(ctx, t) == rows, t


def test_promotion_and_rollback_are_explicit_and_logged(spark, lifecycle):
    ctx = lifecycle["ctx"]
    old = registry.alias_version(ctx.tracker, "uci_readmission", "champion")
    new = registry.alias_version(ctx.tracker, "uci_readmission", "challenger")
    p = _run(ctx, "promote", "p1", PromoteOptions(reason="recalibrated"))
    assert (p.details["from_version"], p.details["to_version"]) == (old, new)
    assert registry.alias_version(ctx.tracker, "uci_readmission", "champion") == new
    r = _run(ctx, "promote", "p2", PromoteOptions(action="rollback", reason="check"))
    assert (r.details["from_version"], r.details["to_version"]) == (new, old)
    assert registry.alias_version(ctx.tracker, "uci_readmission", "champion") == old
    events = read_table(spark, ctx.catalog, "mlhops.model_events").orderBy("event_time").collect()
    assert [(e["action"], e["from_version"], e["to_version"]) for e in events] == [
        ("promote", old, new), ("rollback", new, old)]


def test_a_rerun_of_a_promotion_completed_but_never_reported_reports_it_and_changes_nothing(spark, lifecycle):
    from mlhops.pipelines import promote

    ctx = lifecycle["ctx"]
    name = "uci_readmission"
    old = registry.alias_version(ctx.tracker, name, "champion")
    new = max((str(v.version) for v in ctx.tracker.client().search_model_versions(f"name='{name}'")
               if str(v.version) != old), key=int)
    events = lambda: read_table(spark, ctx.catalog, "mlhops.model_events").count()  # noqa: E731
    # The stage itself, outside the orchestrator: the change is made and recorded, and the run's
    # outcome never reaches mlhops.runs (a run killed right after the stage returned).
    promote.run(ctx, StageRequest("k1", options=PromoteOptions(version=new, reason="killed before reporting")))
    assert registry.alias_version(ctx.tracker, name, "champion") == new
    recorded = events()
    again = _run(ctx, "promote", "k2", PromoteOptions(version=new, reason="killed before reporting"))
    assert (again.details["from_version"], again.details["to_version"]) == (old, new)
    assert again.details["recorded_by_run"] == "k1"
    assert events() == recorded  # no second event, no "from new to new"
    _run(ctx, "promote", "k3", PromoteOptions(action="rollback", version=old, reason="restore"))
    assert registry.alias_version(ctx.tracker, name, "champion") == old


def test_a_visit_arriving_in_a_window_scored_on_an_earlier_night_is_scored_once(spark, lifecycle):
    from mlhops.io import Catalog

    ctx = lifecycle["ctx"]
    cat = Catalog(lifecycle["settings"].warehouse)
    log = lambda: read_table(spark, cat, "mlhops.inference_log").where(  # noqa: E731
        F.col("model_name") == "uci_readmission").toPandas()
    before = log()
    window = min(before["window_start"])  # a week scored on the first night
    wednesday = window + dt.timedelta(days=2)
    # A late-arriving stay of that week (a copy of one, under a new id, discharged on its Wednesday).
    features = read_table(spark, cat, "mlhops.features")
    visits = read_table(spark, cat, "omop.visit_occurrence")
    new_id = int(visits.agg(F.max("visit_occurrence_id")).first()[0]) + 1
    row = features.where(F.col("event_date") >= F.lit(window)).orderBy("event_date", "visit_occurrence_id").first()
    visit = visits.where(F.col("visit_occurrence_id") == row["visit_occurrence_id"]).first().asDict()
    stay = visit["visit_end_date"] - visit["visit_start_date"]
    visit |= {"visit_occurrence_id": new_id, "visit_end_date": wednesday, "visit_start_date": wednesday - stay}
    spark.createDataFrame([visit], visits.schema).write.format("delta").mode("append").save(
        cat.path("omop.visit_occurrence"))
    late = row.asDict() | {"visit_occurrence_id": new_id, "event_date": wednesday,
                           "event_time": dt.datetime.combine(wednesday, dt.time(12))}
    spark.createDataFrame([late], features.schema).write.format("delta").mode("append").save(
        cat.path("mlhops.features"))
    visit_hash = spark.createDataFrame([(new_id,)], "visit_occurrence_id long").select(
        ctx.hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id"))).first()[0]

    # The night of that Wednesday (`--date`): its week is scored again for the new stay only.
    result = _run(ctx, "score", "late", start=wednesday, end=wednesday + dt.timedelta(days=1))
    after = log()
    key = ["model_version", "visit_hash"]
    added = after[~after.set_index(key).index.isin(before.set_index(key).index)]
    versions = set(result.details["versions"].values())
    assert set(added["visit_hash"]) == {visit_hash}
    assert sorted(added["model_version"]) == sorted(versions) and set(added["window_start"]) == {window}
    # Every later night leaves it alone: scored exactly once per version.
    _run(ctx, "score", "late-again")
    assert len(log()) == len(after)


def test_where_approval_is_required_a_champion_change_needs_an_approver_and_keeps_the_evidence(spark, lifecycle):
    import dataclasses
    import json

    ctx = lifecycle["ctx"]
    champion = registry.alias_version(ctx.tracker, "uci_readmission", "champion")
    candidate = str(max(int(v.version) for v in ctx.tracker.client().search_model_versions("name='uci_readmission'")
                        if str(v.version) != champion))
    registry.move_alias(ctx.tracker, "uci_readmission", "challenger", candidate)
    s = ctx.settings
    governed = dataclasses.replace(s, models=dataclasses.replace(
        s.models, promotion=dataclasses.replace(s.models.promotion, require_approval=True, auto=True)))
    gctx = Context.build(governed, spark)
    from mlhops.errors import ConfigError

    with pytest.raises(ConfigError, match="--approve --by NAME --reason"):
        run_stage(gctx, "promote", StageRequest("g1", options=PromoteOptions(reason="looks better")))
    assert registry.alias_version(ctx.tracker, "uci_readmission", "champion") == champion
    # The pipeline never promotes past a required approval, even with auto-promotion on.
    _run(gctx, "evaluate", "g2", EvaluateOptions(as_of=_day(EVAL_AS_OF)))
    assert registry.alias_version(ctx.tracker, "uci_readmission", "champion") == champion
    approved = _run(gctx, "promote", "g3", PromoteOptions(reason="non-inferior, better calibrated",
                                                          approved_by="dr.reviewer"))
    assert (approved.details["from_version"], approved.details["to_version"]) == (champion, candidate)
    row = read_table(spark, ctx.catalog, "mlhops.approvals").where(F.col("run_id") == "g3").first()
    assert (row["approved_by"], row["action"], row["to_version"]) == ("dr.reviewer", "promote", candidate)
    evidence = json.loads(row["evidence"])
    assert evidence["decision"] == "promote" and evidence["n"] > 0
    assert evidence["auroc_diff_lower"] <= evidence["auroc_diff"] <= evidence["auroc_diff_upper"]
    _run(gctx, "promote", "g4", PromoteOptions(action="rollback", reason="undo the test", approved_by="dr.reviewer"))
