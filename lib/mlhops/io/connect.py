"""Which kind of Spark session this is: classic (a JVM in this process, py4j) or Spark Connect."""

from __future__ import annotations

from pyspark.sql import SparkSession


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (``SPARK_REMOTE``, ``sc://``, Databricks serverless), which
    has no SparkContext, JVM gateway or Hadoop configuration on the client."""
    return type(spark).__module__.startswith("pyspark.sql.connect")
