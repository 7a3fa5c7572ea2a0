"""Command line: ``mlhops <verb>``. Argument parsing, logging set-up and exit codes only.

Exit codes: 0 ok, 1 failure, 2 configuration error, 3 alerts at or above the configured severity.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlhops.errors import ConfigError, MLHOpsError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_ALERTS = 3

logger = logging.getLogger("mlhops")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conf", help="environment overlay: a YAML file or a name under conf/env/")
    common.add_argument("--warehouse", help="warehouse root (default: $MLHOPS_WAREHOUSE or the config)")
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument("--log-file", help="write logs to this file; the terminal then shows one line per stage")
    common.add_argument("--run-id", help="run id to record (default: a new one)")
    common.add_argument("--force", action="store_true", help="redo work already done for the window")
    common.add_argument("--exit-code-on-alerts", type=int, choices=[0, EXIT_ALERTS],
                        help="exit code when alerts fire (default: run.exit_code_on_alerts, 3); 0 for "
                             "launchers that fail on any non-zero exit")
    window = argparse.ArgumentParser(add_help=False)
    window.add_argument("--date", type=_date, help="process the day D (window [D, D+1))")
    window.add_argument("--from", dest="start", type=_date, help="first day of a backfill")
    window.add_argument("--to", dest="end", type=_date, help="last day of a backfill (inclusive)")

    p = argparse.ArgumentParser(prog="mlhops", description="ML Health Operations on Spark, Delta and MLflow")
    sub = p.add_subparsers(dest="verb", required=True)

    etl = sub.add_parser("etl", parents=[common], help="raw sources -> OMOP CDM v5.4 (+ quarantine, runs)")
    from mlhops.etl.sources import SOURCES

    etl.add_argument("--source", required=True, choices=sorted(SOURCES))
    etl.add_argument("--input", help="input directory (default: etl.inputs.<source> of the config)")

    from mlhops.pipelines import STAGES

    verbs = {}
    # One verb per nightly stage taking only the window (etl, drift and promote have their own).
    for st in STAGES:
        if st.nightly and st.name not in ("etl", "drift"):
            verbs[st.name] = sub.add_parser(st.name, parents=[common, window], help=st.help)
    verbs["train"].add_argument("--mode", choices=["train", "recalibrate"], default="train")
    verbs["train"].add_argument("--as-of", type=_date, help="label cut-off date (default: today UTC)")
    verbs["evaluate"].add_argument("--as-of", type=_date, help="label cut-off date (default: end of window - 1 day)")
    verbs["evaluate"].add_argument("--trigger", choices=["retrain", "recalibrate"], help="an on-demand trigger")

    drift = sub.add_parser("drift", parents=[common, window], help="run registered multivariate detectors")
    drift.add_argument("action", nargs="?", choices=["run", "fit"], default="run",
                       help="run: score windows with the registered detectors; fit: fit and register")
    drift.add_argument("--no-set-alias", action="store_true", help="fit: register without moving the alias")

    promote = sub.add_parser("promote", parents=[common], help="make a version (default: the challenger) champion")
    promote.add_argument("--version", help="registered model version (default: the challenger)")
    rollback = sub.add_parser("rollback", parents=[common], help="move champion back to the version it replaced")
    rollback.add_argument("--version", help="roll back to this version instead of the previous champion")
    for change in (promote, rollback):
        change.add_argument("--reason", help="why (recorded in mlhops/model_events, mlhops/approvals and MLflow)")
        change.add_argument("--approve", action="store_true",
                       help="record this as an approved change (needs --by; required where "
                            "models.promotion.require_approval is on)")
        change.add_argument("--by", dest="approved_by", metavar="NAME", help="the approver (with --approve)")

    explain = sub.add_parser("explain", parents=[common],
                             help="top contributing features of one scored visit (vs the training reference)")
    explain.add_argument("--model", help="registered model (default: the task's)")
    explain.add_argument("--version", default="champion", help="version or alias (default: champion)")
    explain.add_argument("--visit-hash", required=True, help="the visit's key in mlhops/inference_log")
    explain.add_argument("--top-k", type=int, help="features shown (default: models.explain.top_k)")

    erase = sub.add_parser("erase", parents=[common], help="remove persons from every table on request (erasure)")
    erase.add_argument("--source", required=True, choices=sorted(SOURCES), help="the source the ids come from")
    erase.add_argument("--ids", required=True, metavar="FILE", help="one source patient id per line")
    erase.add_argument("--by", dest="erased_by", metavar="NAME", help="who asks (recorded; default: the OS user)")
    erase.add_argument("--reason", help="why (recorded in mlhops/erasures)")

    _add_generate(sub)

    nightly = sub.add_parser("nightly", parents=[common, window], help="all stages in order")
    nightly.add_argument("--only", action="append", metavar="STAGE", help="run only these stages")
    nightly.add_argument("--from-stage", metavar="STAGE", help="start at this stage")
    return p


def _add_generate(sub: Any) -> None:
    """``mlhops generate``: needs neither settings nor Spark."""
    from mlhops.populations.synthea import DEFAULT_REFERENCE_DATE, DEFAULT_STATE, DEFAULT_YEARS_OF_HISTORY

    parser = sub.add_parser(
        "generate", help="synthetic patients with Synthea, fixed seed and date (CSV, optional FHIR)")
    parser.add_argument("--population", "-p", type=int, required=True, metavar="N",
                        help="living patients to generate (Synthea's -p; those who died come on top)")
    parser.add_argument("--state", default=DEFAULT_STATE,
                        help=f"US state, full name or two-letter code (default {DEFAULT_STATE})")
    parser.add_argument("--city", help="a city of that state (default: the whole state)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed (population and clinicians; default 1)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output directory: DIR/csv, DIR/fhir, DIR/population.json, DIR/synthea.log")
    parser.add_argument("--fhir", action="store_true", help="also write FHIR R4 bundles under DIR/fhir")
    parser.add_argument("--reference-date", type=_date, default=DEFAULT_REFERENCE_DATE, metavar="YYYY-MM-DD",
                        help=f"simulation end and age reference (default {DEFAULT_REFERENCE_DATE})")
    parser.add_argument("--years-of-history", type=int, default=DEFAULT_YEARS_OF_HISTORY, metavar="Y",
                        help=f"years of records kept before the reference date, 0 = all "
                             f"(default {DEFAULT_YEARS_OF_HISTORY})")
    parser.add_argument("--claims", action="store_true",
                        help="also write claims.csv and claims_transactions.csv (about half the bytes)")
    parser.add_argument("--gzip", action="store_true", help="compress each CSV (csv/NAME.csv.gz)")
    parser.add_argument("--force", action="store_true", help="replace a population already in DIR")
    parser.add_argument("--synthea-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a further Synthea setting, e.g. generate.only_alive_patients=true (repeatable)")


def generate_request(args: argparse.Namespace) -> Any:
    """The :class:`~mlhops.populations.synthea.GenerateRequest` of ``mlhops generate``'s arguments."""
    from mlhops.populations.synthea import GenerateRequest

    return GenerateRequest(
        population=args.population, out=Path(args.out), state=args.state, seed=args.seed,
        fhir=args.fhir, reference_date=args.reference_date, years_of_history=args.years_of_history,
        claims=args.claims, gzip=args.gzip, force=args.force, city=args.city,
        extra=tuple(f"--{s.removeprefix('--')}" for s in args.synthea_setting),
    )


