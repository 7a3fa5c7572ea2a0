"""Synthea CSV export (2.x and 3.x layouts) -> :class:`~mlhops.etl.batch.SourceBatch`.

The layout is detected from the headers (3.x: ``procedures.START``, ``allergies.SYSTEM``,
``payer_transitions.MEMBERID``, claims files); both are parsed by the same per-file parsers,
which read each optional column only when the header has it.

Files without an OMOP target are read, counted and recorded as filtered (``careplans``), as are
reference files joined into other rows (``payers``) and transactions aggregated into cost rows.
``imaging_studies`` rows are imaging procedures (one per study) for the shared loader, and their
series become ``omop.image_occurrence`` rows (:mod:`mlhops.etl.sources.ehr_imaging`).
"""

from __future__ import annotations

import logging
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlhops.config.model import Settings
from mlhops.errors import DataQualityError
from mlhops.etl import parse
from mlhops.etl.batch import SourceBatch, empty_frame
from mlhops.etl.csv_reader import read_all
from mlhops.etl.events import LINEAGE_COLUMNS
from mlhops.etl.files import checksum, list_files
from mlhops.etl.sources import SourceLoad, ehr_imaging
from mlhops.etl.sources import synthea_tables as st
from mlhops.etl.sources.ehr_imaging import EhrExtract

logger = logging.getLogger(__name__)

SOURCE = "synthea-csv"
REQUIRED_FILES = ("patients", "encounters")
# Default Type Concept ids, used when etl.standard_concepts.type lacks a key.
_TYPE_DEFAULTS = {"ehr": 32817, "ehr_prescription": 32838, "claim": 32810}

IMAGING = "imaging_studies"
# Columns of imaging_studies.csv an image_occurrence needs (Synthea 2.x exports from before
# series/instance UIDs and procedure codes have none: that file is filtered as without target).
IMAGING_COLUMNS = ("Id", "PROCEDURE_CODE", "SERIES_UID")
NO_TARGET = "no OMOP CDM v5.4 target table"
REFERENCE = "reference table joined into payer_plan_period"


def _table_name(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    for ext in (".csv.gz", ".csv"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return None


def detect_layout(headers: dict[str, list[str]]) -> str:
    """``"synthea-3.x"`` or ``"synthea-2.x"`` from the headers of the export's files."""
    three = (
        "START" in headers.get("procedures", [])
        or "SYSTEM" in headers.get("allergies", [])
        or "MEMBERID" in headers.get("payer_transitions", [])
        or "claims" in headers
    )
    return "synthea-3.x" if three else "synthea-2.x"


def _types(settings: Settings) -> dict[str, int]:
    out = dict(_TYPE_DEFAULTS)
    out.update(settings.etl.standard_concepts.get("type", {}))
    return out


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def _clinical(tables: dict[str, DataFrame], types: dict[str, int]) -> tuple[list[DataFrame], list[DataFrame]]:
    identifiers = st.patient_identifiers(tables["patients"])
    ehr, rx = types["ehr"], types["ehr_prescription"]
    events, rejects = [], []

    def add(result: tuple[DataFrame, DataFrame]) -> None:
        events.append(result[0])
        rejects.append(result[1])

    snomed = F.lit("SNOMED")
    if "conditions" in tables:
        df = tables["conditions"]
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=st._vocab_from_system(df, "SNOMED"),
                               code="CODE", default_domain="Condition", type_concept_id=ehr))
    if "medications" in tables:
        df = tables["medications"]
        add(st.clinical_events(
            df, start="START", end="STOP", vocabulary=F.lit("RxNorm"), code="CODE", default_domain="Drug",
            type_concept_id=rx,
            extra={"quantity": parse.num("DISPENSES"), "provider_key": F.lit(None)},
            extra_checks=[parse.parses("DISPENSES", parse.num("DISPENSES"), "number")],
        ))
    if "immunizations" in tables:
        df = tables["immunizations"]
        add(st.clinical_events(df, start="DATE", end=None, vocabulary=F.lit("CVX"), code="CODE",
                               default_domain="Drug", type_concept_id=ehr, extra={"quantity": F.lit(1.0)}))
    if "procedures" in tables:
        df = tables["procedures"]
        start = "START" if "START" in df.columns else "DATE"
        end = "STOP" if "STOP" in df.columns else None
        add(st.clinical_events(df, start=start, end=end, vocabulary=st._vocab_from_system(df, "SNOMED"),
                               code="CODE", default_domain="Procedure", type_concept_id=ehr))
    if "observations" in tables:
        df = tables["observations"]
        numeric = parse.num("VALUE")
        is_numeric = (F.lower(F.col("TYPE")) == "numeric") if "TYPE" in df.columns else numeric.isNotNull()
        key_extra: list[str | Column] = ["VALUE", "UNITS"] + (["CATEGORY"] if "CATEGORY" in df.columns else [])
        obs_events, obs_rejects = st.clinical_events(
            df, start="DATE", end=None, vocabulary=F.lit("LOINC"), code="CODE",
            default_domain=F.when(is_numeric, F.lit("Measurement")).otherwise(F.lit("Observation")),
            type_concept_id=ehr, key_extra=key_extra,
            extra={
                "value_as_number": F.when(is_numeric, numeric),
                "value_as_string": F.when(~is_numeric, F.col("VALUE")),
                "value_source_value": F.substring(F.col("VALUE"), 1, 50),
                "unit_source_value": F.col("UNITS"),
            },
            extra_checks=[("VALUE", is_numeric & F.col("VALUE").isNotNull() & numeric.isNull(), "unparseable number")],
        )
        add((st.redact_identifiers(obs_events, identifiers), obs_rejects))
    if "allergies" in tables:
        df = tables["allergies"]
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=st._vocab_from_system(df, "SNOMED"),
                               code="CODE", default_domain="Observation", type_concept_id=ehr))
    if "devices" in tables:
        df = tables["devices"]
        # UDI carries the device serial number (a HIPAA identifier): never loaded.
        add(st.clinical_events(df, start="START", end="STOP", vocabulary=snomed, code="CODE",
                               default_domain="Device", type_concept_id=ehr, extra={"quantity": F.lit(1.0)}))
    if "supplies" in tables:
        df = tables["supplies"]
        add(st.clinical_events(
            df, start="DATE", end=None, vocabulary=snomed, code="CODE", default_domain="Device",
            type_concept_id=ehr, extra={"quantity": parse.num("QUANTITY")},
            extra_checks=[parse.parses("QUANTITY", parse.num("QUANTITY"), "number")],
        ))
    return events, rejects


