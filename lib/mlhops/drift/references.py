"""The multivariate detectors' patient rows, in the governed Delta table ``mlhops.detector_references``.

A registered drift detector version keeps its fitted parts in MLflow (:mod:`mlhops.drift.registry`)
and its rows here, one row per sampled visit:

* ``part = "reference"``: the detectors' ``x_ref`` rows of one slice value, in order
  (``row_index``), with their feature values (numeric and binary features as doubles, categorical
  ones as text): :func:`mlhops.drift.detectors.load_suite` rebuilds ``x_ref`` from them with the
  saved preprocessing, exactly;
* ``part = "fit"``: the persons whose rows fitted the preprocessing and the VAE (no values):
  erasure flags a version fitted on an erased person for re-fitting.

Every row carries the OMOP ``person_id`` of the visit (the key of the feature table the rows were
sampled from), so ``mlhops erase`` finds and removes them like any other person-keyed table. A
version's rows are written in one commit (``replaceWhere`` on the model name and version): a
re-write of a version replaces, never duplicates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import functions as F

from mlhops.drift.result import ALL_SLICE
from mlhops.errors import SchemaError
from mlhops.io import Catalog, read_table, replace_where, table_exists
from mlhops.io.tables.monitoring import (  # noqa: F401 - re-exported
    DETECTOR_REFERENCES,
    DETECTOR_REFERENCES_SCHEMA,
    DETECTOR_REFERENCES_SPEC,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlhops.drift.detectors import DetectorSuite
    from mlhops.drift.preprocess import TabularPreprocessor

REFERENCE_PART = "reference"
FIT_PART = "fit"
PERSON_COLUMN = "person_id"



def _version_predicate(model_name: str, version: str) -> str:
    name = model_name.replace("'", "''")
    return f"model_name = '{name}' AND model_version = '{version}'"


def _person(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _value_rows(pre: TabularPreprocessor, frame: pd.DataFrame) -> list[tuple[dict[str, float | None], dict[str, str | None]]]:
    """Per row: numeric/binary values as the transform reads them, categories as text (null: missing)."""
    from mlhops.drift.preprocess import _as_binary

    numeric: dict[str, list[Any]] = {}
    text: dict[str, list[Any]] = {}
    for col in pre.columns:
        s = frame[col.name]
        if col.kind == "numeric":
            v = pd.to_numeric(s, errors="coerce").astype("float64")
            numeric[col.name] = [None if math.isnan(x) else float(x) for x in v]
        elif col.kind == "binary":
            v = _as_binary(s)
            numeric[col.name] = [None if math.isnan(x) else float(x) for x in v]
        else:
            miss = s.isna().to_numpy()
            text[col.name] = [None if m else str(x) for x, m in zip(s.to_numpy(), miss)]
    return [({k: numeric[k][i] for k in numeric}, {k: text[k][i] for k in text}) for i in range(len(frame))]


def reference_rows(
    suites: Mapping[tuple[str, str], DetectorSuite], fit_persons: pd.Series | None, *, model_name: str, version: str,
) -> list[tuple[Any, ...]]:
    """The table rows of one version: every suite's reference rows, then the fit persons.

    Raises:
        SchemaError: a suite has no reference rows in memory (only a freshly fitted suite has).
    """
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows: list[tuple[Any, ...]] = []
    for (sl, val), suite in suites.items():
        if suite.reference is None:
            raise SchemaError(f"drift suite {sl}={val}: no reference rows to store")
        frame = suite.reference
        persons = frame[PERSON_COLUMN] if PERSON_COLUMN in frame.columns else pd.Series([None] * len(frame))
        for i, ((nums, cats), person) in enumerate(zip(_value_rows(suite.preprocessor, frame), persons)):
            rows.append((model_name, version, sl, val, REFERENCE_PART, i, _person(person), nums, cats, now))
    if fit_persons is not None:
        for i, person in enumerate(fit_persons):
            rows.append((model_name, version, ALL_SLICE, ALL_SLICE, FIT_PART, i, _person(person), None, None, now))
    return rows


def write_references(
    spark: SparkSession, catalog: Catalog, suites: Mapping[tuple[str, str], DetectorSuite],
    fit_persons: pd.Series | None, *, model_name: str, version: str,
) -> int:
    """Replace the rows of ``model_name`` version ``version`` with the suites' rows (one commit).

    Returns:
        Rows written.
    """
    rows = reference_rows(suites, fit_persons, model_name=model_name, version=version)
    df = spark.createDataFrame(rows, schema=DETECTOR_REFERENCES_SCHEMA)
    replace_where(df, catalog, DETECTOR_REFERENCES, _version_predicate(model_name, version))
    return len(rows)


def delete_references(spark: SparkSession, catalog: Catalog, *, model_name: str, version: str) -> None:
    """Remove a version's rows (a registration that failed after writing them)."""
    from mlhops.io import delete_where

    delete_where(spark, catalog, DETECTOR_REFERENCES, _version_predicate(model_name, version))


