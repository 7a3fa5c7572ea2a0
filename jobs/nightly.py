"""spark-submit entry: the nightly pipeline. Example:
spark-submit jobs/nightly.py --conf cluster --date 2026-11-26
"""
from mlhops.cli import run_job

if __name__ == "__main__":
    run_job("nightly", app_name="mlhops-nightly")
