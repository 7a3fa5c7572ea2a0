"""Imaging-metadata drift in the nightly drift stage, on imaging data loaded by the real ETL.

(a) Real DICOM headers (the pydicom test files), copied into monthly studies with pydicom: three
reference months, a month of unchanged copies, a month whose copies carry another manufacturer
and model (a planted scanner replacement) and a month with a handful of images. The drift stage
must flag the scanner month on manufacturer and model only, leave the unchanged month alone and
report the small month as insufficient data. The same load checks that acquisition parameters
carry the shipped DICOM vocabulary's concepts.
(b) A real ChestX-ray14 slice loaded by the ``cxr-metadata`` ETL, split at random into halves:
the stage's comparison flags none of the splits, and does flag a view-position change made from
the same images.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mlhops.drift import imaging_drift
from mlhops.drift.imaging import DEFAULT_PARAMETERS, imaging_features
from mlhops.etl.sources import dicom_omop
from mlhops.io import Catalog, read_table
from mlhops.io.tables.monitoring import MULTIVARIATE_DRIFT
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import DriftOptions
from mlhops.pipelines.stage import StageRequest
from tests.conftest import REPO, shared_path
from tests.spark.etl.conftest import run_etl

REFERENCE_MONTHS = ((2020, 1), (2020, 2), (2020, 3))
SAME_MONTH, SCANNER_MONTH, SMALL_MONTH = (2020, 4), (2020, 5), (2020, 6)
COPIES = 2  # per series in the unchanged and the scanner month
SMALL = 5  # series copied into the small month
MIN_ROWS = 20
PLANTED_MANUFACTURER, PLANTED_MODEL = "Planted Vendor Medical", "Planted Scanner X1"
CXR_ROWS = 3000


def _vocabulary() -> dict[str, int]:
    """DICOM concept code -> concept id, read from the shipped vocabulary rows."""
    with gzip.open(REPO / "data" / "vocabulary" / "CONCEPT_dicom.csv.gz", "rt", encoding="utf-8") as fh:
        return {r["concept_code"]: int(r["concept_id"]) for r in csv.DictReader(fh) if r["vocabulary_id"] == "DICOM"}


def _series_files() -> list[Path]:
    """The first readable file of each series that the ETL can load (ids, date, birth date/age)."""
    import pydicom

    seen: dict[str, Path] = {}
    for path in sorted(p for p in shared_path("dicom_pydicom_test_files").rglob("*") if p.is_file()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001 - not a readable DICOM file: not a template
            continue
        date = ds.get("SeriesDate") or ds.get("StudyDate") or ds.get("AcquisitionDate") or ds.get("ContentDate")
        ids = [ds.get(k) for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
        if all(ids) and date and (ds.get("PatientBirthDate") or ds.get("PatientAge")) and "PixelData" in ds:
            seen.setdefault(str(ds.SeriesInstanceUID), path)
    return list(seen.values())


def _copy(src: Path, dst: Path, day: dt.date, key: str, scanner: tuple[str, str] | None) -> None:
    """A copy of a real file as a new study/series/instance on ``day`` (new UIDs, same patient)."""
    import pydicom
    from pydicom.uid import generate_uid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(src)
        for kw, part in (("StudyInstanceUID", "study"), ("SeriesInstanceUID", "series"), ("SOPInstanceUID", "sop")):
            setattr(ds, kw, generate_uid(entropy_srcs=[key, part]))
        if getattr(ds, "file_meta", None) is not None:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if kw in ds or kw == "SeriesDate":
                setattr(ds, kw, day.strftime("%Y%m%d"))
        if scanner is not None:
            ds.Manufacturer, ds.ManufacturerModelName = scanner
        ds.save_as(dst)


def _plant(root: Path) -> dict[str, int]:
    """Write the monthly copies; images per month."""
    files = _series_files()
    months = {m: 1 for m in REFERENCE_MONTHS} | {SAME_MONTH: COPIES, SCANNER_MONTH: COPIES}
    counts: dict[str, int] = {}
    for (y, m), copies in [*months.items(), (SMALL_MONTH, 1)]:
        chosen = files[:SMALL] if (y, m) == SMALL_MONTH else files
        scanner = (PLANTED_MANUFACTURER, PLANTED_MODEL) if (y, m) == SCANNER_MONTH else None
        for i, src in enumerate(chosen):
            for c in range(copies):
                key = f"{y}-{m}-{i}-{c}"
                _copy(src, root / f"{key}.dcm", dt.date(y, m, 10 + c), key, scanner)
        counts[f"{y}-{m:02d}"] = len(chosen) * copies
    return counts


@pytest.fixture(scope="module")
def dicom_run(spark, settings_factory, tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom-scanner-change")
    counts = _plant(root)
    settings = settings_factory(drift={"imaging": {
        "reference_start": "2020-01-01", "reference_end": "2020-04-01", "min_rows": MIN_ROWS}})
    outcome = run_etl(spark, settings, root, "img-etl", source="dicom")
    assert outcome.status in ("ok", "alerts"), outcome.message
    ctx = Context.build(settings, spark)
    from mlhops.pipelines import drift

    result = drift.run(ctx, StageRequest(run_id="img-drift", options=DriftOptions()))
    rows = read_table(spark, Catalog(settings.warehouse), MULTIVARIATE_DRIFT).toPandas()
    rows["month"] = rows["window_start"].dt.strftime("%Y-%m")
    return settings, counts, result, rows


def test_acquisition_parameters_carry_the_dicom_vocabulary_concepts(spark, dicom_run):
    settings = dicom_run[0]
    vocab = _vocabulary()
    catalog = Catalog(settings.warehouse)
    feat = read_table(spark, catalog, "omop.image_feature")
    meas = read_table(spark, catalog, "omop.measurement")
    linked = feat.join(meas, feat.image_feature_event_id == meas.measurement_id).select(
        "image_feature_concept_id", "measurement_concept_id", "measurement_source_concept_id", "measurement_source_value",
    ).toPandas()
    assert len(linked) > 0
    assert (linked["image_feature_concept_id"] == linked["measurement_concept_id"]).all()
    known = linked["measurement_source_value"].isin(list(vocab))
    assert known.mean() > 0.8  # every parameter but the transfer syntax (not in the DICOM vocabulary)
    expected = linked.loc[known, "measurement_source_value"].map(vocab)
    assert (linked.loc[known, "measurement_concept_id"] == expected).all()
    assert (linked.loc[known, "measurement_source_concept_id"] == expected).all()
    assert (linked.loc[~known, "measurement_concept_id"] == 0).all()
    tags = {p.tag for p in dicom_omop.PARAMETERS}
    assert {"00180060", "00080070", "00081090", "00280010"} <= set(linked["measurement_source_value"]) <= tags | {"00181164"}
    # The modality (imaging procedure) keeps its DICOM value concept as source concept.
    proc = read_table(spark, catalog, "omop.procedure_occurrence").where(F.col("procedure_source_value") == "CT")
    ct = proc.select("procedure_source_concept_id").distinct().toPandas()["procedure_source_concept_id"].tolist()
    assert ct == [vocab["CT"]]


def test_the_stage_flags_the_planted_scanner_month_on_manufacturer_and_model(dicom_run):
    _, counts, result, rows = dicom_run
    assert result.status == "ok", result.message
    assert result.metrics["imaging_windows"] == 3 and result.metrics["imaging_flags"] == 1
    mine = rows[rows["detector_name"] == imaging_drift.DETECTOR_NAME]
    summary = mine[mine["detector"] == imaging_drift.SUMMARY_DETECTOR].set_index("month")
    assert sorted(summary.index) == ["2020-04", "2020-05", "2020-06"]  # reference months are not scored
    scanner = summary.loc["2020-05"]
    assert scanner["drift"] and scanner["status"] == "ok"
    assert scanner["n_current"] == counts["2020-05"] and scanner["n_reference"] == sum(
        counts[f"{y}-{m:02d}"] for y, m in REFERENCE_MONTHS)
    month = mine[(mine["month"] == "2020-05") & (mine["detector"] != imaging_drift.SUMMARY_DETECTOR)].set_index("feature")
    flagged = set(month.index[month["drift"]])
    assert flagged == {"imaging.manufacturer", "imaging.model"}
    assert month.loc["imaging.manufacturer", "effect_size"] > 0.5
    assert month.loc["imaging.manufacturer", "p_value_adjusted"] < 1e-6
    assert scanner["statistic"] == 2 and scanner["extra"]["parameters_tested"] >= 6


def test_unchanged_copies_do_not_flag_and_a_small_month_is_insufficient_data(dicom_run):
    _, counts, _, rows = dicom_run
    mine = rows[rows["detector_name"] == imaging_drift.DETECTOR_NAME]
    by_month = {m: g for m, g in mine.groupby("month")}
    same = by_month["2020-04"]
    assert not same["drift"].any()
    assert (same.loc[same["detector"] == imaging_drift.SUMMARY_DETECTOR, "status"] == "ok").all()
    # Parameters few images carry (kVp here) get no decision rather than a "no drift".
    kvp = same.loc[same["feature"] == "imaging.kvp"].iloc[0]
    assert kvp["status"] == "insufficient_data" and kvp["extra"]["n_current_values"] < MIN_ROWS
    assert same.loc[same["feature"] == "imaging.manufacturer", "p_value"].iloc[0] > 0.99
    small = by_month["2020-06"]
    assert counts["2020-06"] < MIN_ROWS
    assert (small["status"] == "insufficient_data").all() and not small["drift"].any()
    assert small["p_value"].isna().all()


def test_a_rerun_replaces_its_rows_instead_of_adding(spark, dicom_run):
    settings, _, _, rows = dicom_run
    from mlhops.pipelines import drift

    again = drift.run(Context.build(settings, spark), StageRequest(run_id="img-drift-2", options=DriftOptions()))
    assert again.status == "ok"
    after = read_table(spark, Catalog(settings.warehouse), MULTIVARIATE_DRIFT)
    assert after.count() == len(rows)
    assert after.where(F.col("run_id") == "img-drift-2").count() == len(rows)


@pytest.fixture(scope="module")
def cxr_images(spark, settings_factory, tmp_path_factory):
    src = shared_path("nih_chestxray14_metadata", "Data_Entry_2017_first40000rows.csv.gz")
    root = tmp_path_factory.mktemp("cxr-halves")
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(CXR_ROWS + 1)]
    (root / "Data_Entry_2017_part.csv").write_text("".join(lines), encoding="utf-8")
    settings = settings_factory()
    outcome = run_etl(spark, settings, root, "cxr-etl", source="cxr-metadata")
    assert outcome.status in ("ok", "alerts"), outcome.message
    frame = imaging_drift.image_frame(spark, Catalog(settings.warehouse)).toPandas()
    return settings, frame


def _period(rows: pd.DataFrame) -> imaging_drift.Period:
    return imaging_drift.Period(dt.date(2020, 1, 1), dt.date(2020, 2, 1), rows.reset_index(drop=True), len(rows))


def test_random_halves_of_the_same_cxr_population_do_not_flag(cxr_images):
    settings, frame = cxr_images
    assert len(frame) == CXR_ROWS
    assert frame["modality"].eq("DX").all() and frame["view_position"].notna().all()
    s, features = settings.drift.imaging, imaging_features(DEFAULT_PARAMETERS)
    flagged = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(frame))
        half = len(frame) // 2
        results = imaging_drift.compare(_period(frame.iloc[order[:half]]), _period(frame.iloc[order[half:]]), s, features)
        summary = results[-1]
        assert summary.detector == imaging_drift.SUMMARY_DETECTOR and summary.status == "ok"
        tested = {r.feature for r in results[:-1] if r.status == "ok"}
        assert {"imaging.view_position", "imaging.pixel_spacing", "imaging.rows", "imaging.columns"} <= tested
        flagged.append(summary.drift)
    assert not any(flagged)


def test_a_view_position_change_in_the_same_cxr_images_is_flagged(cxr_images):
    # The detector can fail: a window of only AP images against the PA-dominated population.
    settings, frame = cxr_images
    ap = frame[frame["view_position"] == "AP"]
    assert len(ap) >= MIN_ROWS
    results = imaging_drift.compare(_period(frame), _period(ap), settings.drift.imaging, imaging_features(DEFAULT_PARAMETERS))
    by = {r.feature: r for r in results}
    assert by["imaging.view_position"].drift and by[imaging_drift.SUMMARY_FEATURE].drift


def test_the_shipped_imaging_rule_pages_for_the_scanner_month_only(spark, dicom_run):
    """conf/alerts.yaml's imaging-drift rule, evaluated by the real alerts stage on the drift
    stage's output (no hand-made rows): one alert, for the planted month, with its runbook."""
    from mlhops.io.tables.operations import ALERTS
    from mlhops.pipelines.orchestrate import run_stage

    settings = dicom_run[0]
    outcome = run_stage(Context.build(settings, spark), "alerts", StageRequest(run_id="img-alerts"))
    assert outcome.status != "failed", outcome.message
    alerts = read_table(spark, Catalog(settings.warehouse), ALERTS).toPandas()
    mine = alerts[alerts["rule_id"] == "imaging-drift"]
    assert [pd.Timestamp(w).strftime("%Y-%m") for w in mine["window_start"]] == ["2020-05"]
    assert (mine["runbook"] == "docs/runbooks/drift.md#imaging-drift").all()
    # the per-parameter rows of the same detector family never page through the suite's rule
    assert alerts[alerts["rule_id"] == "multivariate-drift"].empty
