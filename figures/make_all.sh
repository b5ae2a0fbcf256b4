#!/usr/bin/env bash
# Regenerate EVERY figure and table under figures/out/ from scratch (run from anywhere):
#   the linear/rmt outputs (rescalora all: minutes, Figure 3 with the anisotropic theory included),
#   the theory on frozen MiniLM features (figures/features_transfer.py: ~5 min, cached embeddings),
#   and the GLUE studies of deep (hours on a 2-core CPU; resumable, finished runs are reused):
#   glue_study.py (the first, 100-step study), glue_study_v2.py (the fair comparison on SST-2,
#   ~30 min with 2 jobs, and on STS-B with the head at its own lr, ~1 h) and reach_curves.py
#   (the pilots that decide which tasks are within reach).
set -euo pipefail
cd "$(dirname "$0")/.."
rescalora all "$@"
python figures/features_transfer.py
python figures/glue/glue_study.py
python figures/glue/glue_study_v2.py --tasks sst2 --subsample 10000 --seeds 5 --jobs 2 --threads 1 \
    --out figures/out/glue_v2/sst2
python figures/glue/glue_study_v2.py --tasks stsb --seeds 5 --steps 200 --dev-subsample 500 \
    --head-lr 5e-2 --jobs 2 --threads 1 --out figures/out/glue_v2/stsb
python figures/glue/glue_study_v2.py --combine figures/out/glue_v2/sst2 figures/out/glue_v2/stsb
python figures/glue/reach_curves.py
python figures/glue/reach_curves.py --tasks mrpc rte --steps 300 --head-lr 5e-2 --runs runs/reach_head_lr \
    --out figures/out/glue_v2/reach_head_lr
