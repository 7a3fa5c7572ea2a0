#!/usr/bin/env bash
# Nightly mlhops on YARN. Ship the package as a wheel (python -m build) and the conf directory.
set -euo pipefail
: "${MLHOPS_WAREHOUSE:?set MLHOPS_WAREHOUSE (e.g. hdfs:///data/mlhops or s3a://bucket/mlhops)}"
: "${MLHOPS_DEID_SALT:?set MLHOPS_DEID_SALT from your secret store}"
spark-submit \
  --master yarn --deploy-mode cluster \
  --name mlhops-nightly \
  --packages io.delta:delta-spark_4.2_2.13:4.4.0 \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.yarn.appMasterEnv.MLHOPS_WAREHOUSE="$MLHOPS_WAREHOUSE" \
  --conf spark.yarn.appMasterEnv.MLHOPS_DEID_SALT="$MLHOPS_DEID_SALT" \
  --conf spark.yarn.appMasterEnv.MLHOPS_CONF_DIR=conf \
  --conf spark.yarn.appMasterEnv.MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:?set MLFLOW_TRACKING_URI}" \
  --conf spark.yarn.appMasterEnv.MLHOPS_VOCAB_DIR="${MLHOPS_VOCAB_DIR:?set MLHOPS_VOCAB_DIR}" \
  --archives conf.tar.gz#conf \
  --py-files dist/mlhops-*.whl \
  --num-executors 8 --executor-cores 4 --executor-memory 8g --driver-memory 4g \
  jobs/nightly.py --conf cluster "$@"
