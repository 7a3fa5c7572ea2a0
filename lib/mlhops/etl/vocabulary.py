"""OMOP vocabulary tables (CONCEPT, CONCEPT_RELATIONSHIP) from a folder of CSV files.

Accepts an Athena download (tab-separated ``CONCEPT.csv``) as well as comma-separated exports,
plain or gzip (``CONCEPT.csv.gz``), file names in upper or lower case. Only the columns the
mapping needs are kept, typed as the CDM v5.4 spec declares them.

A folder may hold several files per table: ``CONCEPT.csv.gz`` plus any ``CONCEPT_<part>.csv[.gz]``
(e.g. ``CONCEPT_synthea.csv.gz``, ``CONCEPT_dicom.csv.gz``), and likewise
``CONCEPT_RELATIONSHIP[_<part>].csv[.gz]``. All parts are read and unioned; a concept id present
in several parts is kept once (the part that sorts first wins, the unsuffixed file before any
suffixed one), a relationship once per ``(concept_id_1, concept_id_2, relationship_id)``. Other
Athena tables (``CONCEPT_ANCESTOR``, ``CONCEPT_CLASS``, ``CONCEPT_SYNONYM``, ...) are not parts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import Window
from pyspark.sql import functions as F

from mlhops.errors import ConfigError, SchemaError
from mlhops.io.fs import list_files, read_first_line

logger = logging.getLogger(__name__)

CONCEPT_COLUMNS = [
    "concept_id",
    "concept_name",
    "domain_id",
    "vocabulary_id",
    "concept_class_id",
    "standard_concept",
    "concept_code",
    "invalid_reason",
]
RELATIONSHIP_COLUMNS = ["concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"]
# Relationships the ETL uses ("Maps to" for mapping, the rest to roll drugs up to ingredients).
USED_RELATIONSHIPS = ("Maps to", "RxNorm has ing", "Consists of", "Tradename of", "Quantified form of")
_INT_COLUMNS = {"concept_id", "concept_id_1", "concept_id_2"}
RELATIONSHIP_KEY = ("concept_id_1", "concept_id_2", "relationship_id")
_EXTENSIONS = (".csv.gz", ".tsv.gz", ".csv", ".tsv")
# Athena vocabulary tables whose names start with "concept_" but are not parts of CONCEPT.
_OTHER_CONCEPT_TABLES = ("relationship", "ancestor", "class", "synonym", "cpt4")


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary frames the mapping core joins against."""

    concept: DataFrame
    concept_relationship: DataFrame
    files: tuple[str, ...]


def _stem(path: str) -> str | None:
    """Lower-case file name without its CSV/TSV extension; None for other files."""
    name = path.rsplit("/", 1)[-1].lower()
    for ext in _EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return None


def _is_part(stem: str, table: str) -> bool:
    if stem == table:
        return True
    if not stem.startswith(f"{table}_"):
        return False
    if table != "concept":
        return True
    return stem[len("concept_"):].split("_", 1)[0] not in _OTHER_CONCEPT_TABLES


def table_parts(files: list[str], table: str) -> list[str]:
    """The files of ``files`` that hold part of vocabulary ``table`` (``"concept"`` or
    ``"concept_relationship"``), the unsuffixed file first, then the parts by name.

    Args:
        files: paths in the vocabulary folder.
        table: lower-case table name.
    """
    parts = [(stem, f) for f in files if (stem := _stem(f)) is not None and _is_part(stem, table)]
    return [f for stem, f in sorted(parts, key=lambda p: (p[0] != table, p[0], p[1]))]


def _find(files: list[str], table: str, vocab_dir: str) -> list[str]:
    parts = table_parts(files, table)
    if not parts:
        raise ConfigError(f"etl.vocabulary_dir {vocab_dir}: no {table.upper()}.csv[.gz] found")
    return parts


