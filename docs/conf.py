"""Sphinx configuration for libbpfpy's documentation (``make docs``).

Sphinx with autodoc, because the docstrings are reStructuredText with Sphinx
roles (:class:`...`, :func:`...`) that autodoc renders and checks: ``-W`` turns a
broken reference or malformed docstring into a build failure.  Markdown pages
(DESIGN.md, tools.md) come in through MyST.  The command-line pages and the
examples page are generated here from the argument parsers and the examples'
docstrings, so they cannot drift from the code.
"""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))

import libbpfpy  # noqa: E402

project = "libbpfpy"
author = "The libbpfpy developers"
copyright = "The libbpfpy developers"
release = version = libbpfpy.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode",
              "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"libbpfpy {release}"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

GENERATED = DOCS / "_generated"


def _write(name: str, text: str) -> None:
    """Write a generated page only when it changed (keeps rebuilds incremental)."""
    GENERATED.mkdir(exist_ok=True)
    path = GENERATED / name
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _cli_pages() -> None:
    import argparse

    from libbpfpy.cli import build_parser
    from libbpfpy.tools._build import main as _tools_main  # noqa: F401
    from libbpfpy.tools.mmapsnoop import build_parser as mmapsnoop_parser

    os.environ["COLUMNS"] = "88"

    def helps(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
        out = [(prefix, parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out += helps(sub, f"{prefix} {name}")
        return out

    body = ["Command reference", "=================", "",
            "Generated from the commands' own argument parsers.", ""]
    for prog, text in helps(build_parser(), "libbpfpy") + [
            ("mmapsnoop", mmapsnoop_parser().format_help())]:
        body += [prog, "-" * len(prog), "", ".. code-block:: text", ""]
        body += ["   " + line if line else "" for line in text.splitlines()] + [""]
    _write("cli.rst", "\n".join(body) + "\n")


def _examples_page() -> None:
    body = ["Examples", "========", "",
            "Each example is a ``.bpf.c`` program with a ``.py`` that loads it, in",
            "``examples/`` (``make`` compiles them into ``build/examples/``; run as root;",
            "``tests/test_examples.py`` runs every one).  Their docstrings:", ""]
    for py in sorted((ROOT / "examples").glob("*.py")):
        if py.stem == "common":
            continue
        doc = ast.get_docstring(ast.parse(py.read_text())) or ""
        title = f"examples/{py.name}"
        body += [title, "-" * len(title), "", ".. code-block:: text", ""]
        body += ["   " + line if line else "" for line in doc.splitlines()] + [""]
    _write("examples.rst", "\n".join(body) + "\n")


_cli_pages()
_examples_page()
