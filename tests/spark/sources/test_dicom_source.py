"""DICOM input: every file of the pydicom test set is loaded, quarantined or filtered, with reasons."""

from __future__ import annotations

import pytest
from pandas import testing as pd_testing

from mlhops.etl.sources import dicom
from mlhops.etl.sources.dicom_header import HEADER_FIELDS, parse_header
from mlhops.io.fs import empty_files, list_tree
from tests.conftest import shared_path

NOT_DICOM = "InvalidDicomError: File is missing DICOM File Meta Information header"

# Files pydicom refuses without force=True: documentation, JSON, dumps, a gzip, an ICC profile,
# and datasets written without the Part 10 preamble/meta header.
EXPECTED_NOT_DICOM = {
    "LICENSE_pydicom.txt", "README.txt", "README", "crayons.icc", "rtplan.dump", "rtstruct.dump",
    "test1.json", "test_PN.json", "zipMR.gz", "no_meta.dcm", "rtstruct.dcm",
    "ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm",
}
EXPECTED_TRUNCATED = {"MR_truncated.dcm": "(7FE0,0010)", "rtplan_truncated.dcm": "(300A,00B0)"}
# Readable datasets without a PatientID: no person to attach an image_occurrence to.
EXPECTED_NO_PATIENT = {
    "ExplVR_BigEnd.dcm", "GDCMJ2K_TextGBR.dcm", "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm",
    "SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm", "SC_rgb_jls_lossy_line.dcm",
    "SC_rgb_jls_lossy_sample.dcm", "SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmd.dcm",
    "UN_sequence.dcm", "empty_charset_LEI.dcm", "image_dfl.dcm", "meta_missing_tsyntax.dcm",
    "nested_priv_SQ.dcm", "no_meta_group_length.dcm", "priv_SQ.dcm", "reportsi.dcm",
    "reportsi_with_empty_number_tags.dcm", "test-SR.dcm",
}


@pytest.fixture(scope="module")
def batch(spark):
    b = dicom.extract_instances(spark, [str(shared_path("dicom_pydicom_test_files"))])
    return b, b.instances.toPandas(), b.rejects.toPandas(), b.filtered.toPandas()


def test_every_file_is_loaded_quarantined_or_filtered(batch):
    b, inst, rej, filt = batch
    all_files = [p for p in shared_path("dicom_pydicom_test_files").rglob("*") if p.is_file()]
    assert b.files_read == len(all_files) == 177  # 168 DICOM-named files + 9 documentation files
    assert len(inst) + len(rej) + len(filt) == b.files_read
    assert rej["source_line"].is_unique and filt["source_line"].is_unique


def test_quarantined_files_are_listed_by_pydicom_reason(batch):
    _, _, rej, _ = batch
    not_dicom = rej[rej["reason"].str.startswith(NOT_DICOM)]
    assert set(not_dicom["source_file"]) == EXPECTED_NOT_DICOM
    truncated = rej[rej["reason"].str.startswith("truncated")]
    assert dict(zip(truncated["source_file"], truncated["field"], strict=True)) == EXPECTED_TRUNCATED
    no_patient = rej[rej["field"] == "PatientID"]
    assert set(no_patient["source_file"]) == EXPECTED_NO_PATIENT
    no_date = rej[rej["field"] == dicom.REQUIRED_ATTRIBUTES["image_date"]]
    assert set(no_date["source_file"]) == {"693_J2KI.dcm"}
    # README.txt exists twice (top level and dicomdirtests/): 14 + 2 + 21 + 1 rows.
    assert len(rej) == len(not_dicom) + len(truncated) + len(no_patient) + len(no_date) == 38


def test_dicomdir_indexes_are_filtered_and_their_images_loaded(batch):
    _, inst, _, filt = batch
    assert (filt["reason"] == dicom.FILTER_DICOMDIR).sum() == 8
    tiny = inst[inst["source_file"].str.startswith("IM0000")]
    assert len(tiny) == 50
    assert set(tiny["modality"]) == {"CT"}


