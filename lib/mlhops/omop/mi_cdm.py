"""OMOP Medical Imaging extension (MI-CDM): ``image_occurrence`` and ``image_feature`` schemas.

Derived, like :mod:`mlhops.omop.schema` for the core CDM, from a machine-readable copy of the
official definition kept in ``spec/`` (``MI_CDM_Field_Level.csv``; provenance and the exact,
mechanical normalisation from the OHDSI original in ``spec/MI_CDM_SOURCE.txt``). Types map the
same way as the core CDM (integer -> IntegerType, date -> DateType, datetime -> TimestampType,
varchar -> StringType).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pyspark.sql import types as T

from mlhops.errors import SchemaError
from mlhops.omop.schema import FieldSpec, parse_field_spec, spark_schema_from_fields

MI_FIELD_SPEC_FILE = "MI_CDM_Field_Level.csv"
MI_ORIGINAL_SPEC_FILE = "MI_CDM_Field_Level_original.csv"
MI_TABLES = ("image_occurrence", "image_feature")

# CDM-vocabulary "Field" concepts naming the clinical table an image_feature row points into
# (image_feature_event_field_concept_id). 1147330 is the MEASUREMENT table concept the MI-CDM
# guide uses for DICOM-derived acquisition parameters.
MEASUREMENT_FIELD_CONCEPT_ID = 1147330

# Columns of the official OMOP v5.4 field-level CSV, in order (the layout parse_field_spec reads).
OMOP_SPEC_COLUMNS = (
    "cdmTableName",
    "cdmFieldName",
    "isRequired",
    "cdmDatatype",
    "userGuidance",
    "etlConventions",
    "isPrimaryKey",
    "isForeignKey",
    "fkTableName",
    "fkFieldName",
    "fkDomain",
    "fkClass",
    "unique DQ identifiers",
)

# Header typos of the OHDSI ImageWG original -> the OMOP spec's column names.
_HEADER_FIXES = {"useGuidance": "userGuidance", "fkFrieldName": "fkFieldName"}
_DATATYPE_FIXES = {"int": "integer", "varchar(max)": "varchar(MAX)"}


def normalise_original_spec(path: Path | str) -> list[dict[str, str]]:
    """Rows of the OHDSI ImageWG original rewritten in the v5.4 field-level CSV layout.

    Only whitespace, header typos, letter case, the ``int``/``varchar(max)`` spellings and empty
    cells (``NA``) change; see ``spec/MI_CDM_SOURCE.txt``.

    Args:
        path: The original ``OMOP_CDM_Medical_Imaging_Ex_Field_Level.csv``.

    Returns:
        One dict per field keyed by :data:`OMOP_SPEC_COLUMNS`.
    """
    out: list[dict[str, str]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [_HEADER_FIXES.get(h.strip(), h.strip()) for h in next(reader)]
        for raw in reader:
            row = dict(zip(header, (c.strip() for c in raw), strict=False))
            datatype = row["cdmDatatype"].lower()
            norm = {
                "cdmTableName": row["cdmTableName"].lower(),
                "cdmFieldName": row["cdmFieldName"].lower(),
                "isRequired": row["isRequired"],
                "cdmDatatype": _DATATYPE_FIXES.get(datatype, datatype),
                "userGuidance": row["userGuidance"],
                "etlConventions": row["etlConventions"],
                "isPrimaryKey": row["isPrimaryKey"],
                "isForeignKey": row["isForeignKey"],
                "fkTableName": row["fkTableName"].upper(),
                "fkFieldName": row["fkFieldName"].upper(),
                "fkDomain": row["fkDomain"],
                "fkClass": row["fkClass"],
                "unique DQ identifiers": "",
            }
            out.append({k: (v if v else "NA") for k, v in norm.items()})
    return out


def spec_path(name: str = MI_FIELD_SPEC_FILE) -> Path:
    """Filesystem path of a bundled MI-CDM spec file."""
    with resources.as_file(resources.files("mlhops.omop").joinpath("spec", name)) as path:
        return Path(path)


@lru_cache(maxsize=1)
def _bundled_fields() -> dict[str, list[FieldSpec]]:
    return parse_field_spec(spec_path())


def table_names() -> list[str]:
    """The MI-CDM table names."""
    return sorted(_bundled_fields())


def fields(table: str) -> list[FieldSpec]:
    """Field specs of one MI-CDM table, in spec order."""
    try:
        return _bundled_fields()[table]
    except KeyError:
        raise SchemaError(f"{table}: not an OMOP MI-CDM table") from None


def schema(table: str) -> T.StructType:
    """Spark schema of one MI-CDM table (spec order, types, nullability)."""
    return spark_schema_from_fields(fields(table))


def columns(table: str) -> list[str]:
    """Column names of one MI-CDM table, in spec order."""
    return [f.name for f in fields(table)]


def required_columns(table: str) -> list[str]:
    """Columns the MI-CDM spec marks as required (never null)."""
    return [f.name for f in fields(table) if f.required]


def primary_key(table: str) -> str:
    """The primary-key column of an MI-CDM table."""
    return next(f.name for f in fields(table) if f.primary_key)
