"""The MLflow pyfunc model of a registered drift detector version (imports MLflow: load it only
where a version is registered or loaded, see :mod:`mlhops.drift.registry`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from mlhops.drift.detectors import DetectorSuite, load_suites
from mlhops.drift.result import ALL_SLICE
from mlhops.errors import SchemaError

# The artifact (folder of saved suites) the model is logged with.
SUITES_ARTIFACT = "suites"
# Columns of the model's output: one row per slice value and detector.
OUTCOME_COLUMNS = ("slice", "slice_value", "detector", "statistic", "p_value", "threshold", "drift", "n_reference",
                   "n_current")


class DriftSuitesModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A registered version: ``predict`` scores a batch and returns the detector outcomes.

    The artifact holds the suites' fitted parts only; after loading, :meth:`attach` hands over
    their reference rows (``load_registered`` reads them from ``mlhops.detector_references``).
    """

    def __init__(self) -> None:
        self.root: Path | None = None
        self.suites: dict[tuple[str, str], DetectorSuite] | None = None

    def load_context(self, context: Any) -> None:
        """Remember where the saved suites are (they load once the rows are attached)."""
        self.root = Path(context.artifacts[SUITES_ARTIFACT])
        self.suites = None

    def attach(self, references: dict[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str], DetectorSuite]:
        """Load the suites with their reference rows; returns them."""
        if self.root is None:
            raise SchemaError("drift detector model: not loaded through MLflow (no artifact folder)")
        self.suites = load_suites(self.root, references)
        return self.suites

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score a batch: rows grouped by ``slice``/``slice_value`` (absent: the whole population),
        each group by the suite of that slice value (groups without one are left out); one output
        row per group and detector. ``params``: optional ``seed`` (default: each suite's seed)."""
        if self.suites is None:
            raise SchemaError("drift detector model: reference rows not attached (load it with load_registered)")
        frame = model_input.copy()
        for col in ("slice", "slice_value"):
            if col not in frame.columns or frame[col].isna().all():
                frame[col] = ALL_SLICE
        seed = (params or {}).get("seed")
        out: list[dict[str, Any]] = []
        for (sl, val), group in frame.groupby(["slice", "slice_value"], sort=True):
            suite = self.suites.get((str(sl), str(val)))
            if suite is None:
                continue
            for o in suite.score(group.reset_index(drop=True), seed=None if seed is None else int(seed)):
                out.append({"slice": str(sl), "slice_value": str(val), "detector": o.detector,
                            "statistic": o.statistic, "p_value": o.p_value, "threshold": o.threshold,
                            "drift": o.drift, "n_reference": o.n_reference, "n_current": o.n_current})
        return pd.DataFrame(out, columns=list(OUTCOME_COLUMNS))
