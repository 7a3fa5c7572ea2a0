"""The deployment definitions under conf/deploy load, and point at things that exist."""

import py_compile
import re
import subprocess
from pathlib import Path

import yaml

from mlhops.config import load_settings
from mlhops.runtime_setup import delta_artifact

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "conf" / "deploy"


def test_databricks_bundle_runs_the_nightly_job_with_a_valid_environment(monkeypatch):
    bundle = yaml.safe_load((DEPLOY / "databricks.yml").read_text())
    job = bundle["resources"]["jobs"]["mlhops_nightly"]
    task = job["tasks"][0]
    script = (DEPLOY / task["spark_python_task"]["python_file"]).resolve()
    assert script == REPO / "jobs" / "nightly.py"
    params = task["spark_python_task"]["parameters"]
    env = params[params.index("--conf") + 1]
    assert job["max_concurrent_runs"] == 1
    cluster_env = job["job_clusters"][0]["new_cluster"]["spark_env_vars"]
    assert "MLHOPS_DEID_SALT" not in cluster_env  # the salt comes from a secret scope, never plain
    monkeypatch.setenv("MLHOPS_WAREHOUSE", "/Volumes/main/mlhops/warehouse")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/Volumes/main/mlhops/vocabulary")
    s = load_settings(env, conf_dir=REPO / "conf")
    assert s.spark.delta_jars == "provided" and s.spark.master is None
    assert not s.deid.allow_default_salt and s.deid.salt_secret


def test_every_environment_overlay_validates(monkeypatch):
    monkeypatch.setenv("MLHOPS_WAREHOUSE", "/data/wh")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/data/vocab")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    envs = sorted(p.stem for p in (REPO / "conf" / "env").glob("*.yaml"))
    assert {"local", "cluster", "databricks"} <= set(envs)
    for env in envs:
        assert load_settings(env, conf_dir=REPO / "conf").environment == env


def test_spark_submit_scripts_are_valid_shell_and_use_the_pinned_delta():
    for script in ("spark-submit-yarn.sh", "spark-submit-k8s.sh"):
        text = (DEPLOY / script).read_text()
        subprocess.run(["bash", "-n", str(DEPLOY / script)], check=True)
        assert "jobs/nightly.py" in text
        coords = re.findall(r"io\.delta:delta-spark_[\w.]+:[\d.]+", text)
        assert coords and set(coords) == {delta_artifact()}, script


def test_airflow_and_cron_examples_call_the_nightly_job():
    py_compile.compile(str(DEPLOY / "airflow_dag.py"), doraise=True)
    assert "spark-submit-yarn.sh" in (DEPLOY / "airflow_dag.py").read_text()
    cron = [l for l in (DEPLOY / "crontab.example").read_text().splitlines() if l and not l.startswith("#")]
    assert len(cron) == 1 and "mlhops nightly" in cron[0] and cron[0].split()[:5] == ["30", "2", "*", "*", "*"]
