"""Study beyond the paper: which honest choice of alpha (or of alpha and gamma_ft jointly) works
best on the 12 Amazon pairs at n in {20, 40, 100, 400}: plug-in, LOO, 5-fold, joint LOO, joint
5-fold, joint LOO-margin, joint evidence, AlphaRidgeCV's default; paired against LoRA (alpha=1) at
gamma_ft = 1, against LoRA-like with gamma_ft tuned by the SAME criterion (what alpha adds, with a
two-way pairs x splits bootstrap interval) and the source-only classifier, on shared splits.
--split stratified|permutation sets the split policy, written in every title and CSV.

Writes to figures/out/ (or --out): study_alpha_estimators.png, study_alpha_estimators.csv,
study_alpha_estimators.md, study_alpha_estimators_bootstrap.csv,
study_alpha_estimators_splits.csv.gz. PNG at 150 dpi; every CSV row
carries the run's parameters and the package version. A thin wrapper over the library, identical
to `rescalora study`.

Usage: python figures/study_alpha_estimators.py [--quick] [--seeds K] [--batches B]
                 [--n-jobs J] [--split stratified|permutation] [--no-progress] [--out DIR]
"""

import sys
from pathlib import Path

from linear.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).resolve().parent / "out")]
    sys.exit(main(["study", *args]))