def _generate(args: argparse.Namespace) -> int:
    """``mlhops generate``: one terminal line, exit 0 ok, 1 Synthea failed, 2 set-up/arguments."""
    from mlhops.populations.synthea import generate

    tty = sys.stdout.isatty()
    shown = [""]

    def line(text: str) -> None:
        final = " done in " in text
        if tty:  # one line, rewritten in place
            print("\r" + text.ljust(len(shown[0])), end="\n" if final else "", flush=True)
        elif not shown[0]:  # piped: the start now, the outcome appended at the end
            print(text, end="", flush=True)
        elif final:
            print(" " + text.split(" ... ", 1)[1], flush=True)
        shown[0] = text

    try:
        generate(generate_request(args), progress=line)
    except MLHOpsError as exc:
        if tty and shown[0]:
            print(flush=True)  # end the rewritten line before the error
        print(f"mlhops generate: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILURE
    return EXIT_OK


def _window(args: argparse.Namespace) -> tuple[dt.date | None, dt.date | None]:
    date = getattr(args, "date", None)
    start = getattr(args, "start", None)
    end = getattr(args, "end", None)
    if date and (start or end):
        raise ConfigError("use either --date or --from/--to, not both")
    if date:
        return date, date + dt.timedelta(days=1)
    if (start is None) != (end is None):
        raise ConfigError("--from and --to go together")
    if start and end:
        if end < start:
            raise ConfigError("--to is before --from")
        return start, end + dt.timedelta(days=1)
    return None, None


def setup_logging(level: str, log_file: str | None = None, run_id: str | None = None) -> None:
    """Log to stderr, or to ``log_file`` (appending) when one is given; every line names the run."""
    from mlhops.runtime import LOG_FORMAT, NO_RUN, tag_log_handlers

    fmt = LOG_FORMAT
    if log_file:
        logging.basicConfig(level=getattr(logging, level), format=fmt, filename=log_file, force=True)
    else:
        logging.basicConfig(level=getattr(logging, level), format=fmt, stream=sys.stderr, force=True)
    for noisy in ("py4j", "alembic", "urllib3", "matplotlib", "numba", "git", "alibi_detect"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tag_log_handlers(run_id or NO_RUN)


def _stage_and_options(args: argparse.Namespace) -> tuple[str, Any]:
    """The stage a single-stage verb runs and its typed options."""
    from mlhops.pipelines import NoOptions
    from mlhops.pipelines.options import DriftOptions, EtlOptions, EvaluateOptions, PromoteOptions, TrainOptions

    verb = args.verb
    if verb == "etl":
        return "etl", EtlOptions(source=args.source, input=args.input)
    if verb == "drift":
        return "drift", DriftOptions(action="fit" if args.action == "fit" else "score",
                                     set_alias=not args.no_set_alias)
    if verb in ("promote", "rollback"):
        if args.approve != bool(args.approved_by):
            raise ConfigError(f"{verb}: --approve and --by NAME go together (the approver is recorded)")
        return "promote", PromoteOptions(action=verb, version=args.version, reason=args.reason,
                                         approved_by=args.approved_by)
    if verb == "train":
        return "train", TrainOptions(mode=args.mode, as_of=args.as_of)
    if verb == "evaluate":
        return "evaluate", EvaluateOptions(as_of=args.as_of, trigger=args.trigger)
    return verb, NoOptions()


def main(argv: Sequence[str] | None = None, *, app_name: str | None = None) -> int:
    """Entry point of the ``mlhops`` console script."""
    args = build_parser().parse_args(argv)
    if args.verb == "generate":  # needs neither settings nor Spark
        return _generate(args)
    try:
        from mlhops.config import load_settings

        overrides = {"spark": {"app_name": app_name}} if app_name else None
        settings = load_settings(args.conf, warehouse=args.warehouse, overrides=overrides)
        run_id = args.run_id or f"{dt.datetime.utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        setup_logging(args.log_level or settings.log_level, args.log_file, run_id)
        logger.info("configuration: %s", " + ".join(settings.sources))
        if args.verb == "explain":
            return _explain(settings, args)
        if args.verb == "erase":
            return _erase(args, settings, run_id)
        start, end = _window(args)
        from mlhops.pipelines import NoOptions, StageRequest
        from mlhops.pipelines.orchestrate import select_stages

        if args.verb == "nightly":
            stages, options = select_stages(args.only, args.from_stage), NoOptions()
        else:
            name, options = _stage_and_options(args)
            stages = [name]
        request = StageRequest(
            run_id=run_id,
            start=start,
            end=end,
            force=args.force,
            options=options,
        )
        flag = args.exit_code_on_alerts
        alerts_exit = settings.run.exit_code_on_alerts if flag is None else flag
        return run_with_spark(settings, stages, request, quiet=bool(args.log_file), alerts_exit=alerts_exit)
    except ConfigError as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("configuration error: %s", exc)
        return EXIT_CONFIG
    except MLHOpsError as exc:
        logger.error("%s", exc)
        return EXIT_FAILURE


def _explain(settings: Any, args: argparse.Namespace) -> int:
    """``mlhops explain``: print one visit's explanation (nothing is logged or stored)."""
    from mlhops.models.explain import explain_visit, render_text
    from mlhops.models.task import load_task
    from mlhops.pipelines.context import Context

    ctx = Context.build(settings)
    result = explain_visit(ctx.spark, ctx.catalog, ctx.hasher, ctx.tracker,
                           model_name=args.model or load_task(settings).registered_model, version=args.version,
                           visit_hash=args.visit_hash, top_k=args.top_k or settings.models.explain.top_k)
    print(render_text(result))
    return EXIT_OK


def _erase(args: argparse.Namespace, settings: Any, run_id: str) -> int:
    """``mlhops erase``: one line with the outcome (counts only); traces left raise
    :class:`~mlhops.erasure.verify.ErasureIncompleteError` (exit 1)."""
    import getpass

    from mlhops.erasure.keys import read_ids
    from mlhops.erasure.run import erase, request_from
    from mlhops.pipelines.context import Context

    ids = read_ids(args.ids, settings.erasure.max_ids)
    request = request_from(args.source, ids, erased_by=args.erased_by or getpass.getuser(),
                           reason=args.reason or "not given", run_id=run_id)
    ctx = Context.build(settings)
    out = erase(ctx.spark, ctx.catalog, ctx.hasher, ctx.tracker.client(), settings.erasure, request)
    print(f"{out.erasure_id}: {out.status}, {out.n_persons} of {len(request.ids)} persons, "
          f"{sum(out.rows_deleted.values())} rows from {len(out.rows_deleted)} tables, "
          f"{len(out.flagged)} versions flagged for retraining", flush=True)
    return EXIT_OK


def print_progress(position: str, stage: str, outcome: Any) -> None:
    """One terminal line a stage: its name when it starts, completed with the outcome."""
    if outcome is None:
        print(f"{position:>7} {stage:<9} ...", end="", flush=True)
        return
    message = " ".join(outcome.message.split())[:100]
    print(f" {outcome.status:<8} {outcome.seconds:6.1f}s  {message}", flush=True)


def run_with_spark(settings: Any, stages: list[str], request: Any, *, quiet: bool = False,
                   alerts_exit: int = EXIT_ALERTS) -> int:
    """Build the run's context (the entry point creates Spark), run the stages, print the
    summary, map to an exit code (``alerts_exit`` when alerts fired and nothing failed).
    ``quiet`` (logs go to a file): one line a stage on stdout."""
    from mlhops.pipelines.context import Context
    from mlhops.pipelines.orchestrate import run_stages
    from mlhops.runtime import publish_task_values
    from mlhops.spark import job_label, set_job_description

    if quiet:
        where = f"Spark Connect {os.environ['SPARK_REMOTE']}" if os.environ.get("SPARK_REMOTE") else settings.spark.master
        print(f"starting Spark ({where or 'cluster'}) ...", flush=True)
    ctx = Context.build(settings)

    def progress(position: str, stage: str, outcome: Any) -> None:
        # Each stage's Spark jobs carry its name and the run id in the Spark UI and event log.
        set_job_description(ctx.spark, job_label(stage, run_id=request.run_id) if outcome is None else None)
        if quiet:
            print_progress(position, stage, outcome)

    summary = run_stages(ctx, stages, request, progress=progress)
    if quiet:
        print(f"{summary.verdict} (run {summary.run_id})", flush=True)
    else:
        print(summary.render(), file=sys.stderr)
    code = outcome_exit_code(summary, alerts_exit)
    alerting = [o.stage for o in summary.outcomes if o.status == "alerts"]
    publish_task_values({"run_id": summary.run_id, "exit_code": code, "failed": ",".join(summary.failed),
                         "alerts": ",".join(alerting)})
    return code


def outcome_exit_code(summary: Any, alerts_exit: int = EXIT_ALERTS) -> int:
    """1 when a stage failed, else ``alerts_exit`` when a stage raised alerts, else 0."""
    if summary.failed:
        return EXIT_FAILURE
    if any(o.status == "alerts" for o in summary.outcomes):
        return alerts_exit
    return EXIT_OK


def run_job(stage_or_fn: str | Callable[..., Any], *, app_name: str = "mlhops") -> None:
    """Entry for ``jobs/*.py`` under spark-submit: same parsing and exit codes as the CLI.

    ``jobs/nightly.py`` passes ``"nightly"``; single-stage jobs pass their verb. Arguments after
    the script name are the CLI's (``--conf cluster --warehouse s3://...``).
    """
    verb = stage_or_fn if isinstance(stage_or_fn, str) else stage_or_fn.__module__.rsplit(".", 1)[-1]
    argv = sys.argv[1:]
    if not argv or argv[0] != verb:
        argv = [verb, *argv]
    raise SystemExit(main(argv, app_name=app_name))


if __name__ == "__main__":
    raise SystemExit(main())
