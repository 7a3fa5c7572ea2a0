"""One patient is one person: the warehouse writer lease, ids of every source from the id map,
all sources side by side in one warehouse, and two ETL runs started at once."""

from __future__ import annotations

import csv
import logging
import shutil
import threading
import time

import pytest
from pyspark.sql import functions as F

from mlhops.io import Catalog, read_table
from mlhops.io.lease import LeaseLostError, LeaseTiming, WarehouseBusyError, current_holder, writer_lease
from mlhops.io.tables.etl import ID_MAP
from tests.conftest import shared_path
from tests.spark.etl.conftest import run_etl, write_subset

OMOP_REFERENCE = "omop_synthea27nj_cdm54"
# Clinical tables of the OMOP reference build (the vocabulary tables add nothing here).
OMOP_FILES = ["PERSON.csv", "OBSERVATION_PERIOD.csv", "VISIT_OCCURRENCE.csv", "CONDITION_OCCURRENCE.csv",
              "DEATH.csv", "PROVIDER.csv", "CDM_SOURCE.csv"]
OMOP_PERSONS, OMOP_VISITS, OMOP_DEATHS, OMOP_CONDITIONS = 28, 1791, 3, 470
FAST = LeaseTiming(ttl_s=4.0, heartbeat_s=1.0, wait_s=1.0, poll_s=0.2)


def _patient_ids(folder) -> list[str]:
    with open(folder / "patients.csv", newline="", encoding="utf-8") as fh:
        return sorted(r["Id"] for r in csv.DictReader(fh))


def _counts(spark, catalog, tables=("person", "visit_occurrence", "condition_occurrence", "death")) -> dict[str, int]:
    from mlhops.io import table_exists

    return {t: read_table(spark, catalog, f"omop.{t}").count() if table_exists(spark, catalog, f"omop.{t}") else 0
            for t in tables}


# --- the writer lease -------------------------------------------------------------------------