def read_references(
    spark: SparkSession, catalog: Catalog, *, model_name: str, version: str,
    preprocessors: Mapping[tuple[str, str], TabularPreprocessor],
) -> dict[tuple[str, str], pd.DataFrame]:
    """The reference rows of each slice suite of a version, as the frames the suites were built on.

    Args:
        spark: the session.
        catalog: table locations.
        model_name: registered drift detector name.
        version: its version.
        preprocessors: each suite's saved preprocessing (gives the features and their kinds).

    Raises:
        SchemaError: the table or a suite's rows are missing (an erasure removed the version's
            rows of erased persons: re-fit the detectors, as the erasure's flag says).
    """
    if not table_exists(spark, catalog, DETECTOR_REFERENCES):
        raise SchemaError(f"{DETECTOR_REFERENCES} does not exist: drift detectors {model_name} v{version} "
                          "have no reference rows; run `mlhops drift fit`")
    rows = (read_table(spark, catalog, DETECTOR_REFERENCES)
            .where(F.expr(_version_predicate(model_name, version)) & (F.col("part") == REFERENCE_PART))
            .select("slice", "slice_value", "row_index", PERSON_COLUMN, "numeric_values", "category_values")
            .toPandas())
    out: dict[tuple[str, str], pd.DataFrame] = {}
    for key, pre in preprocessors.items():
        part = rows[(rows["slice"] == key[0]) & (rows["slice_value"] == key[1])].sort_values("row_index")
        if part.empty:
            raise SchemaError(f"{DETECTOR_REFERENCES}: no reference rows for {model_name} v{version} slice "
                              f"{key[0]}={key[1]}; run `mlhops drift fit`")
        out[key] = _frame(pre, part)
    return out


def _frame(pre: TabularPreprocessor, part: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back into a feature frame (float64 numerics, object categories)."""
    data: dict[str, Any] = {}
    nums = [m if isinstance(m, dict) else dict(m or {}) for m in part["numeric_values"]]
    cats = [m if isinstance(m, dict) else dict(m or {}) for m in part["category_values"]]
    for col in pre.columns:
        if col.kind in ("numeric", "binary"):
            data[col.name] = pd.Series([n.get(col.name) for n in nums], dtype="float64")
        else:
            data[col.name] = pd.Series([c.get(col.name) for c in cats], dtype=object)
    frame = pd.DataFrame(data)
    frame[PERSON_COLUMN] = part[PERSON_COLUMN].to_numpy()
    return frame


def versions_with_persons(references: DataFrame, persons: DataFrame) -> list[tuple[str, str]]:
    """``(model_name, model_version)`` pairs whose rows hold one of ``persons`` (column ``person_id``)."""
    hit = references.join(persons.select(PERSON_COLUMN).distinct(), PERSON_COLUMN)
    return sorted((r["model_name"], r["model_version"]) for r in hit.select("model_name", "model_version")
                  .distinct().collect())
