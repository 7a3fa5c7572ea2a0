"""The only way code reaches tables: names in, Delta paths resolved here."""

from mlhops.io.catalog import Catalog
from mlhops.io.delta import (
    delete_where,
    merge_into,
    read_table,
    replace_where,
    table_exists,
    table_version,
    write_overwrite,
)

__all__ = [
    "Catalog",
    "delete_where",
    "merge_into",
    "read_table",
    "replace_where",
    "table_exists",
    "table_version",
    "write_overwrite",
]
