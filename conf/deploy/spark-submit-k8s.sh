#!/usr/bin/env bash
# Nightly mlhops on Kubernetes (Spark's native scheduler). The image must contain the wheel and conf/.
set -euo pipefail
: "${K8S_API:?set K8S_API, e.g. https://kubernetes.default.svc}"
: "${MLHOPS_IMAGE:?set MLHOPS_IMAGE (an image with Python 3.11, the mlhops wheel and conf/)}"
spark-submit \
  --master "k8s://$K8S_API" --deploy-mode cluster \
  --name mlhops-nightly \
  --conf spark.kubernetes.container.image="$MLHOPS_IMAGE" \
  --conf spark.kubernetes.namespace=mlhops \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=mlhops \
  --conf spark.kubernetes.driver.secretKeyRef.MLHOPS_DEID_SALT=mlhops-deid:salt \
  --conf spark.kubernetes.driverEnv.MLHOPS_WAREHOUSE="${MLHOPS_WAREHOUSE:?}" \
  --conf spark.kubernetes.driverEnv.MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:?}" \
  --conf spark.kubernetes.driverEnv.MLHOPS_VOCAB_DIR="${MLHOPS_VOCAB_DIR:?}" \
  --conf spark.kubernetes.driverEnv.MLHOPS_CONF_DIR=/opt/mlhops/conf \
  --conf spark.jars.packages=io.delta:delta-spark_4.2_2.13:4.4.0 \
  --conf spark.executor.instances=6 --conf spark.executor.memory=8g \
  local:///opt/mlhops/jobs/nightly.py --conf cluster "$@"
