"""How the window tables (profile states, metrics, drift results) are laid out when written.

Rows are sorted by window within each task and written in files of at most
:data:`ROWS_PER_FILE` rows, so every file holds a narrow run of windows: the min/max statistics
Delta keeps per file then let a nightly ``replaceWhere`` on a few windows rewrite a few small
files instead of every large one.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from mlhops.io import Catalog, replace_where, write_overwrite

# Rows per file of a full run's writes (a per-write option: the session's
# spark.sql.files.maxRecordsPerFile stays as it is for the threads writing beside this one).
ROWS_PER_FILE = 1024


def by_window(df: DataFrame) -> DataFrame:
    """Rows sorted by window within each task."""
    return df.sortWithinPartitions("granularity", "window_start")


def overwrite_by_window(df: DataFrame, catalog: Catalog, name: str) -> None:
    """Overwrite table ``name`` with ``df``, laid out by window."""
    write_overwrite(by_window(df), catalog, name, max_records_per_file=ROWS_PER_FILE)


def replace_by_window(df: DataFrame, catalog: Catalog, name: str, predicate: str) -> None:
    """Replace the rows of ``name`` matching ``predicate`` with ``df``, laid out by window."""
    replace_where(by_window(df), catalog, name, predicate, max_records_per_file=ROWS_PER_FILE)
