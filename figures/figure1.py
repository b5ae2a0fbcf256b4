"""Figure 1 of the paper: honest test accuracy vs alpha for beta in {0.2, 0.5, 0.9}: theory line
(rmt), Monte-Carlo markers (mean ± std over seeds), alpha* marked. Setting p=1000, N=5000, n=40,
‖mu‖=‖mu_perp‖=0.8, gamma_pre=5, gamma_ft=0.1 (docs/theory.md §3).

Writes to figures/out/ (or --out): figure1_accuracy_vs_alpha.png, figure1_accuracy_vs_alpha.csv,
figure1_alpha_star.csv. PNG at 150 dpi; every CSV row carries the run's parameters and the
package version. A thin wrapper over the library, identical to `rescalora figure1`.

Usage: python figures/figure1.py [--quick] [--seeds K] [--batches B]
                 [--n-jobs J] [--no-progress] [--out DIR]
"""

import sys
from pathlib import Path

from linear.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).resolve().parent / "out")]
    sys.exit(main(["figure1", *args]))