def _has_imaging_series(tables: dict[str, DataFrame]) -> bool:
    return IMAGING in tables and all(c in tables[IMAGING].columns for c in IMAGING_COLUMNS)


def _imaging(df: DataFrame, ehr: int) -> tuple[DataFrame, DataFrame, DataFrame]:
    """imaging_studies.csv (one row per instance) -> (imaging procedure events, rejects, series).

    The study (``Id``) is the procedure fact: its further instance rows repeat its key and are
    filtered by the loader as duplicates. Every row that parses also gives its series
    (:data:`~mlhops.etl.sources.ehr_imaging.SERIES_SCHEMA`), an image_occurrence once its
    study is loaded.
    """
    df = df.withColumn("_study", F.col("Id"))
    key_extra: list[str | Column] = ["_study"]
    events, rejects = st.clinical_events(
        df, start="DATE", end=None, vocabulary=F.lit("SNOMED"), code="PROCEDURE_CODE",
        default_domain="Procedure", type_concept_id=ehr, key_extra=key_extra,
        extra_checks=[parse.required("Id"), parse.required("SERIES_UID")],
    )
    optional = {c: F.col(c) if c in df.columns else F.lit(None).cast("string") for c in ("MODALITY_CODE", "BODYSITE_CODE")}
    series = df.join(events.select("source_file", "source_line"), ["source_file", "source_line"]).select(
        *LINEAGE_COLUMNS,
        st.event_key("DATE", "PROCEDURE_CODE", key_extra).alias("study_event_key"),
        F.col("PATIENT").alias("person_key"),
        F.col("Id").alias("study_uid"),  # the export has no Study Instance UID
        F.trim("SERIES_UID").alias("series_uid"),
        F.trim(optional["MODALITY_CODE"]).alias("modality"),
        F.trim(optional["BODYSITE_CODE"]).alias("body_site"),
        parse.ts("DATE").alias("series_ts"),
    )
    return events, rejects, series


def extract(spark: SparkSession, settings: Settings, input_path: str) -> SourceBatch:
    """Parse a Synthea CSV export folder into the loader's batch (see :func:`extract_with_imaging`)."""
    return extract_with_imaging(spark, settings, input_path).batch


