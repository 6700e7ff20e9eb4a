#!/usr/bin/env bash
# The GPU check of issue 16, in one command: bash benchmarks/gpu_check.sh OUTDIR
#
# Run from the repository root on a machine with an NVIDIA GPU, CuPy and PyTorch (no network
# needed: the project is used from the checkout through PYTHONPATH, never pip-installed).
# Writes into OUTDIR: summary.txt (one line per stage, read it first), env.txt (nvidia-smi,
# versions), tests.xml + tests.log (the whole suite on device=cuda), lenet_gpu.json + .log
# (LeNet trained on the GPU and on the CPU from the same start), bench_gpu.json + .log
# (symconv vs PyTorch eager, CUDA-graph replay vs plain calls). Every stage has a time limit;
# all of them together stay under ~8 minutes. Exit status: 0 every stage passed, 1 a stage
# failed (the summary says which), 2 usage, 3 no usable GPU or CuPy (before any stage runs).
#
# Environment: PYTHON (default python3), GPU_CHECK_STAGES (default "tests lenet bench"),
# GPU_CHECK_MNIST (an MNIST IDX directory, e.g. a 10k sample carried in an ignored folder;
# default .gpu_data/mnist-10k when present, else the sample shipped in symconv/data).
set -u

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: bash benchmarks/gpu_check.sh OUTDIR" >&2
    exit 2
fi
OUT=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
STAGES=${GPU_CHECK_STAGES:-tests lenet bench}
mkdir -p "$OUT" || { echo "gpu_check: cannot create $OUT" >&2; exit 2; }
OUT=$(cd "$OUT" && pwd)
cd "$ROOT" || exit 2
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

note() {
    echo "gpu_check: $*" | tee -a "$SUMMARY"
}

# ---- fail fast: a GPU, its driver and CuPy ---------------------------------------------------
if ! command -v "$PYTHON" > /dev/null 2>&1; then
    note "FAILED: no Python interpreter '$PYTHON' (set PYTHON)"
    exit 3
fi
if ! command -v nvidia-smi > /dev/null 2>&1; then
    note "FAILED: nvidia-smi not found: this machine has no NVIDIA driver (no GPU to check)"
    exit 3
fi
probe=$("$PYTHON" - 2>&1 <<'EOF'
from symconv.backends.cupy import DeviceUnavailableError, load_cupy
try:
    cupy, index = load_cupy("cuda")
except DeviceUnavailableError as err:
    raise SystemExit(f"DeviceUnavailableError: {err}")
props = cupy.cuda.runtime.getDeviceProperties(index)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
print(f"{name}, CuPy {cupy.__version__}")
EOF
)
status=$?
if [ $status -ne 0 ]; then
    note "FAILED: device=cuda is not usable here: $(echo "$probe" | tail -n 1)"
    exit 3
fi
note "device: $probe"

# ---- the machine and the versions ------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    nvidia-smi
    "$PYTHON" - <<'EOF'
import platform
import numpy
print("python", platform.python_version(), "numpy", numpy.__version__)
for name in ("cupy", "torch", "pytest"):
    try:
        module = __import__(name)
        print(name, module.__version__)
    except ImportError as err:
        print(name, "missing:", err)
try:
    import torch
    print("cuda (torch)", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
except ImportError:
    pass
EOF
} > "$OUT/env.txt" 2>&1
note "env: $(grep -E '^(python|cupy|torch) ' "$OUT/env.txt" | tr '\n' ' ')"

failed=0
run_stage() {   # run_stage NAME SECONDS COMMAND...: one stage, its log, its line in the summary
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout -s INT -k 15 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        note "$name: passed in ${took}s"
    else
        [ $rc -eq 124 ] && rc="timeout after ${limit}s"
        note "$name: FAILED ($rc) in ${took}s; last lines of $name.log:"
        tail -n 5 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
        failed=1
    fi
}

for stage in $STAGES; do
    case $stage in
    tests)
        # the whole suite on the GPU; xdist (when installed) compiles kernels on 8 processes
        xdist=()
        "$PYTHON" -c "import xdist" > /dev/null 2>&1 && xdist=(-n 8)
        SYMCONV_FLAGS=device=cuda,floatX=float32 run_stage tests 240 \
            "$PYTHON" -m pytest -p no:cacheprovider -q -rfEs ${xdist[@]+"${xdist[@]}"} \
            --junitxml "$OUT/tests.xml" tests
        note "tests: $(grep -E '(passed|failed|error)' "$OUT/tests.log" | tail -n 1)"
        ;;
    lenet)
        data=${GPU_CHECK_MNIST:-}
        [ -z "$data" ] && [ -d .gpu_data/mnist-10k ] && data=.gpu_data/mnist-10k
        run_stage lenet_gpu 120 "$PYTHON" benchmarks/lenet_gpu_accuracy.py \
            ${data:+--data "$data"} --out "$OUT/lenet_gpu.json"
        note "lenet: $(grep -E '^(cpu|cuda|difference)' "$OUT/lenet_gpu.log" | tr '\n' ' ')"
        ;;
    bench)
        run_stage bench_gpu 150 "$PYTHON" benchmarks/bench_gpu.py --out "$OUT/bench_gpu.json"
        grep -E 'ratio' "$OUT/bench_gpu.log" | sed 's/^/    /' >> "$SUMMARY"
        ;;
    *)
        note "unknown stage '$stage' (stages: tests lenet bench)"
        failed=1
        ;;
    esac
done
note "done: $([ $failed -eq 0 ] && echo 'every stage passed' || echo 'some stage FAILED')"
exit $failed
