"""The GLUE study of `deep` (issues 6 and 7): regenerates figures/out/glue/*.

Three resumable studies (each run lives in runs/<study>/<task>/<method>/seed<k>/ and is reused
when its summary.json exists; an interrupted run resumes from its last checkpoint):

1. glue_study          MiniLM, RTE / MRPC / SST-2, LoRA (PEFT init), LoRA (Gaussian A init, as
                       alpha-LoRA), alpha-LoRA, DoRA (reference); seeds 0-2; 100 steps of
                       batch 16.
2. glue_study_issue7   MiniLM, RTE / MRPC, LoRA vs LoFT (ranks 1, 4, 8), AdaLoRA, LoRA², ALoRA;
                       same seeds, steps and batch.
3. glue_study_smollm2  SmolLM2-135M as a sequence classifier, SST-2 (train subsampled to 2000
                       rows, dev to 300), LoRA (Gaussian A init) vs alpha-LoRA; seed 0; 60 steps
                       of batch 8, max length 64.

On the 2-core CPU this takes several hours from scratch (each MiniLM run 1-6 min).

Usage: python figures/glue/glue_study.py [--only NAME ...] [--runs DIR] [--out DIR]
"""

import argparse
import sys
from pathlib import Path

from deep.study import main as study

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--threads", "1", "--no-progress"]
STUDIES = {
    "glue_study": ["--model", "minilm", "--tasks", "sst2", "mrpc", "rte", "--methods", "lora",
                   "lora_gauss", "alpha_lora", "dora", "--seeds", "0", "1", "2", "--steps", "100"],
    "glue_study_issue7": ["--model", "minilm", "--tasks", "mrpc", "rte", "--methods", "lora",
                          "loft_r1", "loft_r4", "loft_r8", "adalora", "lora2", "alora",
                          "--seeds", "0", "1", "2", "--steps", "100"],
    "glue_study_smollm2": ["--model", "smollm2", "--tasks", "sst2", "--methods", "lora_gauss",
                           "alpha_lora", "--seeds", "0", "--steps", "60", "--batch-size", "8",
                           "--subsample", "2000", "--dev-subsample", "300", "--max-length", "64"],
}
RUNS = {"glue_study": "glue_study", "glue_study_issue7": "glue_study",
        "glue_study_smollm2": "glue_study_smollm2"}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", choices=list(STUDIES), default=list(STUDIES))
    p.add_argument("--runs", default=str(ROOT / "runs"))
    p.add_argument("--out", default=str(ROOT / "figures" / "out" / "glue"))
    a = p.parse_args()
    for name in a.only:
        rc = study([*STUDIES[name], *COMMON, "--name", name, "--out", a.out,
                    "--runs", str(Path(a.runs) / RUNS[name])])
        if rc:
            sys.exit(rc)
