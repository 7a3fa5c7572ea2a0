"""FHIR R4 (Bundles ``.json``/``.json.gz``, NDJSON bulk export) -> :class:`~mlhops.etl.batch.SourceBatch`.

Files are read with Spark's ``binaryFile`` source (recursively) and parsed on the executors by
:func:`mlhops.etl.sources.fhir_resources.parse_file` (``mapInPandas``); the driver never loops
over files or resources. References (``urn:uuid:``, ``Type/id``, conditional
``Type?identifier=system|value``) are resolved within their file by the parser and across
files by broadcast joins against the aliases every file declares. The shared loader then does
de-identification, ids, vocabulary mapping and routing exactly as for the Synthea CSV source:
resource ids are the natural keys (Synthea uses the same patient ids in CSV and FHIR), so one
patient arriving both ways is one OMOP person. ImagingStudy resources are imaging procedures
for the loader and their series ``omop.image_occurrence`` rows
(:mod:`mlhops.etl.sources.ehr_imaging`).

Lineage: ``source_table`` is the resource type (``fhir_files`` for whole files),
``source_line`` the entry's 1-based position in its Bundle (line in NDJSON; 0 for a file), and
``source_file`` a content-derived name (``fhir-<sha256 prefix>``), never the file's name
(bulk exports and Synthea name files after patients).

Bad input never stops the run (see :mod:`~mlhops.etl.sources.fhir_resources`): unusable files
and bad entries are quarantined with their position. A file whose bytes equal another input
file's (the same bundle under two paths) is read once: each further copy is a ``fhir_files``
row of its own (``fhir-<sha256 prefix>-copy<k>``) filtered as a duplicate, its resources not
counted again. Files whose names are not FHIR JSON/NDJSON are counted as ``fhir_files`` rows
filtered as not read (lineage ``unread-<sha256 prefix of the path>``), so they show in the
run's filtered counts instead of vanishing; empty files (which ``binaryFile`` skips) are
unusable files. An input without any FHIR file or resource is an
error, not an empty success.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mlhops.errors import DataQualityError
from mlhops.etl import parse
from mlhops.etl.batch import FRAME_SCHEMAS, SourceBatch, source_batch
from mlhops.etl.env import EtlEnv
from mlhops.etl.events import LINEAGE_COLUMNS
from mlhops.etl.files import InputFile
from mlhops.etl.sources.fhir_resources import EXPANDED, FILE_TABLE, NUMERIC_FIELDS, RECORD_FIELDS, UNUSABLE, parse_file
from mlhops.io.fs import list_tree

logger = logging.getLogger(__name__)

SOURCE = "fhir"
LAYOUT = "fhir-r4"
FILE_PATTERN = r"\.(json|ndjson)(\.gz)?$"
NDJSON_PATTERN = r"\.ndjson(\.gz)?$"
DUPLICATE_FILE = "duplicate file (same bytes as another input file, read once)"
NOT_READ = "not read: not a FHIR .json/.ndjson file"
EMPTY_FILE = f"{UNUSABLE}: empty (0 bytes)"
# Hex characters of the content hash used as the lineage file name.
FILE_NAME_HEX = 16
_TYPES = {"ehr": 32817, "ehr_prescription": 32838}
# Resource types whose facts are prescriptions rather than records of administration.
_PRESCRIPTIONS = ("MedicationRequest",)

RECORD_SCHEMA = T.StructType(
    [T.StructField("source_file", T.StringType(), False)]
    + [
        T.StructField(
            name,
            T.LongType() if name == "source_line" else T.DoubleType() if name in NUMERIC_FIELDS else T.StringType(),
            name not in ("kind", "source_table", "source_line"),
        )
        for name in RECORD_FIELDS
    ]
    # Which input file the record came from (a hash of its path; tells copies of one content apart).
    + [T.StructField("file_key", T.LongType(), False)]
)
# Kind of the one record per input file that carries its lineage (never a frame of the batch).
FILE_KIND = "file"


def lineage_name(sha256: str) -> str:
    """Lineage name of a file: a prefix of its content hash (hex SHA-256)."""
    return f"fhir-{sha256[:FILE_NAME_HEX]}"


def _file_record(path: str, length: int, sha256: str) -> dict[str, object]:
    """The ``file`` record of one input file: ``name`` its path, ``key`` its content SHA-256,
    ``quantity`` its size in bytes (lineage of the run; never loaded)."""
    rec: dict[str, object] = dict.fromkeys(RECORD_FIELDS)
    rec.update(kind=FILE_KIND, source_table=FILE_TABLE, source_line=0, name=path, key=sha256, quantity=float(length))
    return rec


def _file_key(path: str) -> int:
    """A 63-bit key of a file's path (the records carry it instead of the path)."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big") >> 1


