#!/usr/bin/env bash
# The batched solve on a GPU: throughput of one vmapped solve over a shape bucket at batch sizes
# up to 1000, against one CPU solve at a time (the loop `gflab sweep --batch loop` runs), on the
# same machine, the same DMF problems (n in 17..30, the bucket 32; depth 3; docs/performance.md).
#
# Run from the repository root on a machine with a CUDA GPU, with a Python whose jax has CUDA
# (the pinned jax version: pip install "jax[cuda12]==$(python -c 'import jax; print(jax.__version__)')"):
#     bash benchmarks/gpu_batch.sh [PYTHON]
# Writes cpu.json, gpu.json and summary.json to $OUT (default benchmarks/_gpu_out) and prints the
# summary. About 5-10 minutes, most of it compiling (each batch size is one program).
set -euo pipefail
PY=${1:-python}
OUT=${OUT:-benchmarks/_gpu_out}
mkdir -p "$OUT"
export JAX_ENABLE_X64=1 GFLAB_JAX_CACHE="$OUT/jax" GFLAB_EXPORT=0 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
SIZES=${SIZES:-1,100,1000}   # a dry run on CPU: SIZES=2,4 ALLOW_CPU=1 bash benchmarks/gpu_batch.sh
if [ -z "${ALLOW_CPU:-}" ]; then
    $PY -c "import jax; b = jax.default_backend(); assert b == 'gpu', f'no GPU backend: {jax.devices()}'"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu_name.txt" 2>/dev/null || true
# the CPU reference: 16 problems, one compiled single solve each after the other
JAX_PLATFORMS=cpu $PY -m benchmarks.batch --sizes 16 --n 30 --loop-only > "$OUT/cpu.json"
# the GPU: one vmapped solve per batch (1000 runs padded to the batch bucket 1024)
$PY -m benchmarks.batch --sizes "$SIZES" --n 30 --vmap-only > "$OUT/gpu.json"
$PY - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
cpu = json.load(open(f"{out}/cpu.json"))["cases"][0]
gpu = json.load(open(f"{out}/gpu.json"))
one = cpu["loop_solves_per_second"]
rows = [
    {
        "batch": c["batch"],
        "gpu_seconds": c["vmap_seconds"],
        "gpu_solves_per_second": c["vmap_solves_per_second"],
        "gpu_first_call_seconds": c["vmap_first_call_seconds"],
        "throughput_vs_one_cpu_solve": c["vmap_solves_per_second"] / one,
        "statuses": c["statuses"],
    }
    for c in gpu["cases"]
]
summary = {"devices": gpu["devices"], "cpu_solves_per_second": one, "cpu_seconds_per_solve": 1 / one, "gpu": rows}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary, indent=1))
PY
