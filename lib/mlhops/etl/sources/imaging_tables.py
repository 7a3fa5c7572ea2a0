"""The one writer of the MI-CDM imaging tables: ids, conformance to the MI-CDM definition, MERGE.

Every imaging source ends here: DICOM headers and ChestX-ray14 metadata
(:func:`mlhops.etl.sources.dicom.load_imaging`) and the imaging studies of EHR exports
(:mod:`mlhops.etl.sources.ehr_imaging`: Synthea ``imaging_studies.csv``, FHIR ``ImagingStudy``).
``image_occurrence`` has one row per series; its id is the ``image_occurrence`` id of the salted
source series UID, so one series reaching the warehouse from several sources is one row.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import DataQualityError
from mlhops.etl.deid import Deidentifier
from mlhops.etl.ids import assign_ids
from mlhops.etl.loader import LoadResult
from mlhops.etl.sources.dicom_omop import conform_mi
from mlhops.io import Catalog, merge_into, table_version
from mlhops.omop import mi_cdm

ID_KIND = "image_occurrence"


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
        result: the source's load result, extended in place.

    Raises:
        DataQualityError: a required field is null after id resolution (a bug, never data).
    """
    occ = occurrences.localCheckpoint(eager=True)
    occ_ids = assign_ids(spark, catalog, occ.select(
        F.lit(ID_KIND).alias("kind"), deid.hash(ID_KIND, F.col("series_uid")).alias("key_hash")
    ), run_id).select(F.col("key_hash").alias("_h"), F.col("id").alias("image_occurrence_id"))
    occ = occ.withColumn("_h", deid.hash(ID_KIND, F.col("series_uid"))).join(occ_ids, "_h").drop("_h")
    frames = [("image_occurrence", occ)]
    if features is not None:
        frames.append(("image_feature", features.join(occ.select("series_uid", "image_occurrence_id"), "series_uid")))
    for table, frame in frames:
        conformed, bad = conform_mi(frame, table)
        if bad.limit(1).count():
            raise DataQualityError(f"omop.{table}: a required field is null after id resolution")
        conformed = conformed.localCheckpoint(eager=True)
        merge_into(conformed, catalog, f"omop.{table}", keys=[mi_cdm.primary_key(table)])
        result.rows_written[table] = conformed.count()
        result.tables[f"omop.{table}"] = table_version(spark, catalog, f"omop.{table}") or 0
