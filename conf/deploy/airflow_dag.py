"""Airflow example (Airflow 2.x and 3.x): run the mlhops nightly job at 02:30 UTC via spark-submit.

Alerts are not a failure of the job: the data was written and the alerts are in mlhops/alerts.
The job is asked to exit 0 on alerts (``MLHOPS_EXIT_CODE_ON_ALERTS=0`` -> ``--exit-code-on-alerts
0``), so the task fails only when a stage failed, and a downstream task can page on the alerts
table instead.
"""

from __future__ import annotations

import pendulum

try:  # Airflow 3: DAG authoring lives in the Task SDK
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:  # Airflow 3 (and 2.x with the standard provider installed): core operators moved there
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

with DAG(
    dag_id="mlhops_nightly",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["mlhops"],
) as dag:
    BashOperator(
        task_id="nightly",
        # {{ ds }} is the logical date: process that day's window.
        bash_command="bash conf/deploy/spark-submit-yarn.sh --date {{ ds }}",
        env={"MLHOPS_EXIT_CODE_ON_ALERTS": "0"},
        append_env=True,  # keep the worker's MLHOPS_WAREHOUSE, MLHOPS_DEID_SALT, MLFLOW_TRACKING_URI...
        cwd="/opt/mlhops",
        retries=0,
    )
