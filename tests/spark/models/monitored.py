"""One monitored UCI warehouse run through the real nightly stages, shared by the lifecycle and
alert-rule tests (built once per test session: the chain is the expensive part).

The data is the UCI warehouse of ``conftest.uci_frames`` (real encounters and readmissions on
synthetic dates) with two upstream changes, both made to the stages' *inputs*:

- from ``DRIFT_FROM`` (5 Feb) the feature feed doubles prior inpatient counts plus two
  (``conftest``): a unit/feed change the univariate and multivariate detectors should see, that
  raises the model's scores (more positive decisions: BBSE's label shift) and miscalibrates it;
- from ``RECAPTURE_FROM`` (12 Feb) readmissions of women at a second hospital are captured too:
  a third of the women's index visits without a recorded readmission get one (a follow-up
  inpatient visit in ``omop.visit_occurrence``, 12 days after discharge). Their labels now
  follow the score less: women's sensitivity falls against men's, outcomes stop following the
  score (concept drift), calibration and discrimination degrade.

Stages, as the CLI runs them: stats (univariate drift vs 1 Jan - 5 Feb), drift (multivariate,
MMD, fitted on the same reference on first use), train (labels final by 1 Mar: January
discharges only), score, evaluate with labels known by 20 Mar (later windows unlabelled: label
requests open), alerts, evaluate again with labels known by 1 May (requests fulfilled), alerts.

The UCI encounter order is real, so the detectors also see real changes before the planted ones
(admission source and discharge disposition mix across January): tests tie each planted change
to its own evidence (feature, detector, window) rather than expecting silence before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tests.spark.models.conftest import DRIFT_FROM, START, uci_frames, uci_overrides

RECAPTURE_FROM = dt.date(2024, 2, 12)
RECAPTURE_SHARE = 1 / 3
BASELINE_END = DRIFT_FROM
TRAIN_AS_OF = dt.date(2024, 3, 1)
FIRST_AS_OF = dt.date(2024, 3, 20)
LATER_AS_OF = dt.date(2024, 5, 1)
RECAPTURE_SEED = 11
MONITORED_TASK = "monitored_uci_readmission"


@dataclass
class Monitored:
    """The settings, the frames written, and each stage's result by step name."""

    settings: Any
    visits: pd.DataFrame
    features: pd.DataFrame
    results: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def recapture_readmissions(visits: pd.DataFrame, features: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Add follow-up inpatient visits for a third of women's unreadmitted index visits from RECAPTURE_FROM."""
    idx = visits[visits["visit_concept_id"] == 9201]
    readmitted = set(visits.loc[visits["visit_concept_id"] == 262, "visit_occurrence_id"] - 10**9)
    women = set(features.loc[features["sex"] == "female", "visit_occurrence_id"])
    eligible = idx[idx["visit_occurrence_id"].isin(women) & ~idx["visit_occurrence_id"].isin(readmitted)
                   & (pd.to_datetime(idx["visit_end_date"]) >= pd.Timestamp(RECAPTURE_FROM))]
    rng = np.random.default_rng(RECAPTURE_SEED)
    chosen = eligible[rng.random(len(eligible)) < RECAPTURE_SHARE].copy()
    chosen["visit_occurrence_id"] = chosen["visit_occurrence_id"] + 2 * 10**9
    chosen["visit_concept_id"] = 262
    chosen["visit_start_date"] = [e + dt.timedelta(days=12) for e in chosen["visit_end_date"]]
    chosen["visit_end_date"] = chosen["visit_start_date"]
    return pd.concat([visits, chosen], ignore_index=True), len(chosen)


def settings_for(settings_factory, root):
    """Settings of the monitored warehouse: the UCI task, weekly stats and MMD drift vs January."""
    # Its own MLflow store: the session's shared store holds the lifecycle tests' registry of the
    # same task, whose champion must not be this warehouse's.
    # Its own task and registered-model name too: MLflow resolves model URIs through process-wide
    # state, and a champion of the same name in another store was loaded by the lifecycle tests.
    mlflow = {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_location": (root / "artifacts").as_uri()}
    overrides = uci_overrides(root, label_policy={"policy": "request_and_reverify"}, task=MONITORED_TASK)
    task_file = root / "models" / "uci_readmission.yaml"
    (root / "models" / f"{MONITORED_TASK}.yaml").write_text(
        task_file.read_text().replace("name: uci_readmission", f"name: {MONITORED_TASK}")
        .replace("registered_model: uci_readmission", f"registered_model: {MONITORED_TASK}"))
    task_file.unlink()
    return settings_factory(
        root / "wh",
        mlflow=mlflow,
        **overrides,
        stats={
            "granularities": ["week"], "sliding_days": [], "cumulative": False, "slices": [],
            "baseline": {"start": START.isoformat(), "end": BASELINE_END.isoformat()},
            "drift": {"granularities": ["week"], "references": ["baseline"], "min_samples": 100},
        },
        drift={
            "reference_start": START.isoformat(), "reference_end": BASELINE_END.isoformat(), "slices": [],
            "sample_cap": 600, "min_rows": 150, "detectors": ["mmd"], "vae_epochs": 5, "n_permutations": 50,
            "device": "cpu", "model_name": "monitored-uci-drift", "fit_if_missing": True,
        },
    )


def build(spark, settings_factory, root) -> Monitored:
    """Write the warehouse and run the stages (see the module docstring)."""
    from mlhops.io import Catalog, read_table, write_overwrite
    from mlhops.io.tables.models import LABEL_REQUESTS
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.options import DriftOptions, EvaluateOptions, TrainOptions
    from mlhops.pipelines.orchestrate import run_stage
    from mlhops.pipelines.stage import StageRequest
    from tests.spark.stats.conftest import write_features

    settings = settings_for(settings_factory, root)
    visits, features = uci_frames()
    visits, n_recaptured = recapture_readmissions(visits, features)
    cat = Catalog(settings.warehouse)
    write_overwrite(spark.createDataFrame(visits), cat, "omop.visit_occurrence")
    write_features(spark, settings, features)
    out = Monitored(settings, visits, features)
    out.results["n_recaptured"] = n_recaptured
    ctx = Context.build(settings, spark)
    steps = [
        ("stats", "stats", None),
        ("drift", "drift", DriftOptions()),
        ("train", "train", TrainOptions(as_of=TRAIN_AS_OF)),
        ("score", "score", None),
        ("evaluate_first", "evaluate", EvaluateOptions(as_of=FIRST_AS_OF)),
        ("alerts_first", "alerts", None),
        ("evaluate_later", "evaluate", EvaluateOptions(as_of=LATER_AS_OF)),
        ("alerts", "alerts", None),
    ]
    for step, stage, options in steps:
        kw = {} if options is None else {"options": options}
        outcome = run_stage(ctx, stage, StageRequest(f"m-{step}", **kw))
        assert outcome.result is not None and outcome.status != "failed", (step, outcome.message)
        out.results[step] = outcome.result
        if step == "evaluate_first":
            out.tables["requests_first"] = read_table(spark, cat, LABEL_REQUESTS).toPandas()
    return out
