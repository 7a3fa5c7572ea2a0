"""The one Spark session factory. Only entry points (CLI, jobs, notebooks, tests) call it."""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.errors import ConfigError
from mlhops.io.connect import is_connect

logger = logging.getLogger(__name__)

# Settings every session needs, local or cluster: Delta and UTC.
_CORE_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # New tables record their change data feed, so incremental stages read only what changed.
    "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
}

# Sane defaults for a laptop/CI run; never applied when a master is not set by us.
_LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -Dderby.system.home=/tmp/mlhops-derby",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    # Generated code is compiled once per query shape (Janino: 14% of an ETL's Java time). The
    # default cache of 100 classes is outgrown by one ETL, so a second run in the same process (a
    # nightly's later stages, a notebook, the test suite) compiled everything again: a warm
    # 27-patient ETL took 63-70 s with it, 46-51 s with 2,000 (docs/benchmarks.md).
    "spark.sql.codegen.cache.maxEntries": "2000",
    # The UI is off, but Spark's status store still keeps the last 1,000 SQL executions (plan
    # descriptions and graphs) and 1,000 jobs and stages with their tasks in the driver's heap:
    # with the plans of a long process (the test suite: 1,000 executions, 2.3 GB live of a 4 GB
    # heap, 108 full collections in 30 minutes) that crowds out the work. Nothing reads them.
    "spark.sql.ui.retainedExecutions": "50",
    "spark.ui.retainedJobs": "100",
    "spark.ui.retainedStages": "100",
    "spark.ui.retainedTasks": "10000",
}


def get_spark(settings: Settings) -> SparkSession:
    """Create (or return the active) Spark session configured for ``settings``."""
    from mlhops.runtime_setup import check_versions

    active = SparkSession.getActiveSession()
    if active is not None:
        check_versions(active.version, settings.spark.delta_jars)
        return active
    sc = settings.spark
    builder = SparkSession.builder.appName(sc.app_name)
    conf: dict[str, str] = dict(_CORE_CONF)
    remote = os.environ.get("SPARK_REMOTE")
    if remote and not remote.startswith("local"):
        return _connect_to_server(builder, sc.conf)
    if remote:
        # PySpark's own switch: SPARK_REMOTE=local[...] starts a Spark Connect server in this
        # process with the options below (PySpark refuses a master beside it) and returns a
        # Connect client; everything else is as for local[...] itself.
        conf.update(_LOCAL_CONF)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if sc.driver_memory:
            conf["spark.driver.memory"] = sc.driver_memory
    elif sc.master:
        builder = builder.master(sc.master)
        if sc.master.startswith("local"):
            conf.update(_LOCAL_CONF)
            # Python workers must see the same interpreter (and so the same mlhops) as the driver.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            if sc.driver_memory:
                conf["spark.driver.memory"] = sc.driver_memory
    if sc.delta_jars == "cache":
        from mlhops.runtime_setup import cached_delta_jars

        jars = cached_delta_jars()
        if not jars:
            raise ConfigError(
                "spark.delta_jars is 'cache' but the Delta jars are not cached: run scripts/demo "
                "or `python -m mlhops.runtime_setup fetch-jars` once"
            )
        conf["spark.jars"] = ",".join(jars)
    elif sc.delta_jars == "packages":
        from mlhops.runtime_setup import delta_artifact

        conf["spark.jars.packages"] = delta_artifact()
    conf.update(sc.conf)
    for k, v in conf.items():
        builder = builder.config(k, v)
    os.environ.setdefault("TZ", "UTC")
    with warnings.catch_warnings():
        # A local Connect server gets every option at its start; PySpark then also tries to set
        # the static ones on the running session and warns that it cannot: nothing is lost.
        warnings.filterwarnings("ignore", message=r"Failed to set spark\.", category=UserWarning)
        spark = builder.getOrCreate()
    check_versions(spark.version, sc.delta_jars)
    if not is_connect(spark):
        spark.sparkContext.setLogLevel("WARN")
    logger.info("spark %s session ready (master=%s)", spark.version, sc.master or "cluster")
    return spark


# The local property the Spark UI and event log show as a job's description.
_DESCRIPTION = "spark.job.description"
# Prefix of the job tags set under Spark Connect (tags are its only per-job label):
# ``mlhops:<stage>[/<step>][@<run id>]``.
_TAG_PREFIX = "mlhops:"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/=@-]+")  # Connect refuses commas; keep tags one token
_LABEL = re.compile(r"mlhops (?P<what>\S+)(?: \[run (?P<run>.+)\])?")