def _parse_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        rows: list[dict[str, object]] = []
        for path, length, content in zip(pdf["path"], pdf["length"], pdf["content"]):
            data = bytes(content)
            sha256 = hashlib.sha256(data).hexdigest()
            name, key = lineage_name(sha256), _file_key(path)
            ndjson = re.search(NDJSON_PATTERN, path.lower()) is not None
            for rec in [_file_record(path, int(length), sha256), *parse_file(data, ndjson=ndjson)]:
                rec["source_file"] = name
                rec["file_key"] = key
                rows.append(rec)
        out = pd.DataFrame.from_records(rows, columns=RECORD_SCHEMA.fieldNames())
        out["source_line"] = out["source_line"].astype("int64")
        out["file_key"] = out["file_key"].astype("int64")
        for col in NUMERIC_FIELDS:
            out[col] = out[col].astype("float64")
        yield out


def _files(spark: SparkSession, input_path: str) -> DataFrame:
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(input_path)
        .where(F.lower(F.col("path")).rlike(FILE_PATTERN))
        .select("path", "length", "content")
    )


def _listed_records(spark: SparkSession, input_path: str) -> DataFrame:
    """Records of the files Spark's ``binaryFile`` source does not hand over (listed on the
    driver): files not named as FHIR JSON/NDJSON (``seen`` + ``filtered`` as not read, their bytes
    untouched) and empty FHIR files (an unusable file each, with its ``file`` lineage record)."""
    root = input_path.rstrip("/")
    empty_sha = hashlib.sha256(b"").hexdigest()
    rows: list[dict[str, object]] = []
    for rel, size, _ in list_tree(spark, input_path):
        path = root + rel
        seen = dict.fromkeys(RECORD_SCHEMA.fieldNames())
        seen.update(kind="seen", source_table=FILE_TABLE, source_line=0, quantity=1.0)
        if re.search(FILE_PATTERN, path.lower()) is None:
            name = "unread-" + hashlib.sha256(path.encode()).hexdigest()[:FILE_NAME_HEX]
            rows += [{**seen, "source_file": name, "file_key": 0},
                     {**seen, "kind": "filtered", "quantity": None, "reason": NOT_READ, "source_file": name, "file_key": 0}]
        elif size == 0:
            extra = {"source_file": lineage_name(empty_sha), "file_key": _file_key(path)}
            rows += [{**_file_record(path, 0, empty_sha), **extra}, {**seen, **extra},
                     {**seen, **extra, "kind": "reject", "quantity": None, "reason": EMPTY_FILE}]
    return spark.createDataFrame(rows, RECORD_SCHEMA) if rows else spark.createDataFrame([], RECORD_SCHEMA)


def read_records(spark: SparkSession, input_path: str) -> DataFrame:
    """The records of every file (one ``file`` record each, then its resources' records), parsed
    on executors: each file's bytes are read and hashed once. Files not named as FHIR are
    counted and filtered as not read."""
    return _files(spark, input_path).mapInPandas(_parse_partition, RECORD_SCHEMA).unionByName(
        _listed_records(spark, input_path))


def without_copies(records: DataFrame) -> DataFrame:
    """Records of files whose bytes repeat another file's (ordered by path) reduced to their
    file-level rows, renamed ``<lineage>-copy<k>`` and filtered as duplicates: each content is
    read once, and every file is still accounted for."""
    files = records.where(F.col("kind") == FILE_KIND).select("source_file", "file_key", F.col("name").alias("_path"))
    rank = F.row_number().over(Window.partitionBy("source_file").orderBy("_path"))
    copies = {int(r["file_key"]): f"{r['source_file']}-copy{r['_k']}"
              for r in files.withColumn("_k", rank).where(F.col("_k") > 1).collect()}
    if not copies:
        return records
    logger.warning("fhir: %d files repeat the bytes of another input file (each read once)", len(copies))
    is_copy = F.col("file_key").isin(*copies)
    renamed = F.element_at(F.create_map(*[x for k, v in copies.items() for x in (F.lit(k), F.lit(v))]), F.col("file_key"))
    file_level = (F.col("kind") == FILE_KIND) | (F.col("source_table") == FILE_TABLE)
    expanded = (F.col("kind") == "filtered") & (F.col("reason") == EXPANDED)
    return (
        records.where(~is_copy | file_level)
        .withColumn("reason", F.when(is_copy & expanded, F.lit(DUPLICATE_FILE)).otherwise(F.col("reason")))
        .withColumn("source_file", F.when(is_copy, renamed).otherwise(F.col("source_file")))
    )


