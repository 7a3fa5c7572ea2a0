"""Delta tables a run read, logged as MLflow dataset inputs (path and Delta version, no rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    from mlhops.tracking.tracker import Tracker

# ``mlflow.data.context`` values of the runs that log inputs.
TRAINING = "training"
EVALUATION = "evaluation"
# Input tag holding the Delta version read. MLflow's Delta source leaves version 0 out of its
# JSON (it tests the version for truth), which then reads like "latest".
VERSION_TAG = "mlhops.delta_version"
# Length of a dataset digest (MLflow's own digests are 8 hex characters).
DIGEST_CHARS = 8


@dataclass(frozen=True)
class DeltaInput:
    """One Delta table at the version a run read.

    Attributes:
        table: the mlhops table name (``mlhops.features``), also the dataset's name.
        path: the table's location, or its name in a metastore catalog (``by_name``).
        version: the Delta version read (None: the table did not exist).
        by_name: ``path`` is a catalog table name (``catalog.schema.table``).
    """

    table: str
    path: str
    version: int | None
    by_name: bool = False


def _source(i: DeltaInput) -> DeltaDatasetSource:
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    if i.by_name:
        return DeltaDatasetSource(delta_table_name=i.path, delta_table_version=i.version)
    return DeltaDatasetSource(path=i.path, delta_table_version=i.version)


def log_delta_inputs(tracker: Tracker, inputs: Sequence[DeltaInput], *, context: str,
                     run_id: str | None = None) -> int:
    """Log each existing table as a dataset input of ``run_id`` (default: the active run).

    The datasets carry only metadata: name, Delta source (path, version), the version as the
    input tag :data:`VERSION_TAG` and a digest of table, path and version, so nothing of a
    table's rows reaches MLflow. Returns the number logged.
    """
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    logged = [(MetaDataset(_source(i), name=i.table,
                           digest=_digest(i)), {VERSION_TAG: str(i.version)})
              for i in inputs if i.version is not None]
    if not logged:
        return 0
    if run_id is None:
        for ds, tags in logged:
            mlflow.log_input(ds, context=context, tags=tags)
        return len(logged)
    # A finished run (the registration's) gets its inputs through the client, as mlflow.log_input
    # does for the active run (it converts datasets with the same entity method).
    entities = [DatasetInput(ds._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]
                             + [InputTag(k, v) for k, v in tags.items()]) for ds, tags in logged]
    tracker.client().log_inputs(run_id, datasets=entities)
    return len(logged)


def _digest(table: DeltaInput) -> str:
    """Short digest of one table version (MLflow shows it beside the dataset's name)."""
    return hashlib.sha256(f"{table.table}|{table.path}|{table.version}".encode()).hexdigest()[:DIGEST_CHARS]
