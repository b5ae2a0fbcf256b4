#!/usr/bin/env bash
# Regenerate EVERY figure and table under figures/out/ from scratch (run from anywhere):
#   the linear/rmt outputs (rescalora all: minutes) and the GLUE study of deep
#   (figures/glue/glue_study.py: hours on a 2-core CPU; resumable, reuses finished runs).
set -euo pipefail
cd "$(dirname "$0")/.."
rescalora all "$@"
python figures/glue/glue_study.py