def test_instances_carry_acquisition_attributes_and_no_free_text(batch):
    _, inst, _, _ = batch
    ct = inst[inst["source_file"] == "CT_small.dcm"].iloc[0]
    assert (ct["modality"], ct["rows"], ct["columns"], ct["kvp"]) == ("CT", 128, 128, 120.0)
    assert ct["transfer_syntax"] == "1.2.840.10008.1.2.1"
    assert ct["pixel_spacing_row"] == pytest.approx(0.661468)
    assert str(ct["image_date"]) == "1997-04-30"
    forbidden = {"PatientName", "PatientAddress", "AccessionNumber", "ImageComments", "StudyDescription"}
    assert not forbidden & set(HEADER_FIELDS.values())


def test_parser_never_raises_on_garbage():
    rec = parse_header(b"\x00" * 10)
    assert rec["status"] == "error" and rec["reason"].startswith("InvalidDicomError")


def _sorted(df):
    return df.toPandas().sort_values("path").reset_index(drop=True)


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


def test_listing_never_reads_file_contents(spark):
    folder = str(shared_path("dicom_pydicom_test_files"))
    listed = dicom.list_files(spark, [folder])
    assert "ReadSchema: struct<path:string,length:bigint>" in _plan(listed)
    assert "content:binary" not in _plan(dicom.parse_inputs(spark, [folder]))
    # Spark refuses to read a file longer than binaryFile.maxLength, but only when it reads content.
    spark.conf.set("spark.sql.sources.binaryFile.maxLength", "1024")
    try:
        assert listed.count() == 177 and listed.where("length > 1024").count() > 100
        with pytest.raises(Exception, match="exceeds the max length allowed|CANNOT_READ_FILE|maxLength"):
            dicom.read_files(spark, [folder]).select("content").collect()
    finally:
        spark.conf.unset("spark.sql.sources.binaryFile.maxLength")


def test_headers_read_on_the_executors_equal_the_whole_file_parse_for_every_file(spark):
    folder = str(shared_path("dicom_pydicom_test_files"))
    by_path = _sorted(dicom.parse_listed(dicom.list_files(spark, [folder])))
    whole = _sorted(dicom.parse_files(dicom.read_files(spark, [folder])))
    assert len(by_path) == 177
    assert set(by_path["status"]) == {"image", "dicomdir", "error"}
    pd_testing.assert_frame_equal(by_path, whole)


def test_folders_with_spaces_and_percent_signs_are_read_from_spark_paths(spark, tmp_path):
    src = shared_path("dicom_pydicom_test_files")
    folder = tmp_path / "site a%20b"
    (folder / "sub #1").mkdir(parents=True)
    for name in ("CT_small.dcm", "MR_truncated.dcm"):
        (folder / "sub #1" / f"copy of {name}").write_bytes((src / name).read_bytes())
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "sub #1" / "empty 2.dcm").write_bytes(b"")
    b = dicom.extract_instances(spark, [str(folder)])
    inst, rej = b.instances.toPandas(), b.rejects.toPandas().sort_values("source_line")
    assert b.files_read == 4
    assert list(inst["source_file"]) == ["copy of CT_small.dcm"] and inst["modality"].tolist() == ["CT"]
    assert list(zip(rej["source_file"], rej["field"].fillna(""), strict=True)) == [
        ("empty.dcm", ""), ("empty 2.dcm", ""), ("copy of MR_truncated.dcm", "(7FE0,0010)"),
    ]
    # Empty files are found by walking the folder, named exactly as Hadoop's listing names them.
    hadoop = sorted(str(folder) + rel for rel, size, _ in list_tree(spark, str(folder)) if size == 0)
    assert sorted(empty_files(spark, [str(folder)])) == hadoop and len(hadoop) == 2


def test_input_the_executors_cannot_open_falls_back_to_whole_files(spark, monkeypatch, batch):
    _, inst, rej, filt = batch
    monkeypatch.setattr(dicom, "readable_by_path", lambda path: False)
    folder = str(shared_path("dicom_pydicom_test_files"))
    assert "content:binary" in _plan(dicom.parse_inputs(spark, [folder]))
    b = dicom.extract_instances(spark, [folder])
    frames = ((b.instances.toPandas(), inst), (b.rejects.toPandas(), rej), (b.filtered.toPandas(), filt))
    for got, want in frames:
        key = ["source_line"]
        pd_testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
        )
