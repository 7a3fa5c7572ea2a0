#!/usr/bin/env bash
# Nightly mlhops on YARN. The job runs in a packed Python environment (conf/deploy/pack-env.sh:
# the locked dependencies and the mlhops wheel, which carries conf/), shipped with --archives and
# unpacked as ./environment on the driver and every executor; nothing is installed on the nodes.
# Usage: conf/deploy/spark-submit-yarn.sh --date 2026-11-26   (arguments go to `mlhops nightly`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${MLHOPS_WAREHOUSE:?set MLHOPS_WAREHOUSE (e.g. hdfs:///data/mlhops or s3a://bucket/mlhops)}"
: "${MLHOPS_DEID_SALT:?set MLHOPS_DEID_SALT from your secret store}"
ENV_ARCHIVE="${MLHOPS_ENV_ARCHIVE:-dist/mlhops-env.tar.gz}"   # local, hdfs:// or s3a://
[[ "$ENV_ARCHIVE" == *://* || -f "$ENV_ARCHIVE" ]] || { echo "no $ENV_ARCHIVE: run conf/deploy/pack-env.sh" >&2; exit 2; }
# Exit 0 on alerts when the launcher fails on any non-zero exit: MLHOPS_EXIT_CODE_ON_ALERTS=0.
spark-submit \
  --master yarn --deploy-mode cluster \
  --name mlhops-nightly \
  --archives "$ENV_ARCHIVE#environment" \
  --conf spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python \
  --conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python \
  --packages io.delta:delta-spark_4.2_2.13:4.4.0 \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.yarn.appMasterEnv.MLHOPS_WAREHOUSE="$MLHOPS_WAREHOUSE" \
  --conf spark.yarn.appMasterEnv.MLHOPS_DEID_SALT="$MLHOPS_DEID_SALT" \
  --conf spark.yarn.appMasterEnv.MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:?set MLFLOW_TRACKING_URI}" \
  --conf spark.yarn.appMasterEnv.MLHOPS_VOCAB_DIR="${MLHOPS_VOCAB_DIR:?set MLHOPS_VOCAB_DIR}" \
  --num-executors 8 --executor-cores 4 --executor-memory 8g --driver-memory 4g \
  jobs/nightly.py --conf cluster --exit-code-on-alerts "${MLHOPS_EXIT_CODE_ON_ALERTS:-3}" "$@"
