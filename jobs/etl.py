"""spark-submit entry: raw source -> OMOP. Example:
spark-submit jobs/etl.py --source synthea-csv --input s3://bucket/extract/ --conf cluster
"""
from mlhops.cli import run_job

if __name__ == "__main__":
    run_job("etl", app_name="mlhops-etl")
