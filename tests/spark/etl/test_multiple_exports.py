"""A source whose input is a list of export folders (e.g. a second site joining the warehouse):
the one etl stage loads them in order as separate batches and reports the summed counts."""

from __future__ import annotations

import csv
import os

import pytest

from mlhops.io import Catalog, read_table
from tests.conftest import shared_path
from tests.spark.etl.conftest import run_etl, write_subset
from tests.spark.etl.test_synthea_etl import OMOP_TABLES

pytestmark = pytest.mark.heavy


def _patient_ids(folder) -> list[str]:
    with open(folder / "patients.csv", newline="", encoding="utf-8") as fh:
        return sorted(r["Id"] for r in csv.DictReader(fh))


def _data_lines(path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    """synthea27 split by patient into two exports (reference files such as organizations.csv
    whole in both, as two sites' extracts of one health system would have them)."""
    src = shared_path("synthea27_csv")
    ids = _patient_ids(src)
    root = tmp_path_factory.mktemp("two-sites")
    first = write_subset(src, root / "site-a", set(ids[: len(ids) // 2]))
    second = write_subset(src, root / "site-b", set(ids[len(ids) // 2:]))
    return src, first, second


@pytest.fixture(scope="module")
def listed(spark, settings_factory, two_sites):
    """One etl stage over ``etl.inputs.synthea-csv: [site-a, site-b]`` (no --input)."""
    from mlhops.pipelines import etl
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.options import EtlOptions
    from mlhops.pipelines.stage import StageRequest

    _, first, second = two_sites
    settings = settings_factory(etl={"inputs": {"synthea-csv": [str(first), str(second)]}})
    result = etl.run(Context.build(settings, spark), StageRequest(run_id="two-sites", options=EtlOptions()))
    return settings, result


def _counts(spark, settings) -> dict[str, int]:
    cat = Catalog(settings.warehouse)
    return {t: read_table(spark, cat, f"omop.{t}").count() for t in OMOP_TABLES}


def test_each_folder_is_loaded_in_the_configured_order(listed, two_sites):
    _, first, second = two_sites
    _, result = listed
    assert result.status == "ok"
    assert result.details["input"] == [str(first), str(second)]
    assert [b["input"] for b in result.details["batches"]] == [str(first), str(second)]


def test_counts_are_summed_over_the_folders(listed, two_sites):
    _, first, second = two_sites
    _, result = listed
    m = result.metrics
    for name in ("patients", "encounters", "organizations"):
        assert m[f"rows_read.{name}"] == _data_lines(first / f"{name}.csv") + _data_lines(second / f"{name}.csv")
    tables = {k.split(".", 1)[1] for k in m if k.startswith("rows_read.")}
    for t in tables:  # every source row of every folder is loaded, quarantined or filtered
        assert m[f"rows_read.{t}"] == m[f"rows_loaded.{t}"] + m[f"rows_quarantined.{t}"] + m[f"rows_filtered.{t}"], t
    assert m["rows_read"] == sum(m[f"rows_read.{t}"] for t in tables)
    for vocab, mapping in result.details["mapping"].items():
        assert m[f"mapping_rate.{vocab}"] == pytest.approx(mapping["mapped"] / mapping["events"])


def test_the_second_folder_adds_its_patients_and_shared_rows_merge(spark, listed, synthea27):
    """Split by patient and loaded as two batches, the OMOP tables hold what one load of the
    whole export holds: the second batch adds its patients' rows, the reference rows both
    folders carry (organizations, providers) merge on their hashed source ids."""
    settings, _ = listed
    assert _counts(spark, settings) == _counts(spark, synthea27.settings)


def test_the_fingerprint_covers_every_folder_and_their_order(spark, settings_factory, two_sites):
    from mlhops.etl.inputs import fingerprint

    src, first, second = two_sites
    s = settings_factory()
    fp = lambda paths: fingerprint(spark, s.etl, s.deid, "synthea-csv", paths)  # noqa: E731
    both = fp([str(first), str(second)])
    assert fp(str(src)) == fp([str(src)])  # one folder: the single-string form's fingerprint
    assert both != fp([str(first)]) and both != fp([str(second), str(first)])
    stat = os.stat(second / "patients.csv")
    os.utime(second / "patients.csv", (stat.st_atime, stat.st_mtime + 60))  # a new export of site B
    assert fp([str(first), str(second)]) != both
