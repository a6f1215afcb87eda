#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run, for a machine that has CuPy,
# Numba, scikit-learn and the test extras installed (mlearn itself is taken
# from this checkout):
#   1. the gpu-marked tests;
#   2. the GPU benchmark (benchmarks/bench_pairwise_gpu.py);
#   3. with --full, the default test run as well.
# Usage, from the repository root:  bash benchmarks/run_gpu.sh OUT_DIR [--full]
# Logs and the benchmark's results are written to OUT_DIR.
set -u
out=${1:?usage: bash benchmarks/run_gpu.sh OUT_DIR [--full]}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 - <<'PY' 2>&1 | tee "$out/gpu_env.log"
import cupy, numba, numpy, scipy, sklearn
print("cupy", cupy.__version__, "numba", numba.__version__, "numpy", numpy.__version__,
      "scipy", scipy.__version__, "scikit-learn", sklearn.__version__)
print(cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
      "available:", cupy.is_available())
PY
status=0
python3 -m pytest -m gpu -q -p no:cacheprovider --continue-on-collection-errors \
    tests 2>&1 | tee "$out/gpu_tests.log"
status=$((status | ${PIPESTATUS[0]}))
python3 benchmarks/bench_pairwise_gpu.py --out "$out" 2>&1 | tee "$out/gpu_bench.log"
status=$((status | ${PIPESTATUS[0]}))
if [ "${2:-}" = "--full" ]; then
    python3 -m pytest -q -p no:cacheprovider --continue-on-collection-errors \
        2>&1 | tee "$out/full_tests.log"
    status=$((status | ${PIPESTATUS[0]}))
fi
exit $status
