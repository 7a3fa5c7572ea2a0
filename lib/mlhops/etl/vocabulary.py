"""OMOP vocabulary tables (CONCEPT, CONCEPT_RELATIONSHIP) from a folder of CSV files.

Accepts an Athena download (tab-separated ``CONCEPT.csv``) as well as comma-separated exports,
plain or gzip (``CONCEPT.csv.gz``), file names in upper or lower case. Only the columns the
mapping needs are kept, typed as the CDM v5.4 spec declares them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
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


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary frames the mapping core joins against."""

    concept: DataFrame
    concept_relationship: DataFrame
    files: tuple[str, ...]


def _find(files: list[str], table: str, vocab_dir: str) -> str:
    wanted = {f"{table}.csv", f"{table}.csv.gz", f"{table}.tsv", f"{table}.tsv.gz"}
    hits = [f for f in files if f.rsplit("/", 1)[-1].lower() in wanted]
    if not hits:
        raise ConfigError(f"etl.vocabulary_dir {vocab_dir}: no {table.upper()}.csv[.gz] found")
    return sorted(hits)[0]


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

    Args:
        spark: the session.
        vocabulary_dir: folder with the two files.
        cache: materialise both frames once (they are joined several times per run).

    Raises:
        ConfigError: the folder or one of the two files is missing.
    """
    files = list_files(spark, vocabulary_dir)
    if not files:
        raise ConfigError(f"etl.vocabulary_dir {vocabulary_dir}: folder missing or empty")
    concept_path = _find(files, "concept", vocabulary_dir)
    rel_path = _find(files, "concept_relationship", vocabulary_dir)
    concept = read_vocabulary_table(spark, concept_path, CONCEPT_COLUMNS).where(F.col("concept_id").isNotNull())
    rel = read_vocabulary_table(spark, rel_path, RELATIONSHIP_COLUMNS).where(
        F.col("concept_id_1").isNotNull()
        & F.col("concept_id_2").isNotNull()
        & F.col("relationship_id").isin(*USED_RELATIONSHIPS)
        & F.col("invalid_reason").isNull()
    )
    if cache:
        # Parsed once per run (gzip files are read by a single task), reused by every join.
        concept = concept.localCheckpoint(eager=True)
        rel = rel.localCheckpoint(eager=True)
    logger.info("vocabulary from %s", vocabulary_dir)
    return Vocabulary(concept=concept, concept_relationship=rel, files=(concept_path, rel_path))
