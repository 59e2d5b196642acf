#!/usr/bin/env bash
# The GPU check: benchmarks/gpu_check.sh OUTDIR [--device cuda|cpu] [--small] [--budget S] [--steps ...]
# Runs every GPU figure in at most 8 minutes and writes them into OUTDIR (see benchmarks/gpu_check.py
# and benchmarks/README.md). Exit 2 with one "gpu_check: error:" line when CUDA is asked for and absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "gpu_check: error: usage: benchmarks/gpu_check.sh OUTDIR [--device cuda|cpu] [--small]" >&2
    exit 2
fi
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
