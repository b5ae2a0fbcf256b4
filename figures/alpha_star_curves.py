"""alpha* as a function of beta, n and gamma_ft (Figure-1 setting): theory lines with the corrected
‖w̃‖² (and the reference code's term, dashed), Monte-Carlo markers (grid argmax of the seed-mean
accuracy ± bootstrap std, and alpha* of the seed-averaged moments).

Writes to figures/out/ (or --out): alpha_star_curves.png, alpha_star_curves.csv. PNG at 150 dpi;
every CSV row carries the run's parameters and the package version. A thin wrapper over the
library, identical to `rescalora alpha-star`.

Usage: python figures/alpha_star_curves.py [--quick] [--seeds K] [--batches B]
                 [--n-jobs J] [--no-progress] [--out DIR]
"""

import sys
from pathlib import Path

from linear.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).resolve().parent / "out")]
    sys.exit(main(["alpha-star", *args]))
