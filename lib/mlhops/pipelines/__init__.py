"""Stages, one module each, with ``run(spark, settings, params) -> StageResult``.

``STAGES`` lists them in nightly order; modules are imported lazily so ``mlhops etl`` does not
load torch. Each stage owner adds its entry here once the stage exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# stage name -> module path (nightly order)
STAGES: dict[str, str] = {
    "etl": "mlhops.pipelines.etl",
    "quality": "mlhops.pipelines.quality",
    "features": "mlhops.pipelines.features",
    "stats": "mlhops.pipelines.stats",
    "drift": "mlhops.pipelines.drift",
    "train": "mlhops.pipelines.train",
    "score": "mlhops.pipelines.score",
    "evaluate": "mlhops.pipelines.evaluate",
    "promote": "mlhops.pipelines.promote",
    "alerts": "mlhops.pipelines.alerts",
    "report": "mlhops.pipelines.report",
}

# Stages run only on explicit request (CLI verb), never by `nightly`.
ON_DEMAND: frozenset[str] = frozenset({"promote"})

# stage -> stages it needs (a failed stage stops its dependents only)
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "etl": (),
    "quality": ("etl",),
    "features": ("etl",),
    "stats": ("features",),
    "drift": ("features",),
    "train": ("features",),
    "score": ("train",),
    "evaluate": ("score",),
    "promote": (),
    "alerts": (),
    "report": (),
}


def stage_runner(name: str) -> Callable[..., Any]:
    """The ``run`` function of a stage."""
    module = importlib.import_module(STAGES[name])
    return module.run  # type: ignore[no-any-return]
