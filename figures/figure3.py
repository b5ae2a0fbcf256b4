"""Figure 3: dvd→books, books→kitchen, kitchen→elec (N=2000, n=40, gamma_pre=2, gamma_ft=0.1),
and the theory-vs-empirical table over all 12 Amazon pairs, with the isotropic and the
anisotropic theory: the ``rescalora figure3`` job (:mod:`linear.figure3` says what each column
means).

Writes to figures/out/ (or --out): figure3_amazon.png, figure3_amazon.csv,
figure3_alpha_star.csv and figure3/figure3_theory_gap.md.

Usage: python figures/figure3.py [--quick] [--batches B] [--split stratified|permutation]
                 [--n-jobs J] [--no-progress] [--out DIR]
"""

import sys
from pathlib import Path

from linear.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).resolve().parent / "out")]
    sys.exit(main(["figure3", *args]))
