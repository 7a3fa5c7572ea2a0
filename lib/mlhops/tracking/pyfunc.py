"""Registered models as MLflow pyfunc models that return the positive-class probability.

``mlflow.pyfunc.load_model(uri).predict(frame)`` (and ``mlflow.pyfunc.spark_udf`` and model
serving) return one float per row: the estimator's class-1 probability, the number mlhops scores
with and the one the signature declares. The estimator (a scikit-learn pipeline, or a
recalibration wrapping one) is pickled inside :class:`ProbabilityModel`; both reference classes
and functions of mlhops, so the mlhops package travels with every version (``code_paths``) and a
serving environment needs no mlhops install.

Imported only where a model is logged or loaded (it imports MLflow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

import mlhops

# What a loaded version imports: the estimator's libraries, and the mlhops modules its pickle
# names (``mlhops.models.training`` imports pyspark and PyYAML through the feature specs).
SERVING_DISTRIBUTIONS = ("mlflow", "cloudpickle", "numpy", "pandas", "scipy", "scikit-learn", "pyspark", "pyyaml")
# Name of the one output column the signature declares.
OUTPUT_COLUMN = "probability"
# Column types of the input schema: what each role of a feature column accepts.
NUMERIC = "double"
CATEGORICAL = "string"


class ProbabilityModel(PythonModel):
    """A binary classifier whose pyfunc ``predict`` returns the class-1 probability per row.

    Args:
        estimator: anything with scikit-learn's ``predict_proba`` (column 1 is the positive class).
        features: the input columns, in the order the estimator was fitted on.
    """

    def __init__(self, estimator: Any, features: Sequence[str]) -> None:
        self.estimator = estimator
        self.features = tuple(features)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        """Positive-class probabilities of ``model_input`` (extra columns are ignored)."""
        p = np.asarray(self.estimator.predict_proba(model_input[list(self.features)]))[:, 1]
        return pd.Series(p.astype(np.float64), index=model_input.index, name=OUTPUT_COLUMN)


def signature(column_types: Mapping[str, str]) -> ModelSignature:
    """Input schema of the feature columns (``double`` / ``string``), output one float.

    Args:
        column_types: feature column -> :data:`NUMERIC` or :data:`CATEGORICAL`, in model order.
    """
    inputs = Schema([ColSpec(t, name) for name, t in column_types.items()])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(NUMERIC, OUTPUT_COLUMN)]))


def code_paths() -> list[str]:
    """The mlhops package folder, shipped with each version for the classes its pickle names."""
    return [str(Path(mlhops.__file__).resolve().parent)]


def pip_requirements() -> list[str]:
    """The serving environment: what unpickling and predicting import, pinned to this one.

    Stated rather than inferred: inference would list ``mlhops`` itself, a name a package
    index does not hold for us (the package travels as ``code_paths``), and it costs a
    subprocess per registration.
    """
    return [f"{dist}=={version(dist)}" for dist in SERVING_DISTRIBUTIONS]


def log_probability_model(
    estimator: Any,
    features: Sequence[str],
    *,
    model_signature: ModelSignature | None,
    input_example: pd.DataFrame | None,
    registered_model_name: str,
) -> Any:
    """Log ``estimator`` as a :class:`ProbabilityModel` in the active run and register it.

    Returns:
        MLflow's ``ModelInfo`` (``registered_model_version`` is the new version).
    """
    import mlflow

    return mlflow.pyfunc.log_model(
        name="model",
        python_model=ProbabilityModel(estimator, features),
        code_paths=code_paths(),
        pip_requirements=pip_requirements(),
        signature=model_signature,
        input_example=input_example,
        registered_model_name=registered_model_name,
    )

