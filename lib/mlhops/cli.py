"""Command line: ``mlhops <verb>``. Argument parsing, logging set-up and exit codes only.

Exit codes: 0 ok, 1 failure, 2 configuration error, 3 alerts at or above the configured severity.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from mlhops.errors import ConfigError, MLHOpsError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_ALERTS = 3

logger = logging.getLogger("mlhops")

ETL_SOURCES = ("synthea-csv", "fhir", "dicom", "cxr-metadata", "omop")


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
    common.add_argument("--run-id", help="run id to record (default: a new one)")
    common.add_argument("--force", action="store_true", help="redo work already done for the window")
    window = argparse.ArgumentParser(add_help=False)
    window.add_argument("--date", type=_date, help="process the day D (window [D, D+1))")
    window.add_argument("--from", dest="start", type=_date, help="first day of a backfill")
    window.add_argument("--to", dest="end", type=_date, help="last day of a backfill (inclusive)")

    p = argparse.ArgumentParser(prog="mlhops", description="ML Health Operations on Spark, Delta and MLflow")
    sub = p.add_subparsers(dest="verb", required=True)

    etl = sub.add_parser("etl", parents=[common], help="raw sources -> OMOP CDM v5.4 (+ quarantine, runs)")
    etl.add_argument("--source", required=True, choices=ETL_SOURCES)
    etl.add_argument("--input", help="input directory (default: etl.inputs.<source> of the config)")

    verbs = {}
    for verb, text in [
        ("quality", "data quality checks -> quality_results"),
        ("features", "OMOP -> feature table"),
        ("stats", "features -> profile_metrics -> drift_metrics (incremental)"),
        ("train", "train the reference model (or recalibrate it) and register it"),
        ("score", "score new windows with the champion model"),
        ("evaluate", "performance, calibration, fairness, label/concept shift, label requests, triggers"),
        ("alerts", "evaluate alert rules -> alerts"),
        ("report", "HTML monitoring report and model card"),
    ]:
        verbs[verb] = sub.add_parser(verb, parents=[common, window], help=text)
    verbs["train"].add_argument("--mode", choices=["train", "recalibrate"], help="default: train")
    verbs["train"].add_argument("--as-of", type=_date, help="label cut-off date (default: today UTC)")
    verbs["evaluate"].add_argument("--as-of", type=_date, help="label cut-off date (default: end of window - 1 day)")
    verbs["evaluate"].add_argument("--trigger", choices=["retrain", "recalibrate"], help="an on-demand trigger")

    drift = sub.add_parser("drift", parents=[common, window], help="run registered multivariate detectors")
    drift.add_argument("action", nargs="?", choices=["run", "fit"], default="run",
                       help="run: score windows with the registered detectors; fit: fit and register")
    drift.add_argument("--no-set-alias", action="store_true", help="fit: register without moving the alias")

    promote = sub.add_parser("promote", parents=[common], help="make a version (default: the challenger) champion")
    promote.add_argument("--version", help="registered model version (default: the challenger)")
    promote.add_argument("--reason", help="why (recorded in mlhops/model_events and MLflow)")
    rollback = sub.add_parser("rollback", parents=[common], help="move champion back to the version it replaced")
    rollback.add_argument("--version", help="roll back to this version instead of the previous champion")
    rollback.add_argument("--reason", help="why (recorded in mlhops/model_events and MLflow)")

    nightly = sub.add_parser("nightly", parents=[common, window], help="all stages in order")
    nightly.add_argument("--only", action="append", metavar="STAGE", help="run only these stages")
    nightly.add_argument("--from-stage", metavar="STAGE", help="start at this stage")
    return p


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


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("py4j", "alembic", "urllib3", "matplotlib", "numba", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stage_and_extra(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    verb = args.verb
    if verb == "drift":
        extra: dict[str, Any] = {"action": "fit" if args.action == "fit" else "score"}
        if args.no_set_alias:
            extra["set_alias"] = False
        return ["drift"], extra
    if verb in ("promote", "rollback"):
        extra = {"action": verb}
        if args.version:
            extra["version"] = args.version
        if args.reason:
            extra["reason"] = args.reason
        return ["promote"], extra
    extra = {k: getattr(args, k) for k in ("mode", "as_of", "trigger") if getattr(args, k, None) is not None}
    return [verb], {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in extra.items()}


def main(argv: Sequence[str] | None = None, *, app_name: str | None = None) -> int:
    """Entry point of the ``mlhops`` console script."""
    args = build_parser().parse_args(argv)
    try:
        from mlhops.config import load_settings

        overrides = {"spark": {"app_name": app_name}} if app_name else None
        settings = load_settings(args.conf, warehouse=args.warehouse, overrides=overrides)
        setup_logging(args.log_level or settings.log_level)
        start, end = _window(args)
        from mlhops.pipelines import STAGES
        from mlhops.pipelines.base import StageParams
        from mlhops.pipelines.orchestrate import select_stages

        if args.verb == "nightly":
            stages = select_stages(args.only, args.from_stage)
            extra: dict[str, Any] = {}
        else:
            stages, extra = _stage_and_extra(args)
            missing = [s for s in stages if s not in STAGES]
            if missing:
                raise ConfigError(f"stage {missing[0]!r} is not part of this mlhops build")
        params = StageParams(
            run_id=args.run_id or f"{dt.datetime.utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            start=start,
            end=end,
            force=args.force,
            source=getattr(args, "source", None),
            input=getattr(args, "input", None),
            extra=extra,
        )
        return run_with_spark(settings, stages, params)
    except ConfigError as exc:
        logging.basicConfig(level=logging.INFO)
        logger.error("configuration error: %s", exc)
        return EXIT_CONFIG
    except MLHOpsError as exc:
        logger.error("%s", exc)
        return EXIT_FAILURE


def run_with_spark(settings: Any, stages: list[str], params: Any) -> int:
    """Create Spark (entry point), run the stages, print the summary, map to an exit code."""
    from mlhops.pipelines.orchestrate import run_stages
    from mlhops.spark import get_spark

    spark = get_spark(settings)
    summary = run_stages(spark, settings, stages, params)
    print(summary.render(), file=sys.stderr)
    if summary.failed:
        return EXIT_FAILURE
    if any(o.status == "alerts" for o in summary.outcomes):
        return EXIT_ALERTS
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