def test_a_second_writer_waits_and_then_fails_naming_the_run_that_holds_the_warehouse(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    with writer_lease(spark, catalog, owner="run-a", stage="etl", timing=FAST):
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as err:
            with writer_lease(spark, catalog, owner="run-b", stage="etl", timing=FAST):
                pytest.fail("run-b must not hold the lease while run-a does")
        assert time.monotonic() - started >= FAST.wait_s
    message = str(err.value)
    assert message.startswith("warehouse busy: run run-a (stage etl) holds the writer lease since ")
    assert "run run-b waited" in message and "Wait for that run to finish" in message
    assert current_holder(spark, catalog) is None  # released on exit


def test_a_released_lease_lets_the_next_writer_in_at_once(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    with writer_lease(spark, catalog, owner="run-a", stage="etl", timing=FAST):
        assert current_holder(spark, catalog).owner == "run-a"
    with writer_lease(spark, catalog, owner="run-b", stage="etl", timing=FAST):
        assert current_holder(spark, catalog).owner == "run-b"


def test_the_lease_of_a_killed_run_expires_and_the_killed_run_cannot_write_on(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    killed = writer_lease(spark, catalog, owner="run-killed", stage="etl", timing=FAST)
    lease = killed.__enter__()
    lease._stop.set()  # its heartbeat stops, as when the process is killed
    lease._thread.join()
    killed_expiry = current_holder(spark, catalog).expires_at
    # The next writer waits at most three ttls: it gets in once the killed run's lease expires
    # (no one has to clear it by hand), and not before (the lease is not taken from a live run).
    patient = LeaseTiming(ttl_s=FAST.ttl_s, heartbeat_s=FAST.heartbeat_s, wait_s=3 * FAST.ttl_s, poll_s=0.2)
    with writer_lease(spark, catalog, owner="run-next", stage="etl", timing=patient):
        holder = current_holder(spark, catalog)
        assert holder.owner == "run-next" and holder.acquired_at >= killed_expiry
        lease.renew()
        with pytest.raises(LeaseLostError, match="run run-killed lost the writer lease"):
            lease.check()


def test_a_held_lease_is_renewed_while_the_run_works(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    with writer_lease(spark, catalog, owner="run-long", stage="etl", timing=FAST) as lease:
        first = current_holder(spark, catalog).expires_at
        time.sleep(FAST.ttl_s + FAST.heartbeat_s)  # longer than the ttl: only the heartbeat keeps it
        assert current_holder(spark, catalog).expires_at > first
        lease.check()


def test_two_claims_at_once_give_the_lease_to_exactly_one(spark, tmp_path):
    catalog = Catalog(str(tmp_path))
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    inside = threading.Lock()

    def claim(owner: str) -> None:
        barrier.wait()
        try:
            with writer_lease(spark, catalog, owner=owner, stage="etl", timing=FAST):
                assert inside.acquire(blocking=False), "two holders at once"
                time.sleep(2 * FAST.wait_s)  # the other one gives up meanwhile
                inside.release()
                outcomes[owner] = "held"
        except WarehouseBusyError:
            outcomes[owner] = "busy"

    threads = [threading.Thread(target=claim, args=(o,)) for o in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["busy", "held"]


# --- the OMOP source's ids come from the id map ---------------------------------------------


def _rewrite_ids(src_dir, dst_dir, files, person_key, visit_key):
    """Copy OMOP reference files with person and visit ids replaced (consistently in every table)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        with open(src_dir / name, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
        for r in rows:
            if r.get("person_id"):
                r["person_id"] = person_key(r["person_id"])
            for col in ("visit_occurrence_id", "preceding_visit_occurrence_id"):
                if r.get(col):
                    r[col] = visit_key(r[col])
        with open(dst_dir / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return dst_dir


def _wide_person_key(raw: str) -> str:
    """64-bit, negative and hashed-string person ids, as real OMOP exports carry them."""
    n = int(raw)
    return [str(9_000_000_000_000_000_000 + n), str(-n), f"pid-{n:04d}-af93c2"][n % 3]


@pytest.fixture(scope="module")
def omop_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("omop-ref")
    for name in OMOP_FILES:
        shutil.copy(shared_path(OMOP_REFERENCE, name), d / name)
    return d


def test_an_export_with_64_bit_negative_and_string_ids_loads_every_person_with_consistent_references(
        spark, settings_factory, omop_dir, tmp_path):
    wide = _rewrite_ids(omop_dir, tmp_path / "wide", OMOP_FILES, _wide_person_key, lambda v: str(2**40 + int(v)))
    settings = settings_factory()
    result = run_etl(spark, settings, wide, "wide-ids", source="omop")
    catalog = Catalog(settings.warehouse)

    assert result.metrics["rows_quarantined.person"] == 0
    assert _counts(spark, catalog) == {"person": OMOP_PERSONS, "visit_occurrence": OMOP_VISITS,
                                       "condition_occurrence": OMOP_CONDITIONS, "death": OMOP_DEATHS}
    person = read_table(spark, catalog, "omop.person")
    visits = read_table(spark, catalog, "omop.visit_occurrence")
    conditions = read_table(spark, catalog, "omop.condition_occurrence")
    person_ids = read_table(spark, catalog, ID_MAP).where("kind = 'person'").select(F.col("id").alias("person_id"))
    assert person.join(person_ids, "person_id", "left_anti").count() == 0  # ids from the map, never the export's
    assert visits.join(person, "person_id", "left_anti").count() == 0
    assert conditions.join(visits.select("visit_occurrence_id"), "visit_occurrence_id", "left_anti").where(
        "visit_occurrence_id IS NOT NULL").count() == 0
    # The same visits per person as in the export (references rewritten consistently).
    with open(omop_dir / "VISIT_OCCURRENCE.csv", newline="", encoding="utf-8") as fh:
        exported = sorted(sum(1 for _ in g) for g in _group(csv.DictReader(fh), "person_id"))
    loaded = sorted(r["count"] for r in visits.groupBy("person_id").count().collect())
    assert loaded == exported


def _group(rows, key):
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r[key], []).append(r)
    return by.values()


# --- every source side by side in one warehouse ----------------------------------------------


@pytest.fixture(scope="module")
def side_by_side(spark, settings_factory, omop_dir, tmp_path_factory):
    """Synthea CSV (6 patients of synthea27), the OMOP reference build and two FHIR bundles
    (synthea_ma115) into one warehouse, with the counts after each load."""
    root = tmp_path_factory.mktemp("side-by-side")
    src = shared_path("synthea27_csv")
    csv_dir = write_subset(src, root / "csv", set(_patient_ids(src)[:6]))
    fhir_dir = root / "fhir"
    fhir_dir.mkdir()
    bundles = sorted(p for p in shared_path("synthea_ma115", "fhir_r4").glob("*.json.gz") if "Information" not in p.name)
    for p in bundles[:2]:
        shutil.copy(p, fhir_dir / p.name)
    settings = settings_factory()
    catalog = Catalog(settings.warehouse)
    steps = []
    for run_id, source, folder in (("sbs-csv", "synthea-csv", csv_dir), ("sbs-omop", "omop", omop_dir),
                                   ("sbs-fhir", "fhir", fhir_dir)):
        result = run_etl(spark, settings, folder, run_id, source=source)
        person = read_table(spark, catalog, "omop.person").select("person_id", "person_source_value",
                                                                   "year_of_birth").collect()
        steps.append((source, result, _counts(spark, catalog), {tuple(r) for r in person}))
    return catalog, steps, settings


@pytest.mark.heavy
def test_every_source_adds_its_own_persons_and_none_is_overwritten(spark, side_by_side):
    catalog, steps, _ = side_by_side
    (_, _, after_csv, persons_csv), (_, omop, after_omop, persons_omop), (_, fhir, after_fhir, persons_fhir) = steps
    assert after_csv["person"] == 6
    assert after_omop["person"] == 6 + OMOP_PERSONS
    assert after_fhir["person"] == 6 + OMOP_PERSONS + 2
    # Earlier rows are untouched: every person row stays exactly as its source loaded it.
    assert persons_csv <= persons_omop <= persons_fhir
    person = read_table(spark, catalog, "omop.person")
    assert person.select("person_id").distinct().count() == person.count()


@pytest.mark.heavy
def test_visits_conditions_and_deaths_of_every_source_add_up(side_by_side):
    _, steps, _ = side_by_side
    (_, _, after_csv, _), (_, _, after_omop, _), (_, fhir, after_fhir, _) = steps
    assert after_omop["visit_occurrence"] == after_csv["visit_occurrence"] + OMOP_VISITS
    assert after_omop["condition_occurrence"] == after_csv["condition_occurrence"] + OMOP_CONDITIONS
    # death had no key for an export: its load used to replace every earlier death.
    assert after_omop["death"] == after_csv["death"] + OMOP_DEATHS
    assert after_fhir["death"] >= after_omop["death"]
    assert after_fhir["visit_occurrence"] > after_omop["visit_occurrence"]


@pytest.mark.heavy
def test_ids_are_unique_in_every_id_space(spark, side_by_side):
    catalog, _, _ = side_by_side
    id_map = read_table(spark, catalog, ID_MAP)
    assert id_map.groupBy("kind", "id").count().where("count > 1").count() == 0
    for table, pk in (("visit_occurrence", "visit_occurrence_id"), ("condition_occurrence", "condition_occurrence_id")):
        frame = read_table(spark, catalog, f"omop.{table}")
        assert frame.select(pk).distinct().count() == frame.count(), table


@pytest.mark.heavy
def test_reloading_the_omop_export_into_the_shared_warehouse_changes_nothing(spark, side_by_side, omop_dir):
    catalog, steps, settings = side_by_side
    before = _counts(spark, catalog)
    run_etl(spark, settings, omop_dir, "sbs-omop-again", source="omop")
    assert _counts(spark, catalog) == before == steps[-1][2]


# --- two ETL runs started at once -------------------------------------------------------------


def test_two_etl_runs_started_at_once_on_one_warehouse_both_end_correct(spark, settings_factory, tmp_path, caplog):
    src = shared_path("synthea27_csv")
    ids = _patient_ids(src)
    first = write_subset(src, tmp_path / "a", set(ids[:3]))
    second = write_subset(src, tmp_path / "b", set(ids[3:6]))
    settings = settings_factory()
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def etl(run_id, folder):
        barrier.wait()
        try:
            results[run_id] = run_etl(spark, settings, folder, run_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="mlhops.io.lease"):
        threads = [threading.Thread(target=etl, args=a) for a in (("at-once-a", first), ("at-once-b", second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    assert {r.status for r in results.values()} <= {"ok", "alerts"}
    assert "warehouse busy: run at-once-" in caplog.text  # one waited for the other
    catalog = Catalog(settings.warehouse)
    person = read_table(spark, catalog, "omop.person")
    assert person.count() == 6  # no patient lost, none overwritten
    assert person.select("person_id").distinct().count() == 6
    assert person.select("person_source_value").distinct().count() == 6
    id_map = read_table(spark, catalog, ID_MAP)
    assert id_map.groupBy("kind", "id").count().where("count > 1").count() == 0
    assert current_holder(spark, catalog) is None