def _union_parts(spark: SparkSession, paths: list[str], columns: list[str]) -> DataFrame:
    """Union of the parts with ``_part`` = position of the file in ``paths``."""
    frames = [read_vocabulary_table(spark, p, columns).withColumn("_part", F.lit(i)) for i, p in enumerate(paths)]
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out


def _first_per_key(df: DataFrame, key: tuple[str, ...], single: bool) -> DataFrame:
    """One row per ``key``, the one from the earliest part (no shuffle when there is one part)."""
    if single:
        return df.drop("_part")
    rank = F.row_number().over(Window.partitionBy(*key).orderBy("_part"))
    return df.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank", "_part")


def read_vocabulary_table(spark: SparkSession, path: str, columns: list[str]) -> DataFrame:
    """Read one vocabulary CSV (tab- or comma-separated, optionally gzip) with typed columns.

    Args:
        spark: the session.
        path: file location.
        columns: columns to keep; each must exist in the header.

    Raises:
        SchemaError: a required column is missing from the header.
    """
    header = read_first_line(spark, path)
    sep = "\t" if "\t" in header else ","
    names = [h.strip().strip('"').lower() for h in header.split(sep)]
    missing = [c for c in columns if c not in names]
    if missing:
        raise SchemaError(f"{path}: missing columns {missing}")
    df = (
        spark.read.option("header", "true")
        .option("sep", sep)
        .option("quote", "\"" if sep == "," else "\u0000")
        .option("mode", "PERMISSIVE")
        .csv(path)
    )
    df = df.toDF(*[c.lower() for c in df.columns])
    out = []
    for c in columns:
        col = F.col(c)
        out.append((col.try_cast("int") if c in _INT_COLUMNS else F.nullif(F.trim(col), F.lit(""))).alias(c))
    return df.select(*out)


def load_vocabulary(spark: SparkSession, vocabulary_dir: str, *, cache: bool = True) -> Vocabulary:
    """Load CONCEPT and the valid CONCEPT_RELATIONSHIP rows the ETL uses from ``vocabulary_dir``.

    Every part of each table in the folder is read (see the module docstring) and de-duplicated.

    Args:
        spark: the session.
        vocabulary_dir: folder with the CONCEPT and CONCEPT_RELATIONSHIP files.
        cache: materialise both frames once (they are joined several times per run).

    Raises:
        ConfigError: the folder, or every file of one of the two tables, is missing.
        SchemaError: a file lacks a column the ETL needs.
    """
    files = list_files(spark, vocabulary_dir)
    if not files:
        raise ConfigError(f"etl.vocabulary_dir {vocabulary_dir}: folder missing or empty")
    concept_paths = _find(files, "concept", vocabulary_dir)
    rel_paths = _find(files, "concept_relationship", vocabulary_dir)
    concept = _first_per_key(
        _union_parts(spark, concept_paths, CONCEPT_COLUMNS).where(F.col("concept_id").isNotNull()),
        ("concept_id",),
        single=len(concept_paths) == 1,
    )
    rel = _union_parts(spark, rel_paths, RELATIONSHIP_COLUMNS).where(
        F.col("concept_id_1").isNotNull()
        & F.col("concept_id_2").isNotNull()
        & F.col("relationship_id").isin(*USED_RELATIONSHIPS)
        & F.col("invalid_reason").isNull()
    )
    rel = rel.drop("_part") if len(rel_paths) == 1 else rel.dropDuplicates(list(RELATIONSHIP_KEY)).drop("_part")
    if cache:
        # Parsed once per run (gzip files are read by a single task), reused by every join.
        concept = concept.localCheckpoint(eager=True)
        rel = rel.localCheckpoint(eager=True)
    logger.info("vocabulary from %s (%d concept files, %d relationship files)",
                vocabulary_dir, len(concept_paths), len(rel_paths))
    return Vocabulary(concept=concept, concept_relationship=rel, files=(*concept_paths, *rel_paths))