def load(spark: SparkSession, settings: Settings, input_path: str, run_id: str) -> SourceLoad:
    """``mlhops etl --source synthea-csv``: the batch through the shared loader, then the series
    of ``imaging_studies.csv`` into ``omop.image_occurrence`` (:mod:`~mlhops.etl.sources.ehr_imaging`)."""
    return ehr_imaging.load(spark, settings, extract_with_imaging(spark, settings, input_path), run_id)


def extract_with_imaging(spark: SparkSession, settings: Settings, input_path: str) -> EhrExtract:
    """Parse a Synthea CSV export folder.

    Args:
        spark: the session.
        settings: validated settings (type concepts).
        input_path: folder with ``patients.csv``, ``encounters.csv``, ... (plain or gzip).

    Raises:
        DataQualityError: the folder lacks ``patients`` or ``encounters``.
    """
    paths = {t: p for p in list_files(spark, input_path) if (t := _table_name(p)) is not None}
    missing = [t for t in REQUIRED_FILES if t not in paths]
    if missing:
        raise DataQualityError(f"{input_path}: not a Synthea CSV export (missing {', '.join(missing)}.csv)")
    tables: dict[str, DataFrame] = {}
    rows_read: dict[str, int] = {}
    ordered = sorted(paths.items())
    for (name, _), (df, n) in zip(ordered, read_all(spark, ordered, settings.etl.concurrent_jobs)):
        tables[name] = df
        rows_read[name] = n
    layout = detect_layout({k: [c for c in v.columns if c not in (*LINEAGE_COLUMNS, "malformed")] for k, v in tables.items()})
    logger.info("synthea export %s: layout %s, %d files", input_path, layout, len(tables))
    types = _types(settings)

    persons, res_locations, rejects_p = st.patients(tables["patients"])
    visits, rejects_v = st.encounters(tables["encounters"])
    rejects = [rejects_p, rejects_v]
    filtered: list[DataFrame] = []
    locations = [res_locations]
    care_sites = empty_frame(spark, "care_sites")
    providers = empty_frame(spark, "providers")
    payer_periods = empty_frame(spark, "payer_periods")
    costs = empty_frame(spark, "costs")
    if "organizations" in tables:
        care_sites, org_locations, r = st.organizations(tables["organizations"])
        locations.append(org_locations)
        rejects.append(r)
    if "providers" in tables:
        providers, r = st.providers(tables["providers"])
        rejects.append(r)
    if "payer_transitions" in tables:
        payer_periods, r = st.payer_transitions(tables["payer_transitions"], tables.get("payers"))
        rejects.append(r)
    if "claims" in tables:
        costs, r, t_rejects, t_filtered = st.claims_costs(tables["claims"], tables.get("claims_transactions"))
        rejects.append(r)
        if t_rejects is not None and t_filtered is not None:
            rejects.append(t_rejects)
            filtered.append(t_filtered)
    elif "claims_transactions" in tables:
        filtered.append(tables["claims_transactions"].select(*LINEAGE_COLUMNS, F.lit("claim file missing").alias("reason")))

    events, event_rejects = _clinical(tables, types)
    rejects += event_rejects
    series = spark.createDataFrame([], ehr_imaging.SERIES_SCHEMA)
    if _has_imaging_series(tables):
        img_events, img_rejects, series = _imaging(tables[IMAGING], types["ehr"])
        events.append(img_events)
        rejects.append(img_rejects)
    handled = {
        "patients", "encounters", "organizations", "providers", "payer_transitions", "claims", "claims_transactions",
        "conditions", "medications", "immunizations", "procedures", "observations", "allergies", "devices",
        "supplies", "imaging_studies",
    }
    for name, df in tables.items():
        if name == "payers":
            filtered.append(df.select(*LINEAGE_COLUMNS, F.lit(REFERENCE).alias("reason")))
        elif name not in handled or (name == IMAGING and not _has_imaging_series(tables)):
            filtered.append(df.select(*LINEAGE_COLUMNS, F.lit(f"{NO_TARGET} ({name})").alias("reason")))

    files = [checksum(spark, p) for _, p in sorted(paths.items())]
    batch = SourceBatch(
        source=SOURCE,
        layout=layout,
        events=_union(events) if events else empty_frame(spark, "events"),
        persons=persons,
        visits=visits,
        providers=providers,
        care_sites=care_sites,
        locations=_union(locations),
        payer_periods=payer_periods,
        costs=costs,
        rejects=_union(rejects),
        filtered=_union(filtered) if filtered else empty_frame(spark, "filtered"),
        rows_read=rows_read,
        input_files=files,
    )
    return EhrExtract(batch=batch, series=series)
