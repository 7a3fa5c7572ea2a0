"""Typed options of the stages that take more than a window (one frozen dataclass each).

Kept apart from the stage modules so the CLI and the registry read them without importing the
stages (and their heavy dependencies).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EtlOptions:
    """``mlhops etl``: which source and where its files are (default: ``etl.inputs[source]``)."""

    source: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class TrainOptions:
    """``mlhops train``: train a new version, or fit a recalibration of the champion."""

    mode: Literal["train", "recalibrate"] = "train"
    # Labels known by this date (default: today, UTC).
    as_of: dt.date | None = None


@dataclass(frozen=True)
class EvaluateOptions:
    """``mlhops evaluate``: the label cut-off and an on-demand trigger."""

    # Labels known by this date (default: end of window - 1 day).
    as_of: dt.date | None = None
    trigger: Literal["retrain", "recalibrate"] | None = None


@dataclass(frozen=True)
class DriftOptions:
    """``mlhops drift`` scores windows with the registered detectors; ``fit`` fits and registers."""

    action: Literal["score", "fit"] = "score"
    # fit: move the detectors' alias to the new version (False: register only).
    set_alias: bool = True


@dataclass(frozen=True)
class PromoteOptions:
    """``mlhops promote`` / ``mlhops rollback``: explicit alias moves of the risk model."""

    action: Literal["promote", "rollback"] = "promote"
    version: str | None = None
    reason: str | None = None
    # The approver (``--approve --by NAME``); required where models.promotion.require_approval.
    approved_by: str | None = None
