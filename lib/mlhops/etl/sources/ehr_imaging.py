"""Imaging studies of EHR exports -> MI-CDM ``image_occurrence`` (Synthea ``imaging_studies.csv``,
FHIR ``ImagingStudy``).

Such exports describe studies, not images: per series its UID, modality (DICOM CID 29 code),
body site (SNOMED CT) and date. They carry no acquisition parameters and no findings (Synthea
writes neither), so they give no ``image_feature`` row. The study itself is a coded procedure
that the source hands to the shared loader as an ordinary event: it is mapped, de-identified,
quarantined (unknown patient or encounter, impossible dates) and counted like every other fact
of its source table. The source hands the series to the loader too (``SourceBatch.image_series``);
after the loader has written the studies, every series of a loaded study becomes one
``image_occurrence`` (:mod:`mlhops.etl.steps.imaging`, with :func:`image_occurrences`):

* ``procedure_occurrence_id``, ``person_id``, ``visit_occurrence_id``: those of its study's
  procedure (so persons and visits are the ones the rest of the source's ETL resolved);
* ``modality_concept_id`` / ``anatomic_site_concept_id``: the standard concept of
  (``DICOM``, modality) / (``SNOMED``, body site) through the shared mapping core
  (:func:`mlhops.etl.mapping.map_events`), 0 when the vocabulary lacks it;
* ``image_study_uid`` / ``image_series_uid``: salted ``2.25.`` UIDs made exactly as for DICOM
  files (:func:`mlhops.etl.sources.dicom_omop.pseudo_uid`), so a series is the same series
  whatever format carried it; ``image_occurrence_id`` follows the series UID the same way;
* ``image_occurrence_date``: the series date shifted by the person's date shift.

Series whose study was not loaded (its row quarantined) get no image_occurrence; their source
rows are already accounted for (conservation) as the quarantined study.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.events import LINEAGE_FIELDS
from mlhops.etl.mapping import map_events
from mlhops.etl.sources.dicom_omop import VOCABULARY as DICOM_VOCABULARY
from mlhops.etl.sources.dicom_omop import pseudo_uid
from mlhops.etl.vocabulary import Vocabulary

ANATOMIC_SITE_DOMAIN = "Spec Anatomic Site"
BODY_SITE_VOCABULARY = "SNOMED"

# One row per series (or per instance: the first row of each series is used), with the lineage
# of the source row that carried it.
SERIES_SCHEMA = T.StructType(
    LINEAGE_FIELDS
    + [
        T.StructField("study_event_key", T.StringType(), False),  # event_key of the study's procedure
        T.StructField("person_key", T.StringType(), False),
        T.StructField("study_uid", T.StringType(), False),  # Study Instance UID, else the study's id
        T.StructField("series_uid", T.StringType(), False),
        T.StructField("modality", T.StringType(), True),  # DICOM CID 29 code (DX, CT, US, ...)
        T.StructField("body_site", T.StringType(), True),  # SNOMED CT body structure code
        T.StructField("series_ts", T.TimestampType(), False),  # UTC, not shifted
    ]
)


def _concepts(first: DataFrame, vocab: Vocabulary) -> DataFrame:
    """``(series_uid, _modality, _site)``: standard concepts through the mapping core."""
    def codes(what: str, vocabulary: str, code: str, domain: str) -> DataFrame:
        return first.select(
            "series_uid", F.lit(what).alias("_what"),
            F.concat_ws("|", F.lit(what), "series_uid").alias("event_key"),  # unique per (series, code)
            F.lit(vocabulary).alias("vocabulary_id"), F.col(code).alias("code"), F.lit(domain).alias("default_domain"),
            F.lit(None).cast("string").alias("unit_source_value"),
        ).where(F.col("code").isNotNull())

    both = codes("modality", DICOM_VOCABULARY, "modality", "Procedure").unionByName(
        codes("site", BODY_SITE_VOCABULARY, "body_site", ANATOMIC_SITE_DOMAIN))
    return map_events(both, vocab).groupBy("series_uid").agg(
        F.max(F.when(F.col("_what") == "modality", F.col("concept_id"))).alias("_modality"),
        F.max(F.when(F.col("_what") == "site", F.col("concept_id"))).alias("_site"),
    )


def image_occurrences(series: DataFrame, event_ids: DataFrame, procedures: DataFrame, vocab: Vocabulary,
                      deid: Deidentifier) -> DataFrame:
    """image_occurrence rows (without their id, with the source ``series_uid``) of the series
    whose study procedure is in ``procedures``.

    Args:
        series: :data:`SERIES_SCHEMA` rows.
        event_ids: ``(key_hash, id)`` of kind ``event`` from ``mlhops.id_map``.
        procedures: ``omop.procedure_occurrence``.
        vocab: vocabulary frames (modality and body-site concepts).
        deid: the run's de-identifier.
    """
    first = series.withColumn(
        "_r", F.row_number().over(Window.partitionBy("series_uid").orderBy("source_file", "source_line"))
    ).where(F.col("_r") == 1).drop("_r")
    ids = event_ids.select(F.col("key_hash").alias("_h"), F.col("id").alias("procedure_occurrence_id"))
    proc = procedures.select("procedure_occurrence_id", "person_id", "visit_occurrence_id")
    linked = (
        first.withColumn("_h", deid.hash("event", F.col("study_event_key"))).join(ids, "_h").drop("_h")
        .join(proc, "procedure_occurrence_id")
        .join(_concepts(first, vocab), "series_uid", "left")
    )
    shift = deid.shift_days(F.col("person_key"))
    return linked.select(
        "series_uid", "procedure_occurrence_id", "person_id", "visit_occurrence_id",
        F.coalesce("_modality", F.lit(0)).alias("modality_concept_id"),
        F.to_date(shift_ts(F.col("series_ts"), shift)).alias("image_occurrence_date"),
        pseudo_uid(deid, "dicom-study", F.col("study_uid")).alias("image_study_uid"),
        pseudo_uid(deid, "dicom-series", F.col("series_uid")).alias("image_series_uid"),
        F.coalesce("_site", F.lit(0)).alias("anatomic_site_concept_id"),
    )
