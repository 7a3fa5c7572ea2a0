"""Versioned drift detectors: an MLflow pyfunc model per fit, its rows in Delta, loaded by alias.

A registered version is an MLflow pyfunc model (:class:`DriftSuitesModel`, with a signature)
whose artifact holds one saved :class:`~mlhops.drift.detectors.DetectorSuite` per reference slice
value (``suites/<slice>=<value>/``) and an ``index.json`` naming them: configuration,
preprocessing, encoder weights, alibi configs, never a patient row. The suites' reference rows
live in ``mlhops.detector_references`` (:mod:`mlhops.drift.references`), written when the
version is registered; a registration that fails after creating the version deletes the version
and its rows, and the alias moves only once both are in place. Tags record the reference window,
the feature list, the data versions and the warehouse the rows are in. Nightly scoring only ever
loads a registered version; it never fits one on the fly.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlhops.drift.detectors import DetectorSuite, load_suites, save_suites, saved_preprocessors, suite_dirname
from mlhops.drift.references import DETECTOR_REFERENCES, delete_references, read_references, write_references
from mlhops.drift.result import ALL_SLICE
from mlhops.errors import MLHOpsError, SchemaError
from mlhops.io import Catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = ["DetectorNotRegisteredError", "RegisteredSuites", "load_registered", "load_suites", "register_suites",
           "save_suites", "saved_preprocessors", "suite_dirname"]

ARTIFACT_PATH = "drift_suite"
# MLflow tag values are capped; long feature lists are cut with a marker.
MAX_TAG_CHARS = 4000
# Version tags naming where the rows are (load_registered's contract takes no catalog).
WAREHOUSE_TAG = "mlhops.warehouse"
# The table catalog the reference rows are in (Catalog.to_tag); versions registered before it carry
# only WAREHOUSE_TAG (a path-mode warehouse).
CATALOG_TAG = "mlhops.table_catalog"
REFERENCE_TABLE_TAG = "mlhops.reference_table"


class DetectorNotRegisteredError(MLHOpsError):
    """No registered drift detector version answers the configured alias."""


@dataclass(frozen=True)
class RegisteredSuites:
    """Suites of one registered version, keyed by ``(slice, slice_value)``."""

    name: str
    version: str
    suites: dict[tuple[str, str], DetectorSuite]
    tags: dict[str, str]


def signature(suites: dict[tuple[str, str], DetectorSuite]) -> Any:
    """The model signature: slice columns (optional) and the features in; outcomes out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from mlhops.drift.pyfunc import OUTCOME_COLUMNS

    base = suites[(ALL_SLICE, ALL_SLICE)] if (ALL_SLICE, ALL_SLICE) in suites else next(iter(suites.values()))
    kinds = {"numeric": "double", "binary": "double", "categorical": "string"}
    inputs = [ColSpec("string", "slice", required=False), ColSpec("string", "slice_value", required=False)]
    inputs += [ColSpec(kinds[c.kind], c.name, required=False) for c in base.preprocessor.columns]  # type: ignore[arg-type]
    types = {"drift": "boolean", "n_reference": "long", "n_current": "long",
             "statistic": "double", "p_value": "double", "threshold": "double"}
    outputs = [ColSpec(types.get(c, "string"), c) for c in OUTCOME_COLUMNS]  # type: ignore[arg-type]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _requirements() -> list[str]:
    import alibi_detect
    import torch

    return [f"alibi-detect=={alibi_detect.__version__}", f"torch=={torch.__version__.split('+')[0]}"]


