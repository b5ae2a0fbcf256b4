#!/usr/bin/env bash
# Regenerate EVERY figure and table under figures/out/ from scratch (run from anywhere):
#   the linear/rmt outputs (rescalora all: minutes, Figure 3 with the anisotropic theory included),
#   the theory on frozen MiniLM features (figures/features_transfer.py: ~5 min, cached embeddings),
#   and the GLUE studies of deep (hours on a 2-core CPU; resumable, finished runs are reused):
#   glue_study.py (the first, 100-step study), glue_study_v2.py (the fair comparison on SST-2,
#   ~30 min with 2 jobs) and reach_curves.py (why MRPC / STS-B / RTE / CoLA are out of reach).
set -euo pipefail
cd "$(dirname "$0")/.."
rescalora all "$@"
python figures/features_transfer.py
python figures/glue/glue_study.py
python figures/glue/glue_study_v2.py --tasks sst2 --subsample 10000 --seeds 5 --jobs 2 --threads 1 \
    --out figures/out/glue_v2/sst2
python figures/glue/glue_study_v2.py --combine figures/out/glue_v2/sst2
python figures/glue/reach_curves.py
