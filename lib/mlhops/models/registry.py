"""MLflow model registry: log + register versions, aliases (champion/challenger), load, promote.

Every registered version carries lineage tags (task, training data Delta versions, feature
list digest, parent version for recalibrations) and a ``reference_profile.json`` artifact.

Versions are pyfunc models that return the positive-class probability
(:mod:`mlhops.tracking.pyfunc`): ``mlflow.pyfunc.load_model(model_uri(...)).predict(frame)``,
``spark_udf`` and serving give the scores mlhops logs. Each has a signature (feature columns in,
one float out), a synthetic input example and the mlhops code it pickles. Callers name models
as the task does; the registry's name (three-level on Unity Catalog) comes from
:meth:`Tracker.registered_name <mlhops.tracking.Tracker.registered_name>` in every call here.
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
from mlhops.models.training import input_kinds, synthetic_example

if TYPE_CHECKING:
    from mlhops.tracking import Tracker

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
# Alias kept on the champion a promotion replaced, so a rollback knows where to go.
PREVIOUS_CHAMPION = "previous_champion"
PROFILE_ARTIFACT = "reference_profile.json"
FEATURES_ARTIFACT = "features.json"
# A logged version must reproduce its estimator's probabilities on the registration's rows.
PROBABILITY_TOLERANCE = 1e-9


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


def model_uri(tracker: Tracker, name: str, alias_or_version: str) -> str:
    """``models:/`` URI of a version by number or alias, under the registry's name for ``name``."""
    full = tracker.registered_name(name)
    return f"models:/{full}/{alias_or_version}" if alias_or_version.isdigit() else f"models:/{full}@{alias_or_version}"


def alias_version(tracker: Tracker, name: str, alias: str) -> str | None:
    """The version an alias points to, or None (also when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(tracker.client().get_model_version_by_alias(tracker.registered_name(name), alias).version)
    except MlflowException:
        return None


def model_signature(model: Any, features: tuple[str, ...]) -> Any:
    """The pyfunc signature of a fitted model: its feature columns in, the probability out."""
    from mlhops.tracking.pyfunc import CATEGORICAL, NUMERIC, signature

    kinds = input_kinds(model, features)
    return signature({f: NUMERIC if k == "numeric" else CATEGORICAL for f, k in kinds.items()})


def _check_reproduces(uri: str, model: Any, rows: pd.DataFrame) -> None:
    """Fail unless the logged pyfunc model returns ``model``'s class-1 probabilities on ``rows``."""
    import mlflow
    import numpy as np
    from mlflow.exceptions import MlflowException

    try:
        served = np.asarray(mlflow.pyfunc.load_model(uri).predict(rows), dtype=np.float64)
    except MlflowException:
        # MLflow's schema errors quote the rows: name the columns' types only.
        types = ", ".join(f"{c}: {t}" for c, t in rows.dtypes.astype(str).items())
        raise RegistryError(f"{uri}: the registration rows do not fit the model's signature ({types})") from None
    direct = np.asarray(model.predict_proba(rows))[:, 1]
    if served.shape != direct.shape or not np.allclose(served, direct, rtol=0.0, atol=PROBABILITY_TOLERANCE):
        raise RegistryError(f"{uri}: the logged pyfunc model does not reproduce the estimator's probabilities")


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
    """Log ``model`` as a probability pyfunc in a new MLflow run, register it, point ``alias`` at it.

    The signature comes from the model's own preprocessing unless given (a recalibration may
    pass its parent's); the logged input example is :func:`~mlhops.models.training.synthetic_example`.
    ``example`` rows (e.g. a few training rows) are never logged: the new version must reproduce
    ``model``'s probabilities on them before the alias moves.

    Returns:
        ``(version, run_id)``.

    Raises:
        RegistryError: the logged model does not reproduce the estimator on ``example``.
    """
    import mlflow

    from mlhops.tracking.pyfunc import log_probability_model

    full = tracker.registered_name(name)
    all_tags = {**tags, "mlhops.features_digest": feature_digest(features)}
    with tracker.run(run_name, tags=all_tags, params=params) as run:
        finite = {k: float(v) for k, v in metrics.items() if v == v}  # drop nan
        mlflow.log_metrics(finite)
        info = log_probability_model(
            model, features, model_signature=signature or model_signature(model, features),
            input_example=synthetic_example(model, features), registered_model_name=full,
        )
        mlflow.log_text(profile.to_json(), PROFILE_ARTIFACT)
        mlflow.log_dict({"features": list(features)}, FEATURES_ARTIFACT)
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    if example is not None:
        _check_reproduces(f"models:/{full}/{version}", model, example[list(features)])
    client = tracker.client()
    for k, v in all_tags.items():
        client.set_model_version_tag(full, version, k, str(v))
    client.set_model_version_tag(full, version, "mlhops.threshold", f"{profile.threshold:.6g}")
    client.set_registered_model_alias(full, alias, version)
    logger.info("registered %s version %s as %s", full, version, alias)
    return version, run_id


def load(tracker: Tracker, name: str, alias_or_version: str) -> LoadedModel:
    """Load a version by alias (``champion``) or number, with its profile and feature list.

    Raises:
        RegistryError: the alias or version does not exist.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client, full = tracker.client(), tracker.registered_name(name)
    try:
        if alias_or_version.isdigit():
            mv = client.get_model_version(full, alias_or_version)
        else:
            mv = client.get_model_version_by_alias(full, alias_or_version)
    except MlflowException:
        raise RegistryError(f"model {full}: no version or alias {alias_or_version!r}") from None
    model = _estimator(f"models:/{full}/{mv.version}")
    profile = ReferenceProfile.from_json(mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{PROFILE_ARTIFACT}"))
    feats = json.loads(mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{FEATURES_ARTIFACT}"))["features"]
    return LoadedModel(name, str(mv.version), model, profile, tuple(feats), str(mv.run_id))


def _estimator(uri: str) -> Any:
    """The estimator of a version (``predict_proba``), pyfunc-wrapped or of the older sklearn flavour."""
    import mlflow

    if "sklearn" in mlflow.models.get_model_info(uri).flavors:  # versions logged before the pyfunc wrapper
        return mlflow.sklearn.load_model(uri)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().estimator


def signature_of(tracker: Tracker, name: str, version: str) -> Any:
    """The MLflow signature a registered version was logged with (None if it has none)."""
    import mlflow

    tracker.configure()
    return mlflow.models.get_model_info(model_uri(tracker, name, version)).signature


def move_alias(tracker: Tracker, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``."""
    tracker.client().set_registered_model_alias(tracker.registered_name(name), alias, version)


def drop_alias(tracker: Tracker, name: str, alias: str) -> None:
    """Remove ``alias`` if it exists."""
    if alias_version(tracker, name, alias) is not None:
        tracker.client().delete_registered_model_alias(tracker.registered_name(name), alias)


def tag_version(tracker: Tracker, name: str, version: str, key: str, value: str) -> None:
    """Set one tag on a registered version."""
    tracker.client().set_model_version_tag(tracker.registered_name(name), version, key, value)


def version_tags(tracker: Tracker, name: str, version: str) -> dict[str, str]:
    """The tags of a registered version."""
    return dict(tracker.client().get_model_version(tracker.registered_name(name), version).tags)


def version_created(tracker: Tracker, name: str, version: str) -> int:
    """Creation time of a version in epoch milliseconds."""
    return int(tracker.client().get_model_version(tracker.registered_name(name), version).creation_timestamp)
