"""An erasure on a copy of the Synthea warehouse of ``synthea27`` (27 real-population patients)
with the platform tables a monitored warehouse holds: features, labels, inference log, a
registered drift detector (its reference rows in Delta) and registered model versions."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from tests.conftest import shared_path

TASK = "readmission_30d"
RISK_MODEL = "erase-risk"
DRIFT_MODEL = "erase-drift"
N_ERASED = 2


@dataclass
class Erased:
    """The warehouse after one erasure, with what the test knew before it."""

    ctx: object
    ids: list[str]
    persons: list[int]
    person_hashes: list[str]
    key_hashes: list[str]
    before: dict[str, int]
    erased_rows: dict[str, int]
    outcome: object
    ids_file: Path


def _table_counts(spark, catalog) -> dict[str, int]:
    from mlhops.drift.references import DETECTOR_REFERENCES
    from mlhops.io import read_table, table_exists
    from mlhops.io.tables import all_tables

    names = [*all_tables(), DETECTOR_REFERENCES]
    return {n: read_table(spark, catalog, n).count() for n in sorted(names) if table_exists(spark, catalog, n)}


def _platform_tables(spark, ctx) -> None:
    """Features, labels and an inference log built from the warehouse's own visits."""
    from mlhops.io import merge_into, read_table
    from mlhops.io.tables.models import INFERENCE_LOG, LABELS
    from mlhops.io.tables.monitoring import FEATURES

    visits = read_table(spark, ctx.catalog, "omop.visit_occurrence").select(
        F.col("person_id").cast("long").alias("person_id"),
        F.col("visit_occurrence_id").cast("long").alias("visit_occurrence_id"),
        F.col("visit_start_datetime").alias("event_time"), F.col("visit_start_date").alias("event_date"),
        F.col("care_site_id").cast("long").alias("care_site_id"),
        (F.datediff("visit_end_date", "visit_start_date") + F.lit(0.0)).alias("los_days"),
        F.col("visit_concept_id").cast("string").alias("visit_kind"),
    )
    merge_into(visits, ctx.catalog, FEATURES, ["visit_occurrence_id"])
    labels = visits.select(
        F.lit(TASK).alias("task"), "person_id", "visit_occurrence_id", F.col("event_date").alias("index_date"),
        (F.col("visit_occurrence_id") % 2).cast("int").alias("label"),
        F.date_add("event_date", 30).alias("label_available_date"))
    merge_into(labels, ctx.catalog, LABELS, ["task", "visit_occurrence_id"])
    log = visits.select(
        F.lit(RISK_MODEL).alias("model_name"), F.lit("1").alias("model_version"), F.lit(TASK).alias("task"),
        F.col("event_date").alias("window_start"), F.date_add("event_date", 1).alias("window_end"),
        ctx.hasher.hash("person_id", F.col("person_id")).alias("person_hash"),
        ctx.hasher.hash("visit_occurrence_id", F.col("visit_occurrence_id")).alias("visit_hash"),
        "event_time", F.lit(0.3).alias("score"), F.lit(0.5).alias("threshold"), F.lit(0).alias("decision"),
        F.create_map(F.lit("site"), F.col("care_site_id").cast("string")).alias("subgroups"),
        F.current_timestamp().alias("scored_at"))
    merge_into(log, ctx.catalog, INFERENCE_LOG, ["model_name", "model_version", "visit_hash"])


