#!/usr/bin/env bash
# GLUE study v2 on one GPU (issue 12, item 4): the paper-like preset (10 epochs, batch 64, adapter
# lr grid around 1e-4, alpha lr 5e-3), several processes sharing the device. Results go to
# $OUT/glue_v2_gpu when OUT is set, else figures/out/glue_v2_gpu. Runs are resumable.
#   bash scripts/gpu_study.sh [extra glue_study_v2.py options, e.g. --tasks sst2 mrpc]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
out="${OUT:-figures/out}/glue_v2_gpu"
python figures/glue/glue_study_v2.py --preset gpu --device cuda --jobs "${JOBS:-6}" --threads 2 \
    --out "$out" --runs "${RUNS:-runs/glue_v2_gpu}" --no-progress "$@"
