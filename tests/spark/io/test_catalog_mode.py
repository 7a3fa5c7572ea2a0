"""Catalog mode (``catalog.kind: metastore``): the nightly pipeline with every table registered in
Spark's own session catalog as ``spark_catalog.<schema>.<table>`` and read and written by that name.

One nightly run on the shared 27-patient Synthea export (the fault-injection harness's revisit
task and monthly statistics, so that every stage has work), compared with the path-mode ETL of the
same export (the session's ``synthea27`` run, same salt and settings).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import DataFrame

from mlhops.io import Catalog, read_table
from mlhops.io.delta import table_location
from mlhops.io.tables import all_tables
from mlhops.io.tables.monitoring import FEATURES
from mlhops.pipelines import StageRequest, nightly_stages
from mlhops.pipelines.context import Context
from mlhops.pipelines.orchestrate import run_stages
from tests.support.fault_injection import REVISIT_TASK, RUN_DEPENDENT

CATALOG = "spark_catalog"
OMOP_SCHEMA, OPS_SCHEMA = "cdm_catalog_test", "mlhops_catalog_test"


@pytest.fixture(scope="module")
def nightly(spark, settings_factory, tmp_path_factory, synthea27):
    tasks = tmp_path_factory.mktemp("tasks")
    (tasks / "fi_revisit_30d.yaml").write_text(REVISIT_TASK)
    settings = settings_factory(
        catalog={"kind": "metastore", "name": CATALOG, "omop_schema": OMOP_SCHEMA, "mlhops_schema": OPS_SCHEMA},
        etl={"inputs": {"synthea-csv": str(synthea27.input_dir)}},
        models={"task": "fi_revisit_30d", "tasks_dir": str(tasks)},
        stats={"granularities": ["month"], "sliding_days": [], "cumulative": False, "slices": [],
               "drift": {"granularities": ["month"], "min_samples": 5}},
        drift={"slices": []},
    )
    ctx = Context.build(settings, spark)
    summary = run_stages(ctx, nightly_stages(), StageRequest(run_id="catalog-nightly"))
    yield ctx, {o.stage: o for o in summary.outcomes}
    for schema in (OMOP_SCHEMA, OPS_SCHEMA):  # the session catalog outlives this module
        spark.sql(f"DROP SCHEMA IF EXISTS {CATALOG}.{schema} CASCADE")


def _registered(spark, schema: str) -> set[str]:
    return {t.name for t in spark.catalog.listTables(f"{CATALOG}.{schema}") if not t.isTemporary}


def _delta_folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if (p / "_delta_log").is_dir()} if root.is_dir() else set()


def _rows(df: DataFrame, table: str) -> DataFrame:
    return df.drop(*RUN_DEPENDENT.get(table, {}))


def test_every_nightly_stage_runs_in_catalog_mode(nightly):
    _, outcomes = nightly
    assert list(outcomes) == nightly_stages()
    assert {s: o.status for s, o in outcomes.items() if o.status not in ("ok", "alerts")} == {}


def test_every_table_written_is_registered_under_the_configured_schemas_and_nothing_beside_them(nightly):
    ctx, _ = nightly
    spark, wh = ctx.spark, Path(ctx.settings.warehouse)
    omop, ops = _registered(spark, OMOP_SCHEMA), _registered(spark, OPS_SCHEMA)
    known = all_tables()
    assert {"person", "visit_occurrence", "measurement", "observation_period"} <= omop
    assert {"id_map", "runs", "features", "profile_states", "drift_metrics", "inference_log"} <= ops
    assert {f"omop.{t}" for t in omop} | {f"mlhops.{t}" for t in ops} <= set(known)
    # Spark's session catalog places the schemas under the warehouse root: every Delta folder
    # there is one of the registered tables (no write went by path beside the catalog).
    assert _delta_folders(wh / "omop") == omop
    assert _delta_folders(wh / "mlhops") == ops
    assert table_location(spark, ctx.catalog, "omop.person").rstrip("/").endswith(f"{wh.name}/omop/person")


def test_the_omop_tables_hold_the_same_rows_as_the_path_mode_etl_of_the_same_export(nightly, synthea27):
    ctx, _ = nightly
    spark = ctx.spark
    path_mode = Catalog(synthea27.settings.warehouse)
    compared = 0
    for table in sorted(_registered(spark, OMOP_SCHEMA)) + ["id_map"]:
        name = f"{'mlhops' if table == 'id_map' else 'omop'}.{table}"
        by_name = _rows(spark.read.table(f"{CATALOG}.{OPS_SCHEMA if table == 'id_map' else OMOP_SCHEMA}.{table}"), name)
        by_path = _rows(read_table(spark, path_mode, name), name)
        assert by_name.count() == by_path.count(), name
        assert by_name.exceptAll(by_path).isEmpty() and by_path.exceptAll(by_name).isEmpty(), name
        compared += 1
    assert compared >= 10


def test_the_training_run_names_its_inputs_by_their_catalog_names(nightly):
    ctx, outcomes = nightly
    train = outcomes["train"].result
    run = ctx.tracker.client().get_run(train.details["mlflow_run_id"])
    sources = {d.dataset.name: json.loads(d.dataset.source) for d in run.inputs.dataset_inputs}
    assert sources[FEATURES]["delta_table_name"] == f"{CATALOG}.{OPS_SCHEMA}.features"
    assert "path" not in sources[FEATURES]