def input_files(records: DataFrame) -> list[InputFile]:
    """Lineage of every file read: path, lineage name, size and content hash (from the ``file``
    records; small metadata rows, the bytes stay on the executors)."""
    return [
        InputFile(path=r["name"], name=r["source_file"], size=int(r["quantity"]), sha256=r["key"])
        for r in records.where(F.col("kind") == FILE_KIND).select("name", "source_file", "quantity", "key").collect()
    ]


def _needs_lookup(col: Column) -> Column:
    return col.startswith("urn:") | col.startswith("ident:")


class _Resolver:
    """Resolves the references a file could not resolve itself (see
    :mod:`~mlhops.etl.sources.fhir_resources`) through the aliases of all files.

    Only the aliases some reference asks for are kept (found by a broadcast of the distinct
    unresolved references, usually a few hundred organisations and practitioners), and they are
    broadcast into the frames: no shuffle of the resources.
    """

    def __init__(self, records: DataFrame) -> None:
        self.aliases = records.where(F.col("kind") == "alias").select(
            F.col("name").alias("_alias"), F.col("key").alias("_target"))

    def table(self, records: DataFrame, kinds: list[str], cols: list[str]) -> DataFrame:
        """The aliases asked for by ``cols`` of the records of ``kinds`` (one scan; materialised)."""
        wanted = (
            records.where(F.col("kind").isin(*kinds))
            .select(F.explode(F.array(*[F.col(c) for c in cols])).alias("_alias"))
            .where(_needs_lookup(F.col("_alias")))
            .distinct()
        )
        return (
            self.aliases.join(F.broadcast(wanted), "_alias", "left_semi")
            .dropDuplicates(["_alias"])
            .localCheckpoint(eager=True)
        )

    @staticmethod
    def resolve(df: DataFrame, cols: list[str], table: DataFrame) -> DataFrame:
        for col in cols:
            t = F.broadcast(table.select(F.col("_alias").alias("_a"), F.col("_target").alias("_t")))
            df = df.join(t, F.col(col) == F.col("_a"), "left").withColumn(col, F.coalesce("_t", col)).drop("_a", "_t")
        return df


def _select(df: DataFrame, kind: str, cols: dict[str, Column]) -> DataFrame:
    schema = FRAME_SCHEMAS[kind]
    return df.select(*[
        (F.col(f.name) if f.name in LINEAGE_COLUMNS else cols.get(f.name, F.lit(None))).cast(f.dataType).alias(f.name)
        for f in schema.fields
    ])


_VISIT_REFS = ["person_ref", "provider_ref", "care_site_ref"]
_EVENT_REFS = ["person_ref", "visit_ref", "provider_ref", "name"]


def _subject_required() -> parse.Check:
    return ("subject", F.col("person_ref").isNull(), "missing required value")


def _period_checks() -> list[parse.Check]:
    start, end = parse.ts("start"), parse.ts("end")
    return [
        parse.required("start"), parse.parses("start", start, "timestamp"), parse.parses("end", end, "timestamp"),
        ("end", start.isNotNull() & end.isNotNull() & (end < start), "impossible dates: end before start"),
    ]


