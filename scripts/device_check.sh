#!/usr/bin/env bash
# GPU check of the multivariate drift path (issue 5), for one rented H100. Runs in the repo root,
# installs nothing: the interpreter comes from $PYTHON (with torch+CUDA, alibi-detect 0.11.4,
# pandas, scikit-learn, matplotlib); results go to $OUT. Budget: < 6 minutes in total.
#   PYTHON=/path/to/python OUT=/tmp/out scripts/device_check.sh
set -uo pipefail
: "${PYTHON:?set PYTHON to the interpreter to use}"
: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
# Sizes (override only for a dry run of this script on a small CPU box).
SIZES="${DC_SIZES:-1000,5000}"; TARGET="${DC_TARGET:-5000}"; ROWS="${DC_ROWS:-3000}"
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
export MLFLOW_ENABLE_ASYNC_LOGGING=false
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/device_check.log"; }
status=0

log "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  nproc
  "$PYTHON" -c 'import torch, alibi_detect, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-", "alibi-detect", alibi_detect.__version__)'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt" | tee -a "$OUT/device_check.log"

log "1/4 GPU: every detector and VAE training vs sample size (32 features), alibi MMD as is at 5000"
timeout 150 "$PYTHON" scripts/bench_drift.py --device cuda --sizes "$SIZES" --features 32 \
  --alibi-baseline --alibi-sizes "$TARGET" --json "$OUT/bench_gpu.json" >> "$OUT/device_check.log" 2>&1 || { log "GPU bench failed ($?)"; status=1; }

log "2/4 CPU of the same machine: the MMD issue target (5000/side, 32 features, 100 permutations)"
timeout 120 "$PYTHON" scripts/bench_drift.py --device cpu --sizes "$TARGET" --features 32 --detectors mmd,ks \
  --alibi-baseline --alibi-sizes "$TARGET" --json "$OUT/bench_cpu.json" >> "$OUT/device_check.log" 2>&1 || { log "CPU bench failed ($?)"; status=1; }

log "3/4 GPU save -> load round trip (identical p-values) and GPU vs CPU p-values on one sample"
timeout 80 "$PYTHON" - "$OUT" "$ROWS" >> "$OUT/device_check.log" 2>&1 <<'PY' || { log "round trip failed ($?)"; status=1; }
import json, sys, tempfile
import numpy as np, pandas as pd
from dataclasses import dataclass
from mlhops.drift.detectors import SuiteConfig, fit_suite, load_suite

@dataclass(frozen=True)
class F:
    name: str
    kind: str

rng = np.random.default_rng(0)
cols = [f"f{i}" for i in range(32)]
rows = int(sys.argv[2])
ref = pd.DataFrame(rng.normal(size=(rows, 32)), columns=cols)
cur = pd.DataFrame(rng.normal(size=(rows, 32)), columns=cols)
cur["f0"] += 0.2
feats = [F(c, "numeric") for c in cols]
out = {}
for dev in ("cuda", "cpu"):
    cfg = SuiteConfig(detectors=("mmd", "lsdd", "classifier", "ks"), vae_epochs=10, classifier_epochs=3, device=dev)
    suite = fit_suite(ref, feats, cfg)
    a = suite.score(cur, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        suite.save(tmp)
        b = load_suite(tmp).score(cur, seed=3)
    out[dev] = {"p_values": {o.detector: o.p_value for o in a}, "devices": {o.detector: o.device for o in a},
                "reloaded_identical": all(x.p_value == y.p_value for x, y in zip(a, b)),
                "vae_seconds": suite.meta.get("vae_seconds")}
print(json.dumps(out, indent=1))
json.dump(out, open(f"{sys.argv[1]}/roundtrip.json", "w"), indent=1)
sys.exit(0 if out["cuda"]["reloaded_identical"] and out["cpu"]["reloaded_identical"] else 1)
PY

log "4/4 summary"
"$PYTHON" - "$OUT" <<'PY' 2>&1 | tee "$OUT/summary.md" || status=1
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def rows(name):
    p = out / name
    return json.loads(p.read_text())["rows"] if p.exists() else []
gpu, cpu = rows("bench_gpu.json"), rows("bench_cpu.json")
key = lambda r: (r["path"], r["detector"], r["rows_per_side"], r["features"])
cpu_by = {key(r): r for r in cpu}
print("| path | detector | rows/side | features | GPU score s | CPU score s | speed-up | GPU build s | GPU fit s | GPU VAE s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in gpu:
    c = cpu_by.get(key(r))
    cs = f"{c['score_s']:.3f}" if c else "-"
    sp = f"{c['score_s'] / max(r['score_s'], 1e-9):.1f}x" if c else "-"
    print(f"| {r['path']} | {r['detector']} | {r['rows_per_side']} | {r['features']} | {r['score_s']:.3f} | {cs} | {sp} | {r.get('build_s', '-')} | {r['fit_s']:.2f} | {r.get('vae_s', '-')} |")
rt = out / "roundtrip.json"
if rt.exists():
    print("\nround trip:", rt.read_text())
PY
log "done (status $status)"
exit $status