# The session settings a client may set on a Spark Connect server it did not start (the rest of
# _CORE_CONF is the server's static configuration: Delta's extension and catalog).
_CONNECT_RUNTIME_CONF = ("spark.sql.session.timeZone", "spark.databricks.delta.schema.autoMerge.enabled",
                         "spark.databricks.delta.properties.defaults.enableChangeDataFeed")


def _connect_to_server(builder: SparkSession.Builder, extra: Mapping[str, str]) -> SparkSession:
    """A client session of the Spark Connect server ``SPARK_REMOTE`` names (``sc://host:port``):
    the server holds its own configuration (Delta included); only runtime settings are sent."""
    os.environ.setdefault("TZ", "UTC")
    spark = builder.getOrCreate()
    from mlhops.runtime_setup import check_versions

    check_versions(spark.version, "provided")
    for key in _CONNECT_RUNTIME_CONF:
        spark.conf.set(key, _CORE_CONF[key])
    # A server refuses a client's change of a static setting (driver memory, the event log, ...):
    # those are the server's to set, so the overlay's are named and left out rather than failing
    # the run (the same overlay serves a classic driver, which applies them).
    static: list[str] = []
    for key, value in extra.items():
        try:
            spark.conf.set(key, value)
        except AnalysisException as exc:
            if exc.getCondition() != "CANNOT_MODIFY_CONFIG":
                raise
            static.append(key)
    if static:
        logger.warning("spark.conf settings the Spark Connect server must set itself, not sent: %s",
                       ", ".join(static))
    logger.info("spark %s: Spark Connect client of %s", spark.version, os.environ.get("SPARK_REMOTE"))
    return spark


def job_label(stage: str, step: str | None = None, run_id: str | None = None) -> str:
    """``mlhops etl/map [run 2026...]``: what the Spark UI shows for the jobs of a stage's step."""
    label = "mlhops " + _TAG_UNSAFE.sub("_", stage + (f"/{step}" if step else ""))
    return label + (f" [run {run_id}]" if run_id else "")


def _tag(label: str) -> str:
    m = _LABEL.fullmatch(label)
    what, run = (m.group("what"), m.group("run")) if m else (label, None)
    return _TAG_PREFIX + _TAG_UNSAFE.sub("_", what + (f"@{run}" if run else ""))


def _label(tag: str) -> str:
    what, _, run = tag.removeprefix(_TAG_PREFIX).partition("@")
    return f"mlhops {what}" + (f" [run {run}]" if run else "")


def set_job_description(spark: SparkSession, label: str | None) -> None:
    """Label the Spark jobs this thread starts from now on (None: no label).

    A classic session sets the job description (``SparkContext.setJobDescription``); a Spark
    Connect session, which has no SparkContext, replaces its ``mlhops:`` job tag instead.
    """
    if is_connect(spark):
        for tag in list(spark.getTags()):  # a live set: removing while iterating it fails
            if tag.startswith(_TAG_PREFIX):
                spark.removeTag(tag)
        if label:
            spark.addTag(_tag(label))
        return
    spark.sparkContext.setLocalProperty(_DESCRIPTION, label)  # type: ignore[arg-type]


def current_job_description(spark: SparkSession) -> str | None:
    """The label :func:`set_job_description` last set in this thread, or None."""
    if is_connect(spark):
        tags = [t for t in spark.getTags() if t.startswith(_TAG_PREFIX)]
        return _label(tags[0]) if tags else None
    return spark.sparkContext.getLocalProperty(_DESCRIPTION)


@contextmanager
def job_description(spark: SparkSession, stage: str, step: str | None = None) -> Iterator[None]:
    """Label the Spark jobs of the block ``mlhops <stage>/<step>``, then restore the label before
    (a step inside a stage gets back the stage's), also when the block fails."""
    before = current_job_description(spark)
    m = _LABEL.fullmatch(before or "")
    set_job_description(spark, job_label(stage, step, m.group("run") if m else None))
    try:
        yield
    finally:
        set_job_description(spark, before)


@contextmanager
def spark_conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` on the session for the block, then restore what was there (unset keys
    that were unset), also when the block fails.

    Args:
        spark: the session.
        values: ``{conf key: value}``; empty changes nothing.
    """
    saved = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
