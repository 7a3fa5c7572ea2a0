"""Start-up refuses a Spark or Delta without what mlhops calls, and says what to install."""

from __future__ import annotations

import pyspark.sql.functions as F
import pytest

from mlhops.errors import ConfigError
from mlhops.runtime_setup import REQUIRED_SPARK_FUNCTIONS, check_versions, version_problems

ALL = set(REQUIRED_SPARK_FUNCTIONS)


def test_the_pinned_stack_passes():
    assert version_problems(spark_version="4.2.0", functions=ALL, delta_version="4.4.0", delta_jars="cache") == []


def test_spark_before_4_1_2_is_refused_with_the_function_it_lacks():
    (problem,) = version_problems(spark_version="4.1.1", functions=ALL, delta_version="4.4.0", delta_jars="cache")
    assert "Spark 4.1.1 is too old" in problem and "4.1.2" in problem and "kll_merge_agg_double" in problem


def test_a_client_without_the_kll_functions_is_refused():
    (problem,) = version_problems(spark_version="4.2.0", functions=ALL - {"kll_merge_agg_double"},
                                  delta_version="4.4.0", delta_jars="provided")
    assert "pyspark lacks kll_merge_agg_double" in problem and "mlhops[spark]" in problem


def test_delta_is_checked_only_when_mlhops_brings_the_jars():
    for bad in ("4.3.0", "4.4.1"):
        (problem,) = version_problems(spark_version="4.2.0", functions=ALL, delta_version=bad, delta_jars="packages")
        assert f"delta-spark {bad} does not match" in problem
    (missing,) = version_problems(spark_version="4.2.0", functions=ALL, delta_version=None, delta_jars="cache")
    assert "delta-spark is not installed" in missing
    assert version_problems(spark_version="4.2.0", functions=ALL, delta_version=None, delta_jars="provided") == []


def test_databricks_is_judged_by_its_runtime_version_not_its_spark_number():
    ok = version_problems(spark_version="4.1.0", functions=ALL, delta_version=None, delta_jars="provided",
                          databricks_runtime="18.1")
    assert ok == []
    (old,) = version_problems(spark_version="4.0.0", functions=ALL, delta_version=None, delta_jars="provided",
                              databricks_runtime="17.3")
    assert "Databricks Runtime 17.3 is too old" in old


def test_the_installed_pyspark_has_every_function_mlhops_calls():
    assert ALL <= set(dir(F))


def test_check_versions_raises_a_configuration_error(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    check_versions("4.2.0", "cache")
    with pytest.raises(ConfigError, match="Spark 4.0.1 is too old"):
        check_versions("4.0.1", "provided")


def test_alibi_detect_must_be_its_last_apache_release_and_missing_says_how_to_install_it():
    ok = dict(spark_version="4.2.0", functions=ALL, delta_version="4.4.0", delta_jars="cache")
    (missing,) = version_problems(**ok, alibi_detect_version=None)
    assert "alibi-detect is not installed" in missing and "--no-deps alibi-detect==0.11.4" in missing
    (bsl,) = version_problems(**ok, alibi_detect_version="0.12.0")  # Business Source License from 0.12
    assert "alibi-detect 0.12.0 is installed" in bsl and "Apache-2.0" in bsl
    assert version_problems(**ok, alibi_detect_version="0.11.4") == []
