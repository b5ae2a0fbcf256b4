"""Table 1: the 12 ordered Amazon Review pairs (N=2000, n=20, p=400, gamma_pre=gamma_ft=1). Honest
protocol (docs/theory.md §6.3): one split per (seed, batch) shared by every method, alpha from
the training rows only (plug-in, LOO), honest accuracy, target-only / LoRA / source-only
baselines (LoRA-like at gamma_ft = 1 and with gamma_ft tuned by LOO / evidence), joint (alpha,
gamma_ft) choices, oracle upper bound, mean ± std over 30 splits, paired differences and the
joint-minus-gamma-only difference with a two-way (pairs x splits) bootstrap interval. Next to it,
the paper's original protocol reproduced exactly (§6.2). --split stratified|permutation sets the
split policy, written in every title and CSV.

Writes to figures/out/ (or --out): table1.png, table1.md, table1_honest.csv,
table1_honest_bootstrap.csv, table1_honest_splits.csv.gz, table1_paper_protocol.csv. PNG at 150
dpi; every CSV row carries
the run's parameters and the package version. A thin wrapper over the library, identical to
`rescalora table1`.

Usage: python figures/table1.py [--quick] [--seeds K] [--batches B]
                 [--n-jobs J] [--split stratified|permutation] [--no-progress] [--out DIR]
"""

import sys
from pathlib import Path

from linear.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).resolve().parent / "out")]
    sys.exit(main(["table1", *args]))
