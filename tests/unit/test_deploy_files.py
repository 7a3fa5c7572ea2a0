"""The deployment files a platform team applies: each parses, has the keys and task types its
launcher needs, and points at things that exist (the CLI's own parser reads their arguments).

The Airflow DAG is imported only where Airflow is installed (it is not a dependency of mlhops nor
of its tests: Airflow pins half the ecosystem); elsewhere its source is checked with ``ast``: both
import paths guarded (Airflow 3 first, then Airflow 2), and the operator it uses. Shell scripts
pass ``bash -n``, and shellcheck where it is installed.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlhops.cli import build_parser
from mlhops.config import load_settings
from mlhops.runtime_setup import delta_artifact

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "conf" / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))


@pytest.fixture
def bundle() -> dict:
    return yaml.safe_load((REPO / "databricks.yml").read_text())


def _console_script() -> str:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg["options.entry_points"]["console_scripts"].split("=")[0].strip()


def test_the_bundle_lives_at_the_repository_root_and_references_nothing_outside_it(bundle):
    assert not (DEPLOY / "databricks.yml").exists()
    assert "../" not in (REPO / "databricks.yml").read_text()
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl" and artifact["path"] == "." and "wheel" in artifact["build"]


def test_the_bundle_runs_the_wheel_entry_point_with_arguments_the_cli_accepts(bundle, monkeypatch):
    job = bundle["resources"]["jobs"]["mlhops_nightly"]
    (task,) = job["tasks"]
    wheel_task = task["python_wheel_task"]
    assert wheel_task["package_name"] == "mlhops" and wheel_task["entry_point"] == _console_script()
    assert task["libraries"] == [{"whl": "./dist/*.whl"}]
    assert job["max_concurrent_runs"] == 1
    args = build_parser().parse_args(wheel_task["parameters"])
    assert args.verb == "nightly" and args.exit_code_on_alerts == 0  # a Databricks task fails on non-zero
    monkeypatch.setenv("MLHOPS_WAREHOUSE", "/Volumes/main/mlhops/warehouse")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/Volumes/main/mlhops/vocabulary")
    settings = load_settings(args.conf, conf_dir=REPO / "conf")
    assert settings.spark.delta_jars == "provided" and settings.spark.master is None
    assert not settings.deid.allow_default_salt and settings.deid.salt_secret


def test_the_bundle_cluster_has_the_kll_functions_and_no_plain_salt(bundle):
    cluster = bundle["resources"]["jobs"]["mlhops_nightly"]["job_clusters"][0]["new_cluster"]
    assert cluster["spark_version"] == "${var.spark_version}"
    runtime = bundle["variables"]["spark_version"]["default"]
    assert int(runtime.split(".")[0]) >= 18  # Databricks Runtime 18.0+: kll_* (19: Spark 4.2.0)
    assert "MLHOPS_DEID_SALT" not in cluster["spark_env_vars"]  # from a secret scope, never plain
    # Runtime 18+ is Python 3.12: alibi-detect goes in before the wheel, by a script in the bundle
    (init,) = cluster["init_scripts"]
    root, rel = init["workspace"]["destination"].split("/", 1)
    assert root == "${workspace.file_path}" and (REPO / rel).is_file()
    assert set(bundle["targets"]) == {"dev", "prod"}


def test_every_environment_overlay_validates(monkeypatch):
    monkeypatch.setenv("MLHOPS_WAREHOUSE", "/data/wh")
    monkeypatch.setenv("MLHOPS_VOCAB_DIR", "/data/vocab")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    envs = sorted(p.stem for p in (REPO / "conf" / "env").glob("*.yaml"))
    assert {"local", "cluster", "databricks"} <= set(envs)
    for env in envs:
        assert load_settings(env, conf_dir=REPO / "conf").environment == env


def test_shell_scripts_are_valid_bash_and_pass_shellcheck_where_installed():
    assert {p.name for p in SCRIPTS} >= {"spark-submit-yarn.sh", "spark-submit-k8s.sh", "pack-env.sh"}
    for script in SCRIPTS:
        subprocess.run(["bash", "-n", str(script)], check=True)
    # shellcheck is not a Python package; CI images without it still run bash -n above.
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-x", *map(str, SCRIPTS)], check=True, cwd=DEPLOY)


@pytest.mark.parametrize("script", ["spark-submit-yarn.sh", "spark-submit-k8s.sh"])
def test_spark_submit_ships_the_packed_environment_and_the_pinned_delta(script):
    text = (DEPLOY / script).read_text()
    assert "--py-files" not in text
    assert re.search(r'--archives "\$\w+#environment"', text)
    assert "./environment/bin/python" in text
    assert "PYSPARK_PYTHON" in text or "spark.pyspark.python" in text
    assert (REPO / "jobs" / "nightly.py").is_file()
    coords = re.findall(r"io\.delta:delta-spark_[\w.]+:[\d.]+", text)
    assert coords and set(coords) == {delta_artifact()}
    # The job's arguments, with the defaults the script fills in, are ones `mlhops nightly` takes.
    (job_args,) = re.findall(r"jobs/nightly\.py (.*)$", text, flags=re.M)
    argv = [re.sub(r'^"\$\{\w+:-(\w+)\}"$', r"\1", a) for a in job_args.split() if a != '"$@"']
    args = build_parser().parse_args(["nightly", *argv])
    assert args.conf == "cluster" and args.exit_code_on_alerts == 3
    assert "MLHOPS_CONF_DIR" not in text  # conf/ comes inside the wheel


def test_the_packed_environment_is_built_from_the_hashed_lock_and_the_wheel():
    text = (DEPLOY / "pack-env.sh").read_text()
    assert "--require-hashes" in text and "requirements.lock" in text
    assert "venv-pack" in text and "pip wheel" in text


def _imports_in_try(tree: ast.Module) -> list[tuple[list[str], list[str]]]:
    """(modules tried, modules in the ImportError fallback) of each top-level try/except."""
    pairs = []
    for node in tree.body:
        if isinstance(node, ast.Try):
            tried = [n.module for n in node.body if isinstance(n, ast.ImportFrom)]
            caught = [n.module for h in node.handlers
                      if isinstance(h.type, ast.Name) and h.type.id == "ImportError"
                      for n in h.body if isinstance(n, ast.ImportFrom)]
            pairs.append((tried, caught))
    return pairs


def test_the_airflow_dag_imports_for_airflow_2_and_3_and_runs_the_yarn_script():
    source = (DEPLOY / "airflow_dag.py").read_text()
    tree = ast.parse(source)
    pairs = _imports_in_try(tree)
    assert (["airflow.providers.standard.operators.bash"], ["airflow.operators.bash"]) in pairs
    assert (["airflow.sdk"], ["airflow"]) in pairs
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "BashOperator"]
    (call,) = calls
    kwargs = {k.arg: k.value for k in call.keywords}
    assert "spark-submit-yarn.sh" in ast.literal_eval(kwargs["bash_command"])
    assert ast.literal_eval(kwargs["env"]) == {"MLHOPS_EXIT_CODE_ON_ALERTS": "0"}
    assert (DEPLOY / "spark-submit-yarn.sh").is_file()
    if importlib.util.find_spec("airflow") is not None:  # a real import where Airflow is installed
        spec = importlib.util.spec_from_file_location("mlhops_airflow_dag", DEPLOY / "airflow_dag.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.dag.dag_id == "mlhops_nightly" and [t.task_id for t in module.dag.tasks] == ["nightly"]


def test_the_crontab_runs_nightly_once_a_night_exiting_0_on_alerts():
    lines = [l for l in (DEPLOY / "crontab.example").read_text().splitlines() if l and not l.startswith("#")]
    (line,) = lines
    assert line.split()[:5] == ["30", "2", "*", "*", "*"]
    assert "mlhops nightly" in line and "--exit-code-on-alerts 0" in line
