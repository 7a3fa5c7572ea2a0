"""``mlhops erase`` on a copy of a real Synthea warehouse: two patients out of every table, their
old file versions purged, the versions trained on them flagged, the request recorded without ids."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import functions as F

from mlhops.drift.references import DETECTOR_REFERENCES
from mlhops.erasure.apply import RETRAIN_TAG
from mlhops.erasure.tables import ERASURES
from mlhops.io import read_table, table_version
from mlhops.io.tables.models import INFERENCE_LOG, MODEL_TRIGGERS
from tests.spark.erasure.conftest import DRIFT_MODEL, N_ERASED, RISK_MODEL, _table_counts, run_cli


def _files_holding(root: str, column: str, values: set) -> list[str]:
    """Parquet files (any version, change data included; the Delta log aside) with one of ``values``."""
    out = []
    for f in glob.glob(f"{root}/**/*.parquet", recursive=True):
        if "/_delta_log/" in f:
            continue
        table = pq.read_table(f)
        if column in table.column_names and values & set(table.column(column).to_pylist()):
            out.append(f)
    return out


def test_the_persons_rows_are_gone_from_every_table_and_nothing_else_is(spark, erased):
    catalog = erased.ctx.catalog
    after = _table_counts(spark, catalog)
    record = erased.outcome[0]
    deleted = dict(record["rows_deleted"])
    # Every table with a person column lost exactly the persons' rows; the record says so.
    for table, n in erased.erased_rows.items():
        assert after[table] == erased.before[table] - n, table
        assert deleted.get(table, 0) == n, table
    # Other tables changed only by what the record counts (linked rows, the id map); none grew.
    for table, n in erased.before.items():
        if table not in (ERASURES, MODEL_TRIGGERS):
            assert after[table] == n - deleted.get(table, 0), table
    assert deleted["omop.person"] == N_ERASED and deleted["omop.visit_occurrence"] > 0
    assert deleted[DETECTOR_REFERENCES] > 0 and deleted[INFERENCE_LOG] > 0 and deleted["mlhops.id_map"] > N_ERASED
    people = read_table(spark, catalog, "omop.person")
    assert people.where(F.col("person_id").isin(erased.persons)).count() == 0
    assert people.count() == erased.before["omop.person"] - N_ERASED > 0


def test_no_trace_is_left_in_any_version_or_change_data_file(spark, erased):
    wh = erased.ctx.catalog.warehouse
    persons = set(erased.persons)
    assert _files_holding(f"{wh}/omop", "person_id", persons) == []
    assert _files_holding(f"{wh}/mlhops", "person_id", persons) == []
    assert _files_holding(f"{wh}/mlhops/inference_log", "person_hash", set(erased.person_hashes)) == []
    assert _files_holding(f"{wh}/mlhops/id_map", "key_hash", set(erased.key_hashes)) == []
    # Time travel to before the erasure no longer finds their rows (the old files were vacuumed).
    try:
        old = read_table(spark, erased.ctx.catalog, "omop.person", version=0)
        assert old.where(F.col("person_id").isin(erased.persons)).count() == 0
    except Exception as exc:  # noqa: BLE001 - Delta refuses to read a version whose files are gone
        assert "FileNotFound" in type(exc).__name__ or "does not exist" in str(exc) or "FAILED_READ_FILE" in str(exc)


def test_versions_trained_on_them_are_flagged_for_retraining(spark, erased):
    client = erased.ctx.tracker.client()
    record = erased.outcome[0]
    # (The session's MLflow store holds other tests' models too: only this warehouse's are asserted.)
    ours = sorted(f for f in record["flagged"] if f.split("@")[0] in (DRIFT_MODEL, RISK_MODEL))
    assert ours == [f"{DRIFT_MODEL}@1", f"{RISK_MODEL}@1"]
    assert client.get_model_version(RISK_MODEL, "1").tags[RETRAIN_TAG] == record["erasure_id"]
    assert client.get_model_version(DRIFT_MODEL, "1").tags[RETRAIN_TAG] == record["erasure_id"]
    # Trained before any of their labels was known: not trained on them, not flagged.
    assert RETRAIN_TAG not in client.get_model_version(RISK_MODEL, "2").tags
    triggers = read_table(spark, erased.ctx.catalog, MODEL_TRIGGERS).where(
        "kind = 'erasure'" f" AND model_name IN ('{DRIFT_MODEL}', '{RISK_MODEL}')").collect()
    assert sorted((r["model_name"], r["model_version"], r["action"]) for r in triggers) == [
        (DRIFT_MODEL, "1", "refit"), (RISK_MODEL, "1", "retrain")]


def test_the_erasure_record_has_who_why_and_counts_and_no_identifier(erased):
    (record,) = erased.outcome
    assert (record["erased_by"], record["reason"], record["source"]) == (
        "privacy-officer", "data subject request", "synthea-csv")
    assert (record["n_ids"], record["n_persons"], record["status"]) == (N_ERASED, N_ERASED, "complete")
    assert record["vacuum_retention_hours"] == 0.0 and dict(record["traces"]) == {}
    text = json.dumps(record.asDict(recursive=True), default=str)
    for secret in [*erased.ids, *erased.person_hashes, *erased.key_hashes]:
        assert secret not in text


def test_the_drift_detector_still_loads_from_the_rows_left(spark, erased):
    from mlhops.drift.registry import load_registered

    reg = load_registered(erased.ctx.tracker.client(), DRIFT_MODEL, "production", spark=spark,
                          catalog=erased.ctx.catalog)
    suite = reg.suites[("all", "all")]
    assert 0 < len(suite.reference) < suite.meta["n_reference"]
    assert not set(suite.reference["person_id"]) & set(erased.persons)


def test_erasing_the_same_ids_again_is_a_recorded_no_op(spark, erased):
    catalog = erased.ctx.catalog
    # The writer lease is claimed and released (its own commits); the record gains its row.
    data_tables = [t for t in _table_counts(spark, catalog) if t not in (ERASURES, "mlhops.writer_lease")]
    versions = {t: table_version(spark, catalog, t) for t in data_tables}
    assert run_cli(erased.ctx.settings, Path(erased.ids_file)) == 0
    assert {t: table_version(spark, catalog, t) for t in data_tables} == versions
    rows = read_table(spark, catalog, ERASURES).orderBy("requested_at").collect()
    assert [(r["status"], r["n_persons"], dict(r["rows_deleted"])) for r in rows][1:] == [("no_op", 0, {})]
