"""Imaging studies of EHR exports -> MI-CDM ``image_occurrence`` (Synthea ``imaging_studies.csv``,
FHIR ``ImagingStudy``).

Such exports describe studies, not images: per series its UID, modality (DICOM CID 29 code),
body site (SNOMED CT) and date. They carry no acquisition parameters and no findings (Synthea
writes neither), so they give no ``image_feature`` row. The study itself is a coded procedure
that the source hands to the shared loader as an ordinary event: it is mapped, de-identified,
quarantined (unknown patient or encounter, impossible dates) and counted like every other fact
of its source table. After the loader has written it, every series of a loaded study becomes
one ``image_occurrence``:

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

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.config.model import Settings
from mlhops.etl.batch import SourceBatch
from mlhops.etl.deid import Deidentifier, shift_ts
from mlhops.etl.events import LINEAGE_FIELDS
from mlhops.etl.ids import ID_MAP_TABLE
from mlhops.etl.loader import LoadResult, load_batch
from mlhops.etl.mapping import map_events
from mlhops.etl.sources import SourceLoad
from mlhops.etl.sources.dicom_omop import VOCABULARY as DICOM_VOCABULARY
from mlhops.etl.sources.dicom_omop import pseudo_uid
from mlhops.etl.sources.imaging_tables import write_image_tables
from mlhops.io import Catalog, read_table, table_exists
from mlhops.omop.vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class EhrExtract:
    """An EHR source's parsed input: the loader's batch and the imaging series of its studies."""

    batch: SourceBatch
    series: DataFrame  # SERIES_SCHEMA


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


def write_image_occurrences(spark: SparkSession, settings: Settings, series: DataFrame, run_id: str,
                            result: LoadResult, vocab: Vocabulary) -> None:
    """After :func:`~mlhops.etl.loader.load_batch`: the series of loaded studies ->
    ``omop.image_occurrence`` (extends ``result``; nothing is written when there is none)."""
    catalog = Catalog(settings.warehouse)
    if not table_exists(spark, catalog, ID_MAP_TABLE) or not table_exists(spark, catalog, "omop.procedure_occurrence"):
        return
    deid = Deidentifier(settings)
    ids = read_table(spark, catalog, ID_MAP_TABLE).where(F.col("kind") == "event").select("key_hash", "id")
    procedures = read_table(spark, catalog, "omop.procedure_occurrence")
    occ = image_occurrences(series, ids, procedures, vocab, deid).localCheckpoint(eager=True)
    n = occ.count()
    logger.info("%d imaging series of loaded studies", n)
    if n:
        write_image_tables(spark, catalog, deid, occ, None, run_id, result)


def load(spark: SparkSession, settings: Settings, extract: EhrExtract, run_id: str) -> SourceLoad:
    """Load an EHR source's batch through the shared loader, then its imaging series.

    Args:
        spark: the session.
        settings: validated settings.
        extract: the parsed input.
        run_id: this run's id.

    Raises:
        DataQualityError: conservation does not balance (a bug, never data).
    """
    vocab = load_vocabulary(spark, settings.etl.vocabulary_dir)
    result = load_batch(spark, settings, extract.batch, run_id, vocab)
    write_image_occurrences(spark, settings, extract.series, run_id, result, vocab)
    return SourceLoad(layout=extract.batch.layout, result=result, input_files=extract.batch.input_files)
