"""Test helper: OMOP Delta tables from the shared OMOP CDM v5.4 export (Synthea27Nj).

CSV columns are lower-cased and cast with ``mlhops.omop.schema.schema(table)``; columns the
export lacks are null. Tables are written once per test session under the pytest base temp.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TABLES = (
    "person", "visit_occurrence", "measurement", "condition_occurrence",
    "drug_exposure", "procedure_occurrence", "death", "concept",
)


def load_export(spark: SparkSession, export_dir: Path, warehouse: Path) -> Path:
    """Write the export's tables as ``<warehouse>/omop/<table>`` Delta tables (once)."""
    from mlhops.io import Catalog
    from mlhops.omop.schema import schema

    done = warehouse / "_loaded"
    if done.exists():
        return warehouse
    cat = Catalog(str(warehouse))
    for table in TABLES:
        files = [p for p in export_dir.iterdir() if p.name.lower() in (f"{table}.csv", f"{table}.csv.gz")]
        target = schema(table)
        raw = spark.read.csv(str(files[0]), header=True, inferSchema=False)
        raw = raw.toDF(*[c.lower() for c in raw.columns])
        cols = [
            (F.col(f.name) if f.name in raw.columns else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in target.fields
        ]
        raw.select(*cols).write.format("delta").mode("overwrite").option(
            "delta.enableChangeDataFeed", "true"
        ).save(cat.omop(table))
    done.write_text("ok")
    return warehouse