def _register_models(spark, ctx) -> None:
    """A drift detector fitted on the features (rows in Delta) and two risk model versions: one
    trained after every label was known, one before any was (never trained on anybody)."""
    from mlhops.drift.detectors import SuiteConfig, fit_suite
    from mlhops.drift.registry import register_suites
    from mlhops.io import read_table
    from mlhops.io.tables.monitoring import FEATURES
    from tests.unit.drift.uci import Feat

    rows = read_table(spark, ctx.catalog, FEATURES).orderBy("visit_occurrence_id").toPandas()
    fit_rows, ref_rows = rows[rows.index % 2 == 0], rows[rows.index % 2 == 1]
    cfg = SuiteConfig(detectors=("ks",), vae_epochs=1, latent_dim=2, hidden_dim=8, device="cpu")
    suite = fit_suite(ref_rows.reset_index(drop=True), [Feat("los_days", "numeric"), Feat("visit_kind", "categorical")],
                      cfg, fit_sample=fit_rows.reset_index(drop=True))
    client = ctx.tracker.client()
    with ctx.tracker.run("drift_fit") as run:
        register_suites(client, {("all", "all"): suite}, model_name=DRIFT_MODEL, run_id=run.info.run_id, tags={},
                        alias="production", spark=spark, catalog=ctx.catalog, fit_persons=fit_rows["person_id"])
    client.create_registered_model(RISK_MODEL)
    with ctx.tracker.run("train") as run:
        for as_of in ("2100-01-01", "1900-01-01"):
            client.create_model_version(RISK_MODEL, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                        tags={"mlhops.task": TASK, "mlhops.labels_as_of": as_of})


def _persons(spark, ctx, ids: list[str]) -> tuple[list[int], list[str], list[str]]:
    """The OMOP ids, person hashes and id-map key hashes of ``ids`` (through the warehouse's hasher)."""
    from mlhops.io import read_table

    keys = spark.createDataFrame([(i,) for i in ids], "key string").select(
        ctx.hasher.hash("person", F.col("key")).alias("key_hash")).localCheckpoint(eager=True)
    found = read_table(spark, ctx.catalog, "mlhops.id_map").where("kind = 'person'").join(keys, "key_hash").collect()
    persons = sorted(int(r["id"]) for r in found)
    hashed = spark.createDataFrame([(p,) for p in persons], "p long").select(
        ctx.hasher.hash("person_id", F.col("p")).alias("h")).collect()
    return persons, sorted(r["h"] for r in hashed), sorted(r["key_hash"] for r in found)


def _erased_rows(spark, ctx, persons: list[int], hashes: list[str]) -> dict[str, int]:
    """Rows of the persons in every table keyed by person (counted before the erasure)."""
    from mlhops.drift.references import DETECTOR_REFERENCES
    from mlhops.io import read_table, table_exists
    from mlhops.io.tables import all_tables

    out = {}
    for name in sorted([*all_tables(), DETECTOR_REFERENCES]):
        if not table_exists(spark, ctx.catalog, name):
            continue
        df = read_table(spark, ctx.catalog, name)
        if "person_id" in df.columns:
            out[name] = df.where(F.col("person_id").isin(persons)).count()
        elif "person_hash" in df.columns:
            out[name] = df.where(F.col("person_hash").isin(hashes)).count()
    return out


def run_cli(settings, ids_file: Path) -> int:
    """``mlhops erase`` as an operator types it, against the test session's MLflow store."""
    from mlhops.cli import main

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_REGISTRY_URI"] = settings.mlflow.tracking_uri
    try:
        return main(["erase", "--source", "synthea-csv", "--ids", str(ids_file), "--warehouse", settings.warehouse,
                     "--by", "privacy-officer", "--reason", "data subject request"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def erased(spark, synthea27, settings_factory, tmp_path_factory) -> Erased:
    from mlhops.erasure.tables import ERASURES
    from mlhops.io import read_table
    from mlhops.pipelines.context import Context

    root = tmp_path_factory.mktemp("erasure") / "warehouse"
    shutil.copytree(synthea27.settings.warehouse, root, ignore=shutil.ignore_patterns("mlflow"))
    settings = settings_factory(warehouse=root)
    ctx = Context.build(settings, spark)
    _platform_tables(spark, ctx)
    _register_models(spark, ctx)
    patients = pd.read_csv(shared_path("synthea27_csv", "patients.csv"), usecols=["Id"])["Id"].tolist()
    ids = patients[3:3 + N_ERASED]
    persons, hashes, key_hashes = _persons(spark, ctx, ids)
    assert len(persons) == N_ERASED
    before = _table_counts(spark, ctx.catalog)
    erased_rows = _erased_rows(spark, ctx, persons, hashes)
    ids_file = root.parent / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    assert run_cli(settings, ids_file) == 0
    record = read_table(spark, ctx.catalog, ERASURES).collect()
    return Erased(ctx, ids, persons, hashes, key_hashes, before, erased_rows, record, ids_file)
