"""OMOP CDM v5.4 table schemas, derived at import time from the official field-level spec.

The spec CSV (``spec/OMOP_CDMv5.4_Field_Level.csv``, copied unchanged from OHDSI) is the single
source of truth: column order, Spark types and required (NOT NULL) flags all come from it.

Type mapping (spec ``cdmDatatype`` -> Spark):
  integer  -> IntegerType   (32-bit, as the spec's DDL)
  float    -> DoubleType    (SQL ``FLOAT`` without precision is an 8-byte double in ANSI SQL,
                             PostgreSQL and SQL Server, the OHDSI reference platforms)
  date     -> DateType
  datetime -> TimestampType (UTC)
  varchar(n) / varchar(MAX) -> StringType (lengths are checked by the quality stage, since
                             Delta does not enforce them)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pyspark.sql import types as T

from mlhops.errors import SchemaError

FIELD_SPEC_FILE = "OMOP_CDMv5.4_Field_Level.csv"
TABLE_SPEC_FILE = "OMOP_CDMv5.4_Table_Level.csv"

_VARCHAR = re.compile(r"^varchar\((\d+|MAX)\)$", re.IGNORECASE)


@dataclass(frozen=True)
class FieldSpec:
    """One column of an OMOP table as the official spec defines it."""

    table: str
    name: str
    datatype: str
    required: bool
    primary_key: bool
    fk_table: str | None
    fk_field: str | None
    fk_domain: str | None
    max_length: int | None

    @property
    def spark_type(self) -> T.DataType:
        return spark_type_for(self.datatype)


def spark_type_for(datatype: str) -> T.DataType:
    """Map a spec ``cdmDatatype`` to its Spark type (see module docstring)."""
    d = datatype.strip().lower()
    if d == "integer":
        return T.IntegerType()
    if d == "float":
        return T.DoubleType()
    if d == "date":
        return T.DateType()
    if d == "datetime":
        return T.TimestampType()
    if _VARCHAR.match(d):
        return T.StringType()
    raise SchemaError(f"{FIELD_SPEC_FILE}: unknown cdmDatatype {datatype!r}")


def _na(value: str) -> str | None:
    value = (value or "").strip()
    return None if value in ("", "NA") else value


def parse_field_spec(path: Path | str) -> dict[str, list[FieldSpec]]:
    """Parse a field-level spec CSV into ``{table: [FieldSpec, ...]}`` in spec column order."""
    tables: dict[str, list[FieldSpec]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            m = _VARCHAR.match(row["cdmDatatype"].strip())
            max_len = int(m.group(1)) if m and m.group(1).isdigit() else None
            spec = FieldSpec(
                table=row["cdmTableName"].strip().lower(),
                name=row["cdmFieldName"].strip().lower(),
                datatype=row["cdmDatatype"].strip(),
                required=row["isRequired"].strip().lower() == "yes",
                primary_key=row["isPrimaryKey"].strip().lower() == "yes",
                fk_table=(_na(row["fkTableName"]) or "").lower() or None,
                fk_field=(_na(row["fkFieldName"]) or "").lower() or None,
                fk_domain=_na(row["fkDomain"]),
                max_length=max_len,
            )
            tables.setdefault(spec.table, []).append(spec)
    return tables


def spark_schema_from_fields(fields: list[FieldSpec]) -> T.StructType:
    """Spark schema with the spec's order, types and nullability."""
    return T.StructType([T.StructField(f.name, f.spark_type, nullable=not f.required) for f in fields])


@lru_cache(maxsize=1)
def _bundled_fields() -> dict[str, list[FieldSpec]]:
    spec = resources.files("mlhops.omop").joinpath("spec", FIELD_SPEC_FILE)
    with resources.as_file(spec) as path:
        return parse_field_spec(path)


def table_names() -> list[str]:
    """All CDM v5.4 table names in the spec."""
    return sorted(_bundled_fields())


def fields(table: str) -> list[FieldSpec]:
    """Field specs of one CDM table, in spec order."""
    try:
        return _bundled_fields()[table]
    except KeyError:
        raise SchemaError(f"{table}: not an OMOP CDM v5.4 table") from None


def schema(table: str) -> T.StructType:
    """Spark schema of one CDM table."""
    return spark_schema_from_fields(fields(table))


def columns(table: str) -> list[str]:
    """Column names of one CDM table, in spec order."""
    return [f.name for f in fields(table)]


def required_columns(table: str) -> list[str]:
    """Columns the spec marks as required (never null)."""
    return [f.name for f in fields(table) if f.required]


def primary_key(table: str) -> str | None:
    """The single primary-key column of a table, if the spec declares one."""
    pks = [f.name for f in fields(table) if f.primary_key]
    return pks[0] if len(pks) == 1 else None
