"""Stage ``etl``: a raw source export -> OMOP CDM v5.4 Delta tables (``mlhops etl``).

``options.source`` picks the source (registry: :mod:`mlhops.etl.sources`), ``options.input`` its
folder (default: ``etl.inputs[source]`` from the configuration).
"""

from __future__ import annotations

import time

from mlhops.etl import inputs
from mlhops.etl.deid import Deidentifier
from mlhops.etl.env import EtlEnv
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import EtlOptions
from mlhops.pipelines.stage import StageRequest, StageResult

STAGE = "etl"


def _source_and_path(ctx: Context, req: StageRequest[EtlOptions]) -> tuple[str, str]:
    source = req.options.source or inputs.DEFAULT_SOURCE
    return source, inputs.input_path(ctx.settings.etl, source, req.options.input)


def fingerprint(ctx: Context, req: StageRequest[EtlOptions]) -> str:
    """Identity of the input files, vocabulary, ETL settings and version a run would read."""
    source, path = _source_and_path(ctx, req)
    return inputs.fingerprint(ctx.spark, ctx.settings.etl, ctx.settings.deid, source, path)


def run(ctx: Context, req: StageRequest[EtlOptions]) -> StageResult:
    """Extract, map and load one source export; returns counts, mapping rates and versions.

    Status is ``alerts`` when a source table's quarantined share exceeds
    ``etl.max_quarantine_fraction`` (the rows are still accounted for), else ``ok``.
    """
    from mlhops.etl.run import extract_and_load, summarise

    source, path = _source_and_path(ctx, req)
    started = time.monotonic()
    env = EtlEnv(ctx.catalog, Deidentifier(ctx.hasher, ctx.settings.deid.date_shift_max_days), ctx.settings.etl)
    batch, loaded = extract_and_load(ctx.spark, env, source, path, req.run_id)
    summary = summarise(source, path, batch, loaded, ctx.settings.etl.max_quarantine_fraction)
    metrics = {**summary.metrics, "duration_s": time.monotonic() - started}
    return StageResult(stage=STAGE, status=summary.status, message=summary.message,
                       metrics=metrics, tables=loaded.tables, details=summary.details)
