"""Synthea CSV layouts from 2.x to 3.3 through the real ``etl`` stage, on real populations.

* the shared Synthea 3.3.0 export (``synthea330_ma300``, gzip CSV) loads with every source row
  accounted for and one person per patient;
* a copy of a real export with a required column removed fails the stage with a message naming
  the file and the column (never a raw Spark AnalysisException);
* every CONCEPT / CONCEPT_RELATIONSHIP part of a vocabulary folder is read, de-duplicated.

A population generated with another state and seed loading with no code change is
tests/e2e/test_generated_population.py (the same ``mlhops generate``, then the CLI's etl).
"""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table
from tests.conftest import reads_shared_data, shared_path
from tests.spark.etl.conftest import etl_request

pytestmark = pytest.mark.heavy


def _rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _run_etl(spark, settings, input_dir: Path, run_id: str):
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.orchestrate import run_stage

    return run_stage(Context.build(settings, spark), "etl", etl_request(run_id, "synthea-csv", input_dir))


def _table_name(path: Path) -> str:
    return path.name.split(".", 1)[0]


@pytest.fixture(scope="module")
@reads_shared_data
def ma330(spark, settings_factory):
    settings = settings_factory()
    input_dir = shared_path("synthea330_ma300", "csv")
    return settings, _run_etl(spark, settings, input_dir, "layout-330"), input_dir


def _assert_loaded(spark, settings, outcome, input_dir: Path) -> None:
    assert outcome.status in ("ok", "alerts"), outcome.message
    m = outcome.result.metrics
    files = sorted(p for p in input_dir.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    assert files
    for f in files:
        t = _table_name(f)
        read = m[f"rows_read.{t}"]
        assert read == len(_rows(f)), t
        assert read == m[f"rows_loaded.{t}"] + m[f"rows_quarantined.{t}"] + m[f"rows_filtered.{t}"], t
    cat = Catalog(settings.warehouse)
    patients = _rows(next(p for p in files if _table_name(p) == "patients"))
    assert read_table(spark, cat, "omop.person").count() == len(patients)
    transitions = next(p for p in files if _table_name(p) == "payer_transitions")
    periods = read_table(spark, cat, "omop.payer_plan_period")
    assert periods.count() == m["rows_loaded.payer_transitions"] == len(_rows(transitions))
    assert periods.where(F.col("payer_plan_period_start_date").isNull()).count() == 0


def test_synthea_330_export_loads_with_every_row_accounted_for(spark, ma330):
    settings, outcome, input_dir = ma330
    _assert_loaded(spark, settings, outcome, input_dir)
    assert outcome.result.details["layout"] == "synthea-3.3"
    # 3.3 has no OWNERSHIP column in payer_transitions: the sponsor comes from PLAN_OWNERSHIP.
    periods = read_table(spark, Catalog(settings.warehouse), "omop.payer_plan_period")
    owners = {r["PLAN_OWNERSHIP"] for r in _rows(input_dir / "payer_transitions.csv.gz") if r["PLAN_OWNERSHIP"]}
    loaded = {r[0] for r in periods.select("sponsor_source_value").distinct().collect() if r[0]}
    assert owners and loaded == owners


def test_conditions_and_procedures_with_a_system_column_are_mapped_as_snomed(spark, ma330):
    settings, outcome, input_dir = ma330
    systems = {r["SYSTEM"] for r in _rows(input_dir / "conditions.csv.gz")}
    assert systems == {"SNOMED-CT"}
    rates = outcome.result.details["mapping"]
    assert set(rates) >= {"SNOMED", "RxNorm", "LOINC", "CVX"}
    assert "SNOMED-CT" not in rates
    cond = read_table(spark, Catalog(settings.warehouse), "omop.condition_occurrence")
    assert cond.where("condition_concept_id != 0").count() > 0


@pytest.mark.shared_data
@pytest.mark.parametrize(("file", "column"), [("payer_transitions.csv.gz", "START_DATE"), ("conditions.csv.gz", "CODE")])
def test_a_missing_required_column_fails_the_stage_naming_file_and_column(spark, settings_factory, tmp_path, file, column):
    src = shared_path("synthea330_ma300", "csv")
    dst = tmp_path / "csv"
    dst.mkdir()
    for name in ("patients.csv.gz", "encounters.csv.gz", file):
        shutil.copy(src / name, dst / name)
    rows = _rows(src / file)
    with gzip.open(dst / file, "wt", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[c for c in rows[0] if c != column], extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    outcome = _run_etl(spark, settings_factory(), dst, f"layout-missing-{column.lower()}")
    assert outcome.status == "failed"
    assert outcome.message.startswith("SyntheaLayoutError:"), outcome.message
    assert file in outcome.message and column in outcome.message
    assert "AnalysisException" not in outcome.message


def test_every_concept_and_relationship_part_of_the_folder_is_read_once(spark, tmp_path):
    from mlhops.etl.vocabulary import load_vocabulary

    header = "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,concept_code,valid_start_date,valid_end_date,invalid_reason\n"
    rel_header = "concept_id_1,concept_id_2,relationship_id,valid_start_date,valid_end_date,invalid_reason\n"
    files = {
        "CONCEPT.csv": header + "1,One,Condition,SNOMED,Clinical Finding,S,111,1970-01-01,2099-12-31,\n",
        "CONCEPT_extra.csv": header + "1,One again,Condition,SNOMED,Clinical Finding,S,111,1970-01-01,2099-12-31,\n"
                                      "2,Two,Drug,CVX,CVX,S,222,1970-01-01,2099-12-31,\n",
        "CONCEPT_RELATIONSHIP.csv": rel_header + "2,2,Maps to,1970-01-01,2099-12-31,\n",
        "CONCEPT_RELATIONSHIP_extra.csv": rel_header + "2,2,Maps to,1970-01-01,2099-12-31,\n1,1,Maps to,1970-01-01,2099-12-31,\n",
        "CONCEPT_ANCESTOR.csv": "ancestor_concept_id,descendant_concept_id\n1,2\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    vocab = load_vocabulary(spark, str(tmp_path))
    concepts = {r["concept_id"]: r["concept_name"] for r in vocab.concept.collect()}
    assert concepts == {1: "One", 2: "Two"}  # the unsuffixed file wins a shared id
    rels = sorted((r["concept_id_1"], r["concept_id_2"]) for r in vocab.concept_relationship.collect())
    assert rels == [(1, 1), (2, 2)]
    assert len(vocab.files) == 4
