"""MLflow by its conventions, on the monitored UCI warehouse (tests/spark/models/monitored.py):
registered versions served through ``mlflow.pyfunc`` give the scores ``mlhops score`` logged,
evaluation metrics form a series over window starts, and runs name the Delta tables they read.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from pyspark.sql import functions as F

from mlhops.io import read_table, table_version
from mlhops.io.tables.models import INFERENCE_LOG, LABELS
from mlhops.io.tables.monitoring import FEATURES
from mlhops.models import registry
from mlhops.models.assessment import WINDOW_SERIES
from mlhops.pipelines.context import Context
from mlhops.tracking.datasets import VERSION_TAG
from mlhops.tracking.series import SERIES_TAG, step_of, timestamp_of
from tests.spark.models.conftest import DRIFT_FROM
from tests.spark.models.monitored import MONITORED_TASK

# Scored visits compared per version (the whole chain is exercised; a sample keeps it quick).
N_ROWS = 300


@pytest.fixture(scope="module")
def ctx(spark, monitored):
    return Context.build(monitored.settings, spark)


@pytest.fixture(scope="module")
def champion(ctx):
    return registry.load(ctx.tracker, MONITORED_TASK, registry.CHAMPION)


@pytest.fixture(scope="module")
def scored(ctx, champion):
    """Feature rows of visits the champion scored, with the score the inference log holds."""
    log = read_table(ctx.spark, ctx.catalog, INFERENCE_LOG).where(
        (F.col("model_name") == MONITORED_TASK) & (F.col("model_version") == champion.version))
    features = read_table(ctx.spark, ctx.catalog, FEATURES).withColumn(
        "visit_hash", ctx.hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")))
    joined = features.join(log.select("visit_hash", "score"), "visit_hash")
    return joined.orderBy("visit_hash").limit(N_ROWS).select(*champion.features, "score").cache()


def test_the_champion_through_pyfunc_gives_the_inference_logs_scores(ctx, champion, scored):
    import mlflow

    rows = scored.toPandas()
    assert len(rows) == N_ROWS
    model = mlflow.pyfunc.load_model(registry.model_uri(ctx.tracker, MONITORED_TASK, registry.CHAMPION))
    served = np.asarray(model.predict(rows[list(champion.features)]), dtype=float)
    np.testing.assert_allclose(served, rows["score"].to_numpy(), rtol=0, atol=1e-12)
    assert np.unique(np.round(served, 6)).size > 20  # probabilities, not 0/1 decisions


def test_the_champion_as_a_spark_udf_gives_the_inference_logs_scores(spark, ctx, champion, scored):
    import mlflow

    udf = mlflow.pyfunc.spark_udf(spark, registry.model_uri(ctx.tracker, MONITORED_TASK, registry.CHAMPION),
                                  env_manager="local")
    out = scored.withColumn("served", udf(*champion.features)).select("score", "served").toPandas()
    assert len(out) == N_ROWS
    np.testing.assert_allclose(out["served"].to_numpy(), out["score"].to_numpy(), rtol=0, atol=1e-12)


def test_a_recalibrated_version_through_pyfunc_gives_mlhops_probabilities(ctx, monitored, scored):
    """The recalibration the evaluations registered serves what mlhops scores it with."""
    import mlflow

    recal = [r.details["recalibration"] for k, r in monitored.results.items()
             if k.startswith("evaluate") and "recalibration" in r.details]
    assert recal  # the planted miscalibration triggers one
    version = recal[-1]["version"]
    loaded = registry.load(ctx.tracker, MONITORED_TASK, version)
    assert registry.version_tags(ctx.tracker, MONITORED_TASK, version)["mlhops.kind"] == "recalibration"
    rows = scored.toPandas()[list(loaded.features)]
    served = mlflow.pyfunc.load_model(registry.model_uri(ctx.tracker, MONITORED_TASK, version)).predict(rows)
    np.testing.assert_allclose(np.asarray(served, dtype=float), loaded.model.predict_proba(rows)[:, 1],
                               rtol=0, atol=1e-12)


def test_evaluation_metrics_are_one_series_per_version_stepped_by_window_start(spark, ctx, champion):
    client = ctx.tracker.client()
    window = ctx.settings.models.window
    runs = client.search_runs(
        [ctx.tracker.configure()],
        filter_string=f"tags.`{SERIES_TAG}` = '{WINDOW_SERIES}' and tags.`mlhops.model` = '{MONITORED_TASK}' "
                      f"and tags.`mlhops.model_version` = '{champion.version}' and tags.`mlhops.window_kind` = '{window}'")
    assert len(runs) == 1  # two evaluations (20 Mar, 1 May) wrote into the one run
    run_id = runs[0].info.run_id
    starts = sorted({r[0] for r in read_table(spark, ctx.catalog, INFERENCE_LOG).where(
        F.col("model_version") == champion.version).select("window_start").distinct().collect()})
    scored = client.get_metric_history(run_id, "n_scored")
    assert sorted({m.step for m in scored}) == [step_of(s) for s in starts]
    assert all(m.timestamp == timestamp_of(dt.date.fromordinal(m.step)) for m in scored)
    # Windows too small to report (models.fairness.min_group_size) have counts only.
    estimated = {m.step for m in client.get_metric_history(run_id, "cbpe_auroc")}
    assert len(estimated) >= 4 and estimated <= {step_of(s) for s in starts}
    # Labels known by 1 May reach windows the first evaluation saw unlabelled: a second point there.
    labelled: dict[int, set[float]] = {}
    for m in client.get_metric_history(run_id, "n_labelled"):
        labelled.setdefault(m.step, set()).add(m.value)
    grown = [step for step, values in labelled.items() if len(values) == 2]
    assert grown and all(step_of(DRIFT_FROM) <= step for step in grown)


def _inputs(run) -> dict[str, dict]:
    return {d.dataset.name: {"source": json.loads(d.dataset.source), "tags": {t.key: t.value for t in d.tags}}
            for d in run.inputs.dataset_inputs}


def test_the_training_run_names_its_delta_inputs_as_datasets(ctx, monitored):
    train = monitored.results["train"]
    run = ctx.tracker.client().get_run(train.details["mlflow_run_id"])
    inputs = _inputs(run)
    assert set(inputs) == {FEATURES, LABELS}
    assert inputs[FEATURES]["source"]["path"] == ctx.catalog.path(FEATURES)
    assert inputs[LABELS]["tags"][VERSION_TAG] == str(train.tables[LABELS])
    features_version = int(inputs[FEATURES]["tags"][VERSION_TAG])
    assert inputs[FEATURES]["source"].get("delta_table_version", 0) == features_version
    assert features_version <= table_version(ctx.spark, ctx.catalog, FEATURES)
    assert all(i["tags"]["mlflow.data.context"] == "training" for i in inputs.values())


def test_each_evaluation_run_names_the_inference_log_and_labels_it_read(ctx):
    client = ctx.tracker.client()
    runs = client.search_runs([ctx.tracker.configure()],
                              filter_string="tags.`mlhops.stage` = 'evaluate' and tags.`mlhops.run_id` = 'm-evaluate_later'")
    with_inputs = [r for r in runs if r.inputs.dataset_inputs]
    assert len(with_inputs) == 1
    inputs = _inputs(with_inputs[0])
    assert set(inputs) == {INFERENCE_LOG, LABELS}
    assert inputs[INFERENCE_LOG]["source"]["path"] == ctx.catalog.path(INFERENCE_LOG)
    assert int(inputs[INFERENCE_LOG]["tags"][VERSION_TAG]) == table_version(ctx.spark, ctx.catalog, INFERENCE_LOG)
    assert all(i["tags"]["mlflow.data.context"] == "evaluation" for i in inputs.values())
