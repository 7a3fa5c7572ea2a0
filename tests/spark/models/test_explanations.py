"""Model explanations and the membership check on the monitored UCI warehouse (real nightly
stages: train computed the training profile and the check, evaluate the window profiles)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.io import read_table
from mlhops.io.tables.models import INFERENCE_LOG, LABELS, MODEL_IMPORTANCE, MODEL_PRIVACY
from mlhops.io.tables.monitoring import FEATURES
from mlhops.models import explain, privacy, registry
from mlhops.models.task import load_task
from mlhops.models.training import training_frame
from mlhops.pipelines.context import Context
from tests.spark.models.monitored import TRAIN_AS_OF


@pytest.fixture(scope="module")
def ctx(spark, monitored):
    return Context.build(monitored.settings, spark)


@pytest.fixture(scope="module")
def champion(ctx):
    name = load_task(ctx.settings).registered_model
    return registry.load(ctx.tracker, name, registry.CHAMPION)


@pytest.fixture(scope="module")
def importance(ctx) -> pd.DataFrame:
    return read_table(ctx.spark, ctx.catalog, MODEL_IMPORTANCE).toPandas()


def test_training_stored_and_logged_the_champions_importance_profile(ctx, champion, importance):
    mine = importance[(importance["model_version"] == champion.version)
                      & (importance["computed_on"] == explain.TRAINING)].sort_values("rank")
    assert set(mine["feature"]) == set(champion.features)
    assert mine["rank"].tolist() == list(range(1, len(champion.features) + 1))
    assert (mine["ci_lower"] <= mine["importance"]).all() and (mine["importance"] <= mine["ci_upper"]).all()
    run = ctx.tracker.client().get_run(champion.run_id)
    top = mine.iloc[0]
    assert run.data.metrics[f"importance.{top['feature']}"] == pytest.approx(top["importance"])
    tags = registry.version_tags(ctx.tracker, champion.name, champion.version)
    assert tags["mlhops.top_feature"] == top["feature"]


def test_the_strongest_predictor_keeps_its_rank_across_permutation_seeds(ctx, champion, importance):
    task = load_task(ctx.settings)
    names = list(champion.features)
    # The champion's own validation persons (the split training used).
    frame = training_frame(read_table(ctx.spark, ctx.catalog, FEATURES), read_table(ctx.spark, ctx.catalog, LABELS),
                           [], task, F.lit(TRAIN_AS_OF)).select("visit_occurrence_id", "label", "is_validation")
    feats = read_table(ctx.spark, ctx.catalog, FEATURES).select("visit_occurrence_id", *names)
    val = frame.where("is_validation").join(feats, "visit_occurrence_id").orderBy("visit_occurrence_id").toPandas()
    stored = importance[(importance["model_version"] == champion.version)
                        & (importance["computed_on"] == explain.TRAINING)]
    strongest = stored.loc[stored["rank"] == 1, "feature"].iloc[0]
    tops = {explain.permutation_importance(champion.model, val, val["label"].to_numpy(), names, repeats=3,
                                           seed=seed, confidence=0.95)[0].feature for seed in (1, 2, 3)}
    assert tops == {strongest}


def test_each_labelled_window_has_a_profile_and_its_rank_correlation_with_training(ctx, champion, importance):
    cfg = ctx.settings.models.explain
    windows = importance[importance["computed_on"] != explain.TRAINING]
    assert len(windows) and (windows["n"] >= cfg.min_window_cases).all()
    training = importance[importance["computed_on"] == explain.TRAINING]
    for (version, on), g in windows.groupby(["model_version", "computed_on"]):
        assert set(g["feature"]) == set(champion.features) and g["rank_correlation"].nunique(dropna=False) == 1
        ref = training[training["model_version"] == version]
        if ref.empty:  # a recalibration has no training profile of its own
            assert g["rank_correlation"].isna().all()
            continue
        expected = explain.rank_correlation(dict(zip(ref["feature"], ref["importance"])),
                                            dict(zip(g["feature"], g["importance"])))
        assert g["rank_correlation"].iloc[0] == pytest.approx(expected)
        assert -1.0 <= expected <= 1.0


def test_explaining_a_scored_visit_uses_only_that_visits_values_and_the_training_reference(ctx, champion):
    log = read_table(ctx.spark, ctx.catalog, INFERENCE_LOG).where(
        F.col("model_version") == champion.version).orderBy("visit_hash").limit(1).collect()[0]
    result = explain.explain_visit(ctx.spark, ctx.catalog, ctx.hasher, ctx.tracker, model_name=champion.name,
                                   version=champion.version, visit_hash=log["visit_hash"], top_k=5)
    assert result.score == pytest.approx(log["score"])  # the very row the log scored
    assert len(result.contributions) == 5 and result.unit == "logit"
    row = explain.find_visit(read_table(ctx.spark, ctx.catalog, FEATURES), ctx.hasher, log["visit_hash"],
                             champion.features)
    reference = explain.training_reference(champion.run_id)
    for c in result.contributions:
        value = row[c.feature].iloc[0]
        assert (c.value is None and pd.isna(value)) or c.value == value
        assert c.reference == reference[c.feature]
    text = explain.render_text(result)
    assert text.splitlines()[2].startswith(result.contributions[0].feature)
    with pytest.raises(explain.ExplainError):
        explain.explain_visit(ctx.spark, ctx.catalog, ctx.hasher, ctx.tracker, model_name=champion.name,
                              version=champion.version, visit_hash="0" * 64, top_k=5)


def test_the_regularised_champion_passes_the_membership_check(ctx, champion):
    rows = read_table(ctx.spark, ctx.catalog, MODEL_PRIVACY).where(
        F.col("model_version") == champion.version).toPandas()
    assert len(rows) == 1
    r = rows.iloc[0]
    assert 0.4 < r["auroc"] < 0.6 and r["ci_lower"] <= r["auroc"] <= r["ci_upper"]
    assert r["verdict"] == privacy.PASS and r["max_auroc"] == ctx.settings.models.privacy.max_attack_auroc
    tags = registry.version_tags(ctx.tracker, champion.name, champion.version)
    assert tags["mlhops.membership_verdict"] == privacy.PASS
    assert float(tags["mlhops.membership_auroc"]) == pytest.approx(r["auroc"], abs=1e-4)
    assert np.isfinite(ctx.tracker.client().get_run(champion.run_id).data.metrics["membership_auroc"])