def register_suites(
    client: Any,
    suites: dict[tuple[str, str], DetectorSuite],
    *,
    model_name: str,
    run_id: str,
    tags: dict[str, str],
    alias: str | None,
    spark: SparkSession,
    catalog: Catalog,
    fit_persons: pd.Series | None = None,
) -> str:
    """Log the suites as a pyfunc model in the run, register a version, write its rows to Delta.

    Order: model logged and version created (no rows in MLflow); rows written to
    ``mlhops.detector_references`` in one commit; only then the alias moves. A failure after the
    version was created deletes the version and its rows, so no version is left without its
    reference and no reference without its version.

    Args:
        client: the tracker's ``MlflowClient`` (``Tracker.client()``).
        suites: fitted suites by ``(slice, slice_value)`` (with their reference rows in memory).
        model_name: registered model name.
        run_id: the MLflow run the model is logged in (the active one, or resumed).
        tags: version tags (reference window, features, data versions...).
        alias: alias to point at the new version (None: leave aliases alone).
        spark: the session (writes the rows).
        catalog: table locations.
        fit_persons: ``person_id`` of the rows the preprocessing and VAE were fitted on.

    Returns:
        The new version number, as a string.
    """
    import mlflow

    from mlhops.drift.pyfunc import SUITES_ARTIFACT, DriftSuitesModel

    clean = {k: str(v)[:MAX_TAG_CHARS] for k, v in tags.items()}
    clean.update({WAREHOUSE_TAG: catalog.warehouse, CATALOG_TAG: catalog.to_tag(),
                  REFERENCE_TABLE_TAG: DETECTOR_REFERENCES})
    active = mlflow.active_run()
    with tempfile.TemporaryDirectory(prefix="mlhops-drift-") as tmp:
        save_suites(Path(tmp), suites)
        log = dict(name=ARTIFACT_PATH, python_model=DriftSuitesModel(), artifacts={SUITES_ARTIFACT: tmp},
                   signature=signature(suites), pip_requirements=_requirements(), registered_model_name=model_name)
        if active is not None and active.info.run_id == run_id:
            info = mlflow.pyfunc.log_model(**log)
        else:
            with mlflow.start_run(run_id=run_id):
                info = mlflow.pyfunc.log_model(**log)
    version = str(info.registered_model_version)
    try:
        for k, v in clean.items():
            client.set_model_version_tag(model_name, version, k, v)
        n = write_references(spark, catalog, suites, fit_persons, model_name=model_name, version=version)
        if alias:
            client.set_registered_model_alias(model_name, alias, version)
    except BaseException:
        logger.error("registering drift detectors %s version %s failed; removing the version and its rows",
                     model_name, version)
        delete_references(spark, catalog, model_name=model_name, version=version)
        client.delete_model_version(model_name, version)
        raise
    logger.info("registered drift detectors %s version %s (alias %s, %d rows in %s)", model_name, version, alias, n,
                DETECTOR_REFERENCES)
    return version


def load_registered(
    client: Any, model_name: str, alias: str, *, spark: SparkSession | None = None, catalog: Catalog | None = None,
) -> RegisteredSuites:
    """Load the pyfunc model the alias points at, with its reference rows from Delta.

    Args:
        client: the tracker's ``MlflowClient`` (``Tracker.client()``).
        model_name: registered model name.
        alias: the alias to resolve.
        spark: the session (default: the active one).
        catalog: where the rows are (default: the warehouse the version was registered from).

    Raises:
        DetectorNotRegisteredError: no such model or alias (run ``mlhops drift fit`` first).
        SchemaError: the version's reference rows are missing (erased: re-fit).
    """
    import mlflow
    from pyspark.sql import SparkSession

    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException:
        raise DetectorNotRegisteredError(
            f"no drift detector registered as {model_name}@{alias}; run `mlhops drift fit` first"
        ) from None
    tags: dict[str, Any] = dict(mv.tags or {})
    session = spark or SparkSession.getActiveSession()
    if session is None:
        raise SchemaError("load_registered: no Spark session to read the detectors' reference rows with")
    where = catalog or (Catalog.from_tag(tags[CATALOG_TAG]) if CATALOG_TAG in tags
                        else Catalog(tags.get(WAREHOUSE_TAG) or ""))
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{mv.version}")
    python_model = model.unwrap_python_model()
    if python_model.root is None:
        raise SchemaError(f"{model_name} v{mv.version}: not a drift detector pyfunc model")
    refs = read_references(session, where, model_name=model_name, version=str(mv.version),
                           preprocessors=saved_preprocessors(python_model.root))
    suites = python_model.attach(refs)
    logger.info("loaded drift detectors %s version %s", model_name, mv.version)
    return RegisteredSuites(name=model_name, version=str(mv.version), suites=suites, tags=tags)
