#!/usr/bin/env bash
# GLUE study v2 on one GPU (issue 12, item 4): the paper-like preset (10 epochs, batch 64, adapter
# lr grid around 1e-4, alpha lr 5e-3), several processes sharing the device, for MiniLM and then
# for SmolLM2-135M (a LLaMA-class model; rows with `model = smollm2`). Results go to
# $OUT/glue_v2_gpu (MiniLM) and $OUT/glue_v2_gpu/smollm2 when OUT is set, else under
# figures/out/glue_v2_gpu. Runs are resumable (rerun the same command after an interruption).
#   bash scripts/gpu_study.sh [extra glue_study_v2.py options, e.g. --tasks sst2 mrpc]
#   SMOLLM2_TASKS="sst2 rte" JOBS=6 bash scripts/gpu_study.sh
# Not run yet: no GPU was lent to the sessions that wrote it (see the issue 12 notes).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
out="${OUT:-figures/out}/glue_v2_gpu"
runs="${RUNS:-runs/glue_v2_gpu}"
python figures/glue/glue_study_v2.py --preset gpu --device cuda --jobs "${JOBS:-6}" --threads 2 \
    --out "$out" --runs "$runs" --no-progress "$@"
# SmolLM2: the adapted tasks only (a 135M decoder costs ~4x MiniLM per step)
# shellcheck disable=SC2086
python figures/glue/glue_study_v2.py --preset gpu --device cuda --jobs "${JOBS:-6}" --threads 2 \
    --model smollm2 --tasks ${SMOLLM2_TASKS:-sst2 rte} --out "$out/smollm2" --runs "$runs" \
    --no-progress "$@"
