"""Tables owned by the etl stage: every OMOP CDM v5.4 table (and the MI-CDM imaging tables), the
id map and the quarantine.

CDM schemas come from the official specs (:mod:`mlhops.omop.schema`, :mod:`mlhops.omop.mi_cdm`);
a table's key is its single primary key where the spec declares one; ``death`` (one row per person,
no primary key in the spec) is keyed by ``person_id``. Other tables without a primary key (the
vocabulary relationship tables, ``fact_relationship``, ...) have no key: a CDM export replaces them
whole.
"""

from __future__ import annotations

from pyspark.sql import types as T

from mlhops.io.tables.spec import TableSpec, struct
from mlhops.omop import mi_cdm
from mlhops.omop import schema as cdm

OMOP_SCHEMA = "omop"
ID_MAP = "mlhops.id_map"
QUARANTINE = "mlhops.quarantine"

ID_MAP_SCHEMA = struct(
    ("kind", T.StringType(), False),
    ("key_hash", T.StringType(), False),
    ("id", T.IntegerType(), False),
    ("run_id", T.StringType(), False),  # run that first assigned it
)
ID_MAP_KEYS = ("kind", "key_hash")

QUARANTINE_SCHEMA = struct(
    ("run_id", T.StringType(), False),
    ("source", T.StringType(), False),
    ("source_table", T.StringType(), False),
    ("source_file", T.StringType(), False),
    ("file_sha256", T.StringType(), True),
    ("source_line", T.LongType(), False),
    ("field", T.StringType(), True),
    ("reason", T.StringType(), False),
    ("recorded_at", T.TimestampType(), False),
)
QUARANTINE_KEYS = ("source", "source_table", "source_file", "file_sha256", "source_line", "field", "reason")


def omop_table(table: str) -> str:
    """Catalog name of a CDM table: ``person`` -> ``omop.person``."""
    return f"{OMOP_SCHEMA}.{table}"


PERSON = omop_table("person")
PROCEDURE_OCCURRENCE = omop_table("procedure_occurrence")
MEASUREMENT = omop_table("measurement")
VISIT_OCCURRENCE = omop_table("visit_occurrence")
IMAGE_OCCURRENCE = omop_table("image_occurrence")
IMAGE_FEATURE = omop_table("image_feature")


# Tables without a spec primary key that still have one row per person.
_PERSON_KEYED = ("death",)


def _cdm_spec(table: str, schema: T.StructType, key: str | None, description: str) -> TableSpec:
    key = key or ("person_id" if table in _PERSON_KEYED else None)
    person = ("person_id",) if "person_id" in schema.fieldNames() else ()
    return TableSpec(omop_table(table), schema, (key,) if key else (), person, "etl", description)


def _cdm_tables() -> tuple[TableSpec, ...]:
    core = tuple(
        _cdm_spec(t, cdm.schema(t), cdm.primary_key(t), f"OMOP CDM v5.4 {t}") for t in cdm.table_names()
    )
    imaging = tuple(
        _cdm_spec(t, mi_cdm.schema(t), mi_cdm.primary_key(t), f"OMOP MI-CDM {t}") for t in mi_cdm.MI_TABLES
    )
    return core + imaging


TABLES: tuple[TableSpec, ...] = (
    *_cdm_tables(),
    TableSpec(ID_MAP, ID_MAP_SCHEMA, ID_MAP_KEYS, (), "etl",
              "stable OMOP ids per (kind, keyed hash of a natural key); holds no source identifier"),
    TableSpec(QUARANTINE, QUARANTINE_SCHEMA, QUARANTINE_KEYS, (), "etl",
              "source rows that could not be loaded: file, line, field and reason (never values)"),
)
