"""Versioned drift detectors in MLflow: log + register on fit, load by alias for nightly runs.

A registered version holds one saved :class:`~mlhops.drift.detectors.DetectorSuite` per
reference slice value (``suites/<slice>=<value>/``) and an ``index.json`` naming them. Tags
record the reference window, the feature list and the data versions the reference came from.
Nightly scoring only ever loads a registered version; it never fits one on the fly.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlhops.drift.detectors import DetectorSuite, load_suite
from mlhops.errors import MLHOpsError

logger = logging.getLogger(__name__)

ARTIFACT_PATH = "drift_suite"
INDEX = "index.json"
# MLflow tag values are capped; long feature lists are cut with a marker.
MAX_TAG_CHARS = 4000


class DetectorNotRegisteredError(MLHOpsError):
    """No registered drift detector version answers the configured alias."""


@dataclass(frozen=True)
class RegisteredSuites:
    """Suites of one registered version, keyed by ``(slice, slice_value)``."""

    name: str
    version: str
    suites: dict[tuple[str, str], DetectorSuite]
    tags: dict[str, str]


def suite_dirname(slice_name: str, slice_value: str) -> str:
    """File-system-safe folder name of a slice suite."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{slice_name}={slice_value}")
    return safe[:120]


def save_suites(root: Path, suites: dict[tuple[str, str], DetectorSuite]) -> Path:
    """Write every suite under ``root/suites`` with an index."""
    index = []
    for (sl, val), suite in suites.items():
        d = suite_dirname(sl, val)
        suite.save(root / "suites" / d)
        index.append({"slice": sl, "slice_value": val, "dir": d})
    (root / INDEX).write_text(json.dumps(index, indent=1))
    return root


def load_suites(root: Path) -> dict[tuple[str, str], DetectorSuite]:
    """Inverse of :func:`save_suites`."""
    index = json.loads((root / INDEX).read_text())
    return {(e["slice"], e["slice_value"]): load_suite(root / "suites" / e["dir"]) for e in index}


def register_suites(
    client: Any,
    suites: dict[tuple[str, str], DetectorSuite],
    *,
    model_name: str,
    run_id: str,
    tags: dict[str, str],
    alias: str | None,
) -> str:
    """Log the suites as artifacts of the active MLflow run and register a model version.

    Args:
        client: the tracker's ``MlflowClient`` (``Tracker.client()``).
        suites: fitted suites by ``(slice, slice_value)``.
        model_name: registered model name.
        run_id: the active MLflow run (artifacts are logged there).
        tags: version tags (reference window, features, data versions...).
        alias: alias to point at the new version (None: leave aliases alone).

    Returns:
        The new version number, as a string.
    """
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlhops-drift-") as tmp:
        save_suites(Path(tmp), suites)
        client.log_artifacts(run_id, tmp, artifact_path=ARTIFACT_PATH)
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name, description="mlhops multivariate drift detectors")
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}"
    clean = {k: str(v)[:MAX_TAG_CHARS] for k, v in tags.items()}
    mv = client.create_model_version(model_name, source=source, run_id=run_id, tags=clean)
    if alias:
        client.set_registered_model_alias(model_name, alias, mv.version)
    logger.info("registered drift detectors %s version %s (alias %s)", model_name, mv.version, alias)
    return str(mv.version)


def load_registered(client: Any, model_name: str, alias: str) -> RegisteredSuites:
    """Download and load the version the alias points at.

    Args:
        client: the tracker's ``MlflowClient`` (``Tracker.client()``).
        model_name: registered model name.
        alias: the alias to resolve.

    Raises:
        DetectorNotRegisteredError: no such model or alias (run ``mlhops drift fit`` first).
    """
    import mlflow

    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException:
        raise DetectorNotRegisteredError(
            f"no drift detector registered as {model_name}@{alias}; run `mlhops drift fit` first"
        ) from None
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, tracking_uri=client.tracking_uri))
    suites = load_suites(local)
    tags: dict[str, Any] = dict(mv.tags or {})
    logger.info("loaded drift detectors %s version %s", model_name, mv.version)
    return RegisteredSuites(name=model_name, version=str(mv.version), suites=suites, tags=tags)
