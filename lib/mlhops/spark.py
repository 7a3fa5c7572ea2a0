"""The one Spark session factory. Only entry points (CLI, jobs, notebooks, tests) call it."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

from mlhops.config.model import Settings
from mlhops.errors import ConfigError

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
}


def get_spark(settings: Settings) -> SparkSession:
    """Create (or return the active) Spark session configured for ``settings``."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    sc = settings.spark
    builder = SparkSession.builder.appName(sc.app_name)
    conf: dict[str, str] = dict(_CORE_CONF)
    if sc.master:
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
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info("spark %s session ready (master=%s)", spark.version, spark.sparkContext.master)
    return spark


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
