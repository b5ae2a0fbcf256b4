"""A Griffe extension for the API pages: Sphinx roles in docstrings become Markdown code.

The docstrings cite code as ``:func:`deep.train.train``` (readable in ``help()`` and editors);
mkdocstrings renders Markdown, where such a role would appear raw. This extension rewrites every
``:role:`target``` to ```target``` before rendering (``~pkg.mod.Name`` shows ``Name``, as in
Sphinx). ``tests/test_docs.py`` builds the site and fails if a raw role is left.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const|ref|term):`([^`]+)`")


def _show(match: re.Match[str]) -> str:
    target = match.group(1).strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def strip_roles(text: str) -> str:
    """``text`` with each Sphinx role replaced by inline code of its target."""
    return ROLE.sub(_show, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring Griffe loads."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
