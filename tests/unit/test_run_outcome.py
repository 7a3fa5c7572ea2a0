"""What an operator and a launcher see of a run: the run id on every log line, the exit code on
alerts (3, or 0 where any non-zero exit is a failure) and, on Databricks, the task values."""

from __future__ import annotations

import io
import logging
import types

import pytest

from mlhops import runtime
from mlhops.cli import EXIT_ALERTS, EXIT_FAILURE, EXIT_OK, build_parser, outcome_exit_code, setup_logging
from mlhops.config import load_settings
from mlhops.errors import ConfigError


def _summary(*statuses: str):
    outcomes = [types.SimpleNamespace(stage=f"s{i}", status=s) for i, s in enumerate(statuses)]
    failed = [o.stage for o in outcomes if o.status in ("failed", "blocked")]
    return types.SimpleNamespace(outcomes=outcomes, failed=failed, run_id="r1")


def test_every_log_line_names_the_run(tmp_path):
    log = tmp_path / "run.log"
    setup_logging("INFO", str(log), "20260101T000000-abcd1234")
    try:
        logging.getLogger("mlhops.pipelines.etl").info("wrote %d rows to %s", 3, "omop/person")
        logging.getLogger("py4j.clientserver").warning("gateway closed")
        logging.getLogger().handlers[0].flush()
        lines = log.read_text().splitlines()
    finally:
        setup_logging("WARNING")
    assert len(lines) == 2
    assert all("[run 20260101T000000-abcd1234]" in line for line in lines)


def test_a_second_run_in_the_same_process_replaces_the_run_id():
    stream = io.StringIO()
    root = logging.Logger("isolated")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(runtime.LOG_FORMAT))
    root.addHandler(handler)
    runtime.tag_log_handlers("first", root)
    runtime.tag_log_handlers("second", root)
    root.error("boom")
    assert "[run second]" in stream.getvalue() and "first" not in stream.getvalue()


def test_alerts_exit_3_by_default_or_0_when_configured():
    assert outcome_exit_code(_summary("ok", "alerts")) == EXIT_ALERTS
    assert outcome_exit_code(_summary("ok", "alerts"), alerts_exit=0) == EXIT_OK
    assert outcome_exit_code(_summary("failed", "alerts"), alerts_exit=0) == EXIT_FAILURE
    assert outcome_exit_code(_summary("ok", "skipped")) == EXIT_OK


def test_exit_code_on_alerts_is_a_validated_setting_and_a_flag():
    assert load_settings("local", warehouse="/tmp/wh").run.exit_code_on_alerts == 3
    quiet = load_settings("local", warehouse="/tmp/wh", overrides={"run": {"exit_code_on_alerts": 0}})
    assert quiet.run.exit_code_on_alerts == 0
    with pytest.raises(ConfigError, match="exit_code_on_alerts"):
        load_settings("local", warehouse="/tmp/wh", overrides={"run": {"exit_code_on_alerts": 1}})
    assert build_parser().parse_args(["nightly", "--exit-code-on-alerts", "0"]).exit_code_on_alerts == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["nightly", "--exit-code-on-alerts", "1"])


def test_task_values_are_set_only_where_dbutils_exists(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert runtime.publish_task_values({"exit_code": 0}) is False
    seen: dict[str, object] = {}
    fake = types.SimpleNamespace(jobs=types.SimpleNamespace(taskValues=types.SimpleNamespace(
        set=lambda key, value: seen.__setitem__(key, value))))
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "18.1")
    monkeypatch.setattr(runtime, "_dbutils", lambda: fake)
    assert runtime.publish_task_values({"exit_code": 0, "alerts": "alerts"}) is True
    assert seen == {"exit_code": 0, "alerts": "alerts"}


class _ConnectSession:
    """The job-tag surface of a Spark Connect session (no SparkContext on the client)."""

    __module__ = "pyspark.sql.connect.session"

    def __init__(self) -> None:
        self.tags: list[str] = ["user-tag"]

    def getTags(self) -> set[str]:  # noqa: N802 - Spark's name
        return set(self.tags)

    def addTag(self, tag: str) -> None:  # noqa: N802
        assert tag and "," not in tag  # what Spark Connect refuses
        self.tags.append(tag)

    def removeTag(self, tag: str) -> None:  # noqa: N802
        self.tags.remove(tag)

    @property
    def sparkContext(self):  # noqa: N802
        raise AssertionError("Spark Connect has no SparkContext")


def test_under_spark_connect_stage_and_step_become_job_tags_restored_after_the_step():
    from mlhops.spark import is_connect, job_description, job_label, set_job_description

    session = _ConnectSession()
    assert is_connect(session)
    set_job_description(session, job_label("etl", run_id="r1"))
    assert session.tags == ["user-tag", "mlhops:etl@r1"]
    with job_description(session, "etl", "map, conform"):
        assert sorted(session.tags) == ["mlhops:etl/map_conform@r1", "user-tag"]
    assert sorted(session.tags) == ["mlhops:etl@r1", "user-tag"]
    set_job_description(session, None)
    assert session.tags == ["user-tag"]
