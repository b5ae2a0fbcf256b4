"""Figure 3: dvd→books, books→kitchen, kitchen→elec (N=2000, n=40, gamma_pre=2, gamma_ft=0.1).
Honest test accuracy vs alpha on splits shared by every alpha, theory curve from full-domain
plug-in statistics, alpha* marked (theory, empirical argmax, honest per-split plug-in).

Writes to figures/out/ (or --out): figure3_amazon.png, figure3_amazon.csv,
figure3_alpha_star.csv. PNG at 150 dpi; every CSV row carries the run's parameters and the
package version. A thin wrapper over the library, identical to `rescalora figure3`.

Usage: python figures/figure3.py [--quick] [--seeds K] [--batches B]
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
