#!/usr/bin/env bash
# The CUDA path on one GPU, in about 8 minutes of a fresh machine: `python -m bench perf gpu` (bench/perf_gpu.py)
# writes results/perf/gpu.json and prints one screen. Try it on a CPU first: scripts/gpu-check.sh --device cpu --quick
# Uses the python that holds torch (a GPU machine's own CUDA torch is kept: pyproject asks torch>=2.4,<2.14).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
exec "$PYTHON" -m bench perf gpu "$@"
