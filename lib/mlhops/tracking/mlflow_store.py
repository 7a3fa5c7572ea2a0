"""Configure MLflow from settings and open runs with consistent tags.

Local default: a SQLite tracking + registry store at ``<warehouse>/mlflow/mlflow.db`` with
artifacts beside it, so the demo needs no server and model registry aliases work.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlhops.config.model import Settings
from mlhops.io.catalog import Catalog

logger = logging.getLogger(__name__)

# MLflow param values are capped at 6000 chars; keep params short and non-identifying.
MAX_PARAM_CHARS = 500


def _local_uris(settings: Settings) -> tuple[str, str]:
    root = Path(Catalog(settings.warehouse).mlflow_dir)
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at the configured (or local) store; returns the experiment id."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    tracking = settings.mlflow.tracking_uri
    artifact_location = settings.mlflow.artifact_location
    if not tracking:
        tracking, artifact_location = _local_uris(settings)
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(settings.mlflow.registry_uri or tracking)
    exp = mlflow.get_experiment_by_name(settings.mlflow.experiment)
    if exp is None:
        exp_id = mlflow.create_experiment(settings.mlflow.experiment, artifact_location=artifact_location)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


def safe_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Stringify and truncate params (callers must never pass patient values)."""
    return {str(k): str(v)[:MAX_PARAM_CHARS] for k, v in params.items() if v is not None}


@contextlib.contextmanager
def mlflow_run(
    settings: Settings,
    name: str,
    *,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    nested: bool = False,
) -> Iterator[Any]:
    """Open an MLflow run tagged with the environment and mlhops stage."""
    import mlflow

    configure_mlflow(settings)
    all_tags = {"mlhops.environment": settings.environment, "mlhops.stage": name}
    all_tags.update(tags or {})
    with mlflow.start_run(run_name=name, tags=all_tags, nested=nested) as run:
        if params:
            mlflow.log_params(safe_params(params))
        yield run
