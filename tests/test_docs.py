"""The documentation site: the specification copies, the tutorial path, no raw Sphinx roles."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "docs"
COPIES = ("theory", "adapters", "models", "architecture")
RAW_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):")


def _load_roles():
    spec = importlib.util.spec_from_file_location("griffe_sphinx_roles",
                                                  ROOT / "scripts" / "griffe_sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", COPIES)
def test_specification_copy_is_identical(name):
    if not (SHARED / f"{name}.md").exists():
        pytest.skip(f"{SHARED} is not beside the project")
    copy = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
    header, _, body = copy.partition("\n\n")
    assert header.startswith("<!-- Copied from the project specification")
    assert body == (SHARED / f"{name}.md").read_text(encoding="utf-8")


def test_every_docs_reference_in_the_code_resolves():
    cited = set()
    for pkg in ("rmt", "linear", "deep"):
        for path in (ROOT / pkg).rglob("*.py"):
            cited |= set(re.findall(r"docs/([\w/]+\.md)", path.read_text(encoding="utf-8")))
    assert {"theory.md", "adapters.md"} <= cited
    missing = sorted(c for c in cited if not (ROOT / "docs" / c).is_file())
    assert not missing, missing


def test_strip_roles():
    roles = _load_roles()
    text = "See :func:`deep.train.train`, :class:`~deep.config.TrainConfig` and :py:meth:`x.y`."
    assert roles.strip_roles(text) == "See `deep.train.train`, `TrainConfig` and `x.y`."
    assert roles.strip_roles("``code`` and :math:`x`") == "``code`` and :math:`x`"


@pytest.mark.skipif(shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is in the dev extra")
def test_site_builds_strict_with_the_tutorial_and_no_raw_roles(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(site)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("tutorial", "trainer_peft", "theory", "adapters", "models",
                 "notebooks/01_theory_curves", "notebooks/04_deep_alpha_lora",
                 "notebooks/05_theory_on_real_features"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "deep" / "index.html").read_text(encoding="utf-8")
    assert "deep.train.train" in api  # a role's target survives as code
    raw = {str(p.relative_to(site)): RAW_ROLE.findall(p.read_text(encoding="utf-8"))
           for p in site.rglob("*.html")}
    raw = {k: v for k, v in raw.items() if v}
    assert not raw, raw