def _persons(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    birth, death = parse.ts("start"), parse.ts("end")
    good, rejects = parse.split_rejects(records, [
        parse.required("start"), parse.parses("start", birth, "date"), parse.parses("end", death, "timestamp"),
    ])
    return _select(good, "persons", {
        "person_key": F.col("key"), "birth_ts": birth, "death_ts": death, "gender_source_value": F.col("gender"),
        "race_source_value": F.col("race"), "ethnicity_source_value": F.col("ethnicity"),
        "location_key": F.col("location_key"),
    }), rejects


def _visits(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    good, rejects = parse.split_rejects(records, [
        _subject_required(), *_period_checks(), ("class", F.col("visit_class").isNull(), "missing required value"),
    ])
    return _select(good, "visits", {
        "visit_key": F.col("key"), "person_key": F.col("person_ref"), "start_ts": parse.ts("start"),
        "end_ts": parse.ts("end"), "visit_class": F.col("visit_class"), "visit_source_value": F.col("code"),
        "provider_key": F.col("provider_ref"), "care_site_key": F.col("care_site_ref"),
    }), rejects


def _events(records: DataFrame, medications: DataFrame, types: dict[str, int]) -> tuple[DataFrame, DataFrame]:
    """Clinical facts; medicationReference codes come from the referenced Medication."""
    meds = F.broadcast(medications.select(F.col("key").alias("_med"), F.col("vocabulary_id").alias("_mv"),
                                          F.col("code").alias("_mc")).dropDuplicates(["_med"]))
    ev = records.join(meds, F.col("name") == F.col("_med"), "left").withColumn(
        "vocabulary_id", F.coalesce("vocabulary_id", "_mv")
    ).withColumn("code", F.coalesce("code", "_mc")).drop("_med", "_mv", "_mc")
    good, rejects = parse.split_rejects(ev, [
        _subject_required(), *_period_checks(), ("code", F.col("code").isNull(), "missing required value"),
    ])
    type_id = F.when(F.col("source_table").isin(*_PRESCRIPTIONS), F.lit(types["ehr_prescription"])).otherwise(F.lit(types["ehr"]))
    return _select(good, "events", {
        "event_key": F.col("key"), "person_key": F.col("person_ref"), "visit_key": F.col("visit_ref"),
        "provider_key": F.col("provider_ref"), "start_ts": parse.ts("start"), "end_ts": parse.ts("end"),
        "vocabulary_id": F.col("vocabulary_id"), "code": F.trim("code"), "default_domain": F.col("default_domain"),
        "type_concept_id": type_id, "value_as_number": F.col("value_number"), "value_as_string": F.col("value_string"),
        "value_source_value": F.substring(F.coalesce(F.col("value_string"), F.col("value_number").cast("string")), 1, 50),
        "unit_source_value": F.col("unit"), "quantity": F.col("quantity"),
    }), rejects


def _series(records: DataFrame) -> DataFrame:
    """Series of ImagingStudy resources (references resolved): their study is the event keyed by
    the resource."""
    return records.where(F.col("person_ref").isNotNull() & parse.ts("start").isNotNull()).select(
        *LINEAGE_COLUMNS, F.col("name").alias("study_event_key"), F.col("person_ref").alias("person_key"),
        "study_uid", F.col("key").alias("series_uid"), F.col("code").alias("modality"), "body_site",
        parse.ts("start").alias("series_ts"),
    )


def extract(spark: SparkSession, env: EtlEnv, input_path: str) -> SourceBatch:
    """Parse a folder of FHIR R4 Bundles / NDJSON files into the loader's batch, with the series of
    its ImagingStudy resources as its imaging part.

    Args:
        spark: the session.
        env: the run's environment (type concepts).
        input_path: folder (searched recursively) or file.
    """
    types = env.type_concepts(_TYPES)
    records = without_copies(read_records(spark, input_path).localCheckpoint(eager=True))
    records = records.withColumn("malformed", F.lit(False)).localCheckpoint(eager=True)

    def of(kind: str) -> DataFrame:
        return records.where(F.col("kind") == kind)

    res = _Resolver(records)
    aliases = res.table(records, ["visit", "event", "image_series"], sorted({*_VISIT_REFS, *_EVENT_REFS}))
    persons, p_rej = _persons(of("person"))
    visits, v_rej = _visits(res.resolve(of("visit"), _VISIT_REFS, aliases))
    events, e_rej = _events(res.resolve(of("event"), _EVENT_REFS, aliases), of("medication"), types)
    frames = {
        "persons": persons, "visits": visits, "events": events,
        "care_sites": _select(of("care_site"), "care_sites", {
            "care_site_key": F.col("key"), "care_site_name": F.col("name"), "location_key": F.col("location_key"),
        }),
        "providers": _select(of("provider"), "providers", {"provider_key": F.col("key"), "gender_source_value": F.col("gender")}),
        "locations": _select(of("location"), "locations", {
            "location_key": F.col("location_key"), "city": F.col("city"), "state": F.col("state"), "zip": F.col("zip"),
        }),
        "rejects": [of("reject").select(*LINEAGE_COLUMNS, "field", "reason"), p_rej, v_rej, e_rej],
        "filtered": of("filtered").select(*LINEAGE_COLUMNS, "reason"),
    }
    rows_read = {
        r["source_table"]: int(r["n"])
        for r in of("seen").groupBy("source_table").agg(F.sum("quantity").alias("n")).collect()
    }
    series = _series(res.resolve(of("image_series"), ["person_ref"], aliases))
    files = input_files(records)
    n_entries = sum(rows_read.values()) - rows_read.get(FILE_TABLE, 0)
    n_unusable = of("reject").where((F.col("source_table") == FILE_TABLE) & F.col("reason").startswith(UNUSABLE)).count()
    if not files or (n_entries == 0 and n_unusable == 0):
        raise DataQualityError(
            f"{input_path}: no FHIR resources to load ({len(files)} .json/.ndjson files, none with an entry); "
            "check the input path")
    if n_unusable:
        logger.warning("fhir input: %d of %d files unusable (quarantined as %s rows)", n_unusable, len(files), FILE_TABLE)
    logger.info("fhir input: %d files, %d resources", len(files), n_entries)
    return source_batch(spark, source=SOURCE, layout=LAYOUT, rows_read=rows_read, frames=frames,
                        input_files=files, image_series=series)
