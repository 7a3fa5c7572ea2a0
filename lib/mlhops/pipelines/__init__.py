"""The stage registry: every stage of mlhops, in nightly order, as :class:`Stage` values.

The orchestrator, the CLI and its ``--help`` read this list and nothing else. Stage modules are
imported only when the stage runs, so ``mlhops etl`` does not load torch.
"""

from __future__ import annotations

from mlhops.errors import ConfigError
from mlhops.pipelines.options import DriftOptions, EtlOptions, EvaluateOptions, PromoteOptions, TrainOptions
from mlhops.pipelines.stage import NoOptions, Stage, StageRequest, StageResult
from mlhops.io.tables.etl import IMAGE_FEATURE, IMAGE_OCCURRENCE, MEASUREMENT
from mlhops.io.tables.monitoring import FEATURES

STAGES: tuple[Stage, ...] = (
    Stage("etl", "mlhops.pipelines.etl", "raw sources -> OMOP CDM v5.4 (+ quarantine, runs)",
          options=EtlOptions, fingerprinted=True),
    Stage("quality", "mlhops.pipelines.quality", "data quality checks -> quality_results",
          depends_on=("etl",), fingerprinted=True),
    Stage("features", "mlhops.pipelines.features", "OMOP -> feature table", depends_on=("etl",)),
    Stage("stats", "mlhops.pipelines.stats", "features -> profile_metrics -> drift_metrics (incremental)",
          depends_on=("features",)),
    Stage("drift", "mlhops.pipelines.drift", "multivariate drift with the registered detectors (fit: fit and register)",
          depends_on=("features",), input_tables=(FEATURES, IMAGE_OCCURRENCE, IMAGE_FEATURE, MEASUREMENT),
          options=DriftOptions),
    Stage("train", "mlhops.pipelines.train", "train the reference model (or recalibrate it) and register it",
          depends_on=("features",), options=TrainOptions),
    Stage("score", "mlhops.pipelines.score", "score new windows with the champion model", depends_on=("train",)),
    Stage("evaluate", "mlhops.pipelines.evaluate",
          "performance, calibration, fairness, label/concept shift, label requests, triggers",
          depends_on=("score",), options=EvaluateOptions),
    Stage("promote", "mlhops.pipelines.promote", "explicit champion changes (promote / rollback)",
          nightly=False, options=PromoteOptions),
    Stage("alerts", "mlhops.pipelines.alerts", "evaluate alert rules -> alerts"),
    Stage("report", "mlhops.pipelines.report", "HTML monitoring report and model card",
          writes_warehouse=False),
)



def stage(name: str) -> Stage:
    """The stage called ``name``; a configuration error naming the known ones otherwise."""
    for st in STAGES:
        if st.name == name:
            return st
    raise ConfigError(f"unknown stage {name!r}; known: {', '.join(s.name for s in STAGES)}")


def nightly_stages() -> list[str]:
    """Names of the stages ``mlhops nightly`` runs, in order."""
    return [s.name for s in STAGES if s.nightly]


__all__ = ["STAGES", "NoOptions", "Stage", "StageRequest", "StageResult", "nightly_stages", "stage"]
