"""MLflow model registry: log + register versions, aliases (champion/challenger), load, promote.

Every registered version carries lineage tags (task, training data Delta versions, feature
list digest, parent version for recalibrations) and a ``reference_profile.json`` artifact.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlhops.errors import MLHOpsError
from mlhops.models.reference import ReferenceProfile

if TYPE_CHECKING:
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
# Alias kept on the champion a promotion replaced, so a rollback knows where to go.
PREVIOUS_CHAMPION = "previous_champion"
PROFILE_ARTIFACT = "reference_profile.json"
FEATURES_ARTIFACT = "features.json"


class RegistryError(MLHOpsError):
    """A registered model, version or alias is missing or cannot be changed."""


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to score."""

    name: str
    version: str
    model: Any
    profile: ReferenceProfile
    features: tuple[str, ...]
    run_id: str


def feature_digest(features: tuple[str, ...]) -> str:
    """Short stable digest of the ordered feature list (for tags; the list itself is an artifact)."""
    return hashlib.sha256(",".join(features).encode()).hexdigest()[:16]


def alias_version(tracker: Tracker, name: str, alias: str) -> str | None:
    """The version an alias points to, or None (also when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(tracker.client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register(
    tracker: Tracker,
    *,
    name: str,
    model: Any,
    features: tuple[str, ...],
    profile: ReferenceProfile,
    example: pd.DataFrame | None,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    alias: str,
    run_name: str,
    signature: Any | None = None,
) -> tuple[str, str]:
    """Log ``model`` in a new MLflow run, register it under ``name`` and point ``alias`` at it.

    The signature is inferred from ``example`` unless given (a recalibration reuses its
    parent's). Returns ``(version, run_id)``.
    """
    import mlflow
    from mlflow.models import infer_signature

    all_tags = {**tags, "mlhops.features_digest": feature_digest(features)}
    with tracker.run(run_name, tags=all_tags, params=params) as run:
        finite = {k: float(v) for k, v in metrics.items() if v == v}  # drop nan
        mlflow.log_metrics(finite)
        if signature is None and example is not None:
            signature = infer_signature(example, model.predict_proba(example)[:, 1])
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, registered_model_name=name)
        mlflow.log_text(profile.to_json(), PROFILE_ARTIFACT)
        mlflow.log_dict({"features": list(features)}, FEATURES_ARTIFACT)
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    client = tracker.client()
    for k, v in all_tags.items():
        client.set_model_version_tag(name, version, k, str(v))
    client.set_model_version_tag(name, version, "mlhops.threshold", f"{profile.threshold:.6g}")
    client.set_registered_model_alias(name, alias, version)
    logger.info("registered %s version %s as %s", name, version, alias)
    return version, run_id


def load(tracker: Tracker, name: str, alias_or_version: str) -> LoadedModel:
    """Load a version by alias (``champion``) or number, with its profile and feature list.

    Raises:
        RegistryError: the alias or version does not exist.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = tracker.client()
    try:
        if alias_or_version.isdigit():
            mv = client.get_model_version(name, alias_or_version)
        else:
            mv = client.get_model_version_by_alias(name, alias_or_version)
    except MlflowException:
        raise RegistryError(f"model {name}: no version or alias {alias_or_version!r}") from None
    model = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
    profile = ReferenceProfile.from_json(mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{PROFILE_ARTIFACT}"))
    feats = json.loads(mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{FEATURES_ARTIFACT}"))["features"]
    return LoadedModel(name, str(mv.version), model, profile, tuple(feats), str(mv.run_id))


def signature_of(tracker: Tracker, name: str, version: str) -> Any:
    """The MLflow signature a registered version was logged with (None if it has none)."""
    import mlflow

    tracker.configure()
    return mlflow.models.get_model_info(f"models:/{name}/{version}").signature


def move_alias(tracker: Tracker, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``."""
    tracker.client().set_registered_model_alias(name, alias, version)


def drop_alias(tracker: Tracker, name: str, alias: str) -> None:
    """Remove ``alias`` if it exists."""
    if alias_version(tracker, name, alias) is not None:
        tracker.client().delete_registered_model_alias(name, alias)


def tag_version(tracker: Tracker, name: str, version: str, key: str, value: str) -> None:
    """Set one tag on a registered version."""
    tracker.client().set_model_version_tag(name, version, key, value)


def version_tags(tracker: Tracker, name: str, version: str) -> dict[str, str]:
    """The tags of a registered version."""
    return dict(tracker.client().get_model_version(name, version).tags)


def version_created(tracker: Tracker, name: str, version: str) -> int:
    """Creation time of a version in epoch milliseconds."""
    return int(tracker.client().get_model_version(name, version).creation_timestamp)
