"""Synthetic patient populations on demand: Synthea, pinned, run with a fixed seed and date.

``mlhops generate --population N --state S --seed K --out DIR`` (see :mod:`.synthea`) writes
Synthea's CSV (and FHIR R4 when asked) under ``DIR`` with a ``population.json`` that says how to
make the very same files again. The jars come from the set-up step
(``python -m mlhops.runtime_setup fetch-synthea``); a run never downloads anything.
"""

from __future__ import annotations

from mlhops.populations.synthea import (
    DEFAULT_EXCLUDED_CSV,
    DEFAULT_REFERENCE_DATE,
    DEFAULT_YEARS_OF_HISTORY,
    GenerateRequest,
    build_command,
    generate,
    resolve_state,
    synthea_states,
)

__all__ = [
    "DEFAULT_EXCLUDED_CSV",
    "DEFAULT_REFERENCE_DATE",
    "DEFAULT_YEARS_OF_HISTORY",
    "GenerateRequest",
    "build_command",
    "generate",
    "resolve_state",
    "synthea_states",
]
