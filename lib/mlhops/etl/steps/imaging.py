"""Loader step 9: the MI-CDM imaging tables, after the batch's imaging procedures are loaded.

Every imaging source ends here. Image instances (DICOM headers, ChestX-ray14 metadata: the
batch's ``image_instances``) give one ``image_occurrence`` per series of a loaded study
procedure and one ``image_feature`` per acquisition measurement (:func:`~mlhops.etl.sources.
dicom_omop.image_rows`); EHR imaging series (Synthea ``imaging_studies.csv``, FHIR
``ImagingStudy``: the batch's ``image_series``) give one ``image_occurrence`` per series of a
loaded study (:func:`~mlhops.etl.sources.ehr_imaging.image_occurrences`). ``image_occurrence``'s
id is the ``image_occurrence`` id of the keyed source series UID, so one series reaching the
warehouse from several sources is one row.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError
from mlhops.etl.batch import ImageInstances, LoadResult, SourceBatch
from mlhops.etl.conservation import Conservation, account
from mlhops.etl.deid import Deidentifier
from mlhops.etl.steps.ids import ids_by_key
from mlhops.etl.quarantine import quarantine_rows, write_quarantine
from mlhops.etl.sources import dicom_omop, ehr_imaging
from mlhops.etl.steps.conservation import require_balanced
from mlhops.etl.vocabulary import Vocabulary
from mlhops.io import Catalog, merge_into, read_table, table_exists, table_version
from mlhops.io.tables.etl import ID_MAP, MEASUREMENT, PROCEDURE_OCCURRENCE, QUARANTINE, omop_table
from mlhops.omop import mi_cdm

logger = logging.getLogger(__name__)

ID_KIND = "image_occurrence"


def _event_ids(spark: SparkSession, catalog: Catalog) -> DataFrame:
    return read_table(spark, catalog, ID_MAP).where(F.col("kind") == "event").select("key_hash", "id")


def write_image_tables(
    spark: SparkSession, catalog: Catalog, deid: Deidentifier, occurrences: DataFrame,
    features: DataFrame | None, run_id: str, result: LoadResult,
) -> None:
    """Assign ``image_occurrence_id``s, conform and MERGE ``omop.image_occurrence`` (and
    ``omop.image_feature`` when ``features`` is given); record rows written and versions.

    Args:
        spark: the session.
        catalog: table locations.
        deid: the run's de-identifier.
        occurrences: ``series_uid`` (source UID, never written) and image_occurrence columns
            other than its id.
        features: ``series_uid`` and image_feature columns other than ``image_occurrence_id``.
        run_id: recorded on new ids.
        result: the load result, extended in place.

    Raises:
        DataQualityError: a required field is null after id resolution (a bug, never data).
    """
    occ = occurrences.localCheckpoint(eager=True)
    occ_ids = ids_by_key(spark, catalog, deid, run_id, [(ID_KIND, occ, F.col("series_uid"))])
    occ = occ.join(occ_ids.select(F.col("key").alias("_k"), F.col("id").alias("image_occurrence_id")),
                   F.col("series_uid").cast("string") == F.col("_k")).drop("_k")
    frames = [("image_occurrence", occ)]
    if features is not None:
        frames.append(("image_feature", features.join(occ.select("series_uid", "image_occurrence_id"), "series_uid")))
    for table, frame in frames:
        conformed, bad = dicom_omop.conform_mi(frame, table)
        if bad.limit(1).count():
            raise DataQualityError(f"{omop_table(table)}: a required field is null after id resolution")
        conformed = conformed.localCheckpoint(eager=True)
        merge_into(conformed, catalog, omop_table(table), keys=[mi_cdm.primary_key(table)])
        result.rows_written[table] = conformed.count()
        result.tables[omop_table(table)] = table_version(spark, catalog, omop_table(table)) or 0


def load_image_instances(spark: SparkSession, catalog: Catalog, deid: Deidentifier, batch: SourceBatch,
                         part: ImageInstances, run_id: str, result: LoadResult) -> None:
    """Image instances -> ``image_occurrence``/``image_feature``; quarantine the instances whose
    series has no loaded procedure and account for every row of ``part.file_table``.

    Raises:
        DataQualityError: conservation does not balance (a bug, never data).
    """
    procedures = read_table(spark, catalog, PROCEDURE_OCCURRENCE)
    measurements = read_table(spark, catalog, MEASUREMENT)
    rows = dicom_omop.image_rows(part.instances, _event_ids(spark, catalog), procedures, measurements, deid,
                                 part.type_concept_id, part.alg_system)
    write_image_tables(spark, catalog, deid, rows.image_occurrence, rows.image_feature, run_id, result)

    # Input rows: instances of loaded series, quarantined rows, filtered rows.
    file_rejects = part.rejects.unionByName(rows.rejects).localCheckpoint(eager=True)
    quarantined_names = {r["source_file"] for r in file_rejects.select("source_file").distinct().collect()}
    q_files = [f for f in batch.input_files if f.name in quarantined_names]
    write_quarantine(quarantine_rows(file_rejects, run_id=run_id, source=batch.source, files=q_files), catalog)
    result.tables[QUARANTINE] = table_version(spark, catalog, QUARANTINE) or 0
    file_account = account({part.file_table: part.files_read}, rows.instance_lineage, file_rejects, part.filtered)
    assert result.conservation is not None
    result.conservation = Conservation(tables={**result.conservation.tables, **file_account.tables})
    require_balanced(result.conservation)


def load_image_series(spark: SparkSession, catalog: Catalog, deid: Deidentifier, series: DataFrame,
                      vocab: Vocabulary, run_id: str, result: LoadResult) -> None:
    """EHR imaging series of loaded studies -> ``omop.image_occurrence`` (nothing is written when
    there is none; the series' source rows are accounted for as their study)."""
    if not table_exists(spark, catalog, ID_MAP) or not table_exists(spark, catalog, PROCEDURE_OCCURRENCE):
        return
    procedures = read_table(spark, catalog, PROCEDURE_OCCURRENCE)
    occ = ehr_imaging.image_occurrences(series, _event_ids(spark, catalog), procedures, vocab, deid)
    occ = occ.localCheckpoint(eager=True)
    n = occ.count()
    logger.info("%d imaging series of loaded studies", n)
    if n:
        write_image_tables(spark, catalog, deid, occ, None, run_id, result)
