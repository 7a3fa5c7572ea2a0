#!/usr/bin/env bash
# Nightly mlhops on Kubernetes (Spark's native scheduler). The image needs only Spark and a
# Python 3.11 at the same path as the packing machine's; the job's Python environment
# (conf/deploy/pack-env.sh: locked dependencies + the mlhops wheel, which carries conf/) comes
# with --archives and is unpacked as ./environment in the driver and executor pods.
# Usage: conf/deploy/spark-submit-k8s.sh --date 2026-11-26   (arguments go to `mlhops nightly`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${K8S_API:?set K8S_API, e.g. https://kubernetes.default.svc}"
: "${MLHOPS_IMAGE:?set MLHOPS_IMAGE (a Spark image with Python 3.11)}"
: "${MLHOPS_ENV_ARCHIVE:?set MLHOPS_ENV_ARCHIVE, the packed environment on shared storage (s3a://.../mlhops-env.tar.gz)}"
: "${MLHOPS_UPLOAD_PATH:?set MLHOPS_UPLOAD_PATH (s3a://... where spark-submit uploads jobs/nightly.py)}"
spark-submit \
  --master "k8s://$K8S_API" --deploy-mode cluster \
  --name mlhops-nightly \
  --archives "$MLHOPS_ENV_ARCHIVE#environment" \
  --conf spark.pyspark.python=./environment/bin/python \
  --conf spark.kubernetes.file.upload.path="$MLHOPS_UPLOAD_PATH" \
  --conf spark.kubernetes.container.image="$MLHOPS_IMAGE" \
  --conf spark.kubernetes.namespace=mlhops \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=mlhops \
  --conf spark.kubernetes.driver.secretKeyRef.MLHOPS_DEID_SALT=mlhops-deid:salt \
  --conf spark.kubernetes.driverEnv.MLHOPS_WAREHOUSE="${MLHOPS_WAREHOUSE:?}" \
  --conf spark.kubernetes.driverEnv.MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:?}" \
  --conf spark.kubernetes.driverEnv.MLHOPS_VOCAB_DIR="${MLHOPS_VOCAB_DIR:?}" \
  --conf spark.jars.packages=io.delta:delta-spark_4.2_2.13:4.4.0 \
  --conf spark.executor.instances=6 --conf spark.executor.memory=8g \
  jobs/nightly.py --conf cluster --exit-code-on-alerts "${MLHOPS_EXIT_CODE_ON_ALERTS:-3}" "$@"
