"""Stage ``etl``: a raw source export -> OMOP CDM v5.4 Delta tables (``mlhops etl``).

``options.source`` picks the source (registry: :mod:`mlhops.etl.sources`), ``options.input`` its
folder (default: ``etl.inputs[source]`` from the configuration: one folder, or a list of export
folders loaded in order as separate batches, e.g. a second site joining the warehouse; OMOP
writes MERGE on ids hashed from the source ids, so a later batch adds its rows).

The stage holds the warehouse writer lease (:mod:`mlhops.io.lease`) from before the first id is
assigned until the last OMOP table is written: a second ETL run on the same warehouse waits for
it (and after a bounded wait fails with "warehouse busy: run X holds it since T ...") instead
of handing out the same OMOP ids to other patients.
"""

from __future__ import annotations

import time

from mlhops.etl import inputs
from mlhops.etl.deid import Deidentifier
from mlhops.etl.env import EtlEnv
from mlhops.io.lease import writer_lease
from mlhops.pipelines.context import Context
from mlhops.pipelines.options import EtlOptions
from mlhops.pipelines.stage import StageRequest, StageResult

STAGE = "etl"


def _source_and_paths(ctx: Context, req: StageRequest[EtlOptions]) -> tuple[str, list[str]]:
    source = req.options.source or inputs.DEFAULT_SOURCE
    return source, inputs.input_paths(ctx.settings.etl, source, req.options.input)


def fingerprint(ctx: Context, req: StageRequest[EtlOptions]) -> str:
    """Identity of the input files (every folder), vocabulary, ETL settings and version a run would read."""
    source, paths = _source_and_paths(ctx, req)
    return inputs.fingerprint(ctx.spark, ctx.settings.etl, ctx.settings.deid, source, paths)


def run(ctx: Context, req: StageRequest[EtlOptions]) -> StageResult:
    """Extract, map and load each export of one source in order; returns the summed counts,
    mapping rates and the tables' latest versions.

    Status is ``alerts`` when a source table's quarantined share exceeds
    ``etl.max_quarantine_fraction`` in an export (the rows are still accounted for), else ``ok``.

    Raises:
        WarehouseBusyError: another run held the warehouse writer lease past the wait.
    """
    from mlhops.etl.run import Summary, combine, extract_and_load, summarise

    source, paths = _source_and_paths(ctx, req)
    started = time.monotonic()
    env = EtlEnv(ctx.catalog, Deidentifier(ctx.hasher, ctx.settings.deid.date_shift_max_days), ctx.settings.etl)
    summaries: list[Summary] = []
    tables: dict[str, int] = {}
    with writer_lease(ctx.spark, ctx.catalog, owner=req.run_id, stage=STAGE) as lease:
        for path in paths:
            lease.check()
            batch, loaded = extract_and_load(ctx.spark, env, source, path, req.run_id)
            summaries.append(summarise(source, path, batch, loaded, ctx.settings.etl.max_quarantine_fraction))
            tables.update(loaded.tables)  # a later batch's commit is the table's newest version
    summary = combine(source, summaries)
    metrics = {**summary.metrics, "duration_s": time.monotonic() - started}
    return StageResult(stage=STAGE, status=summary.status, message=summary.message,
                       metrics=metrics, tables=tables, details=summary.details)
