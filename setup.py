"""Build hooks: compile the tools' BPF programs into the package.

Metadata lives in pyproject.toml; this file only adds what setuptools cannot say
declaratively:

* ``build_py`` compiles every shipped BPF program (``libbpfpy.tools.TOOLS``) with
  clang against a ``vmlinux.h`` generated at build time from this machine's
  kernel BTF, and puts each ``<tool>.bpf.o`` beside its source in the built
  package.  CO-RE relocates the objects to whatever kernel runs them, so installed
  tools never need a compiler.  Without clang (or kernel BTF, or libbpf) the build
  goes on and says which objects it leaves out and what that means.
* the wheel is tagged for this machine's architecture (``py3-none-<platform>``):
  BPF objects are built for one target architecture, but hold no host code that
  would tie them to a Python version or ABI -- unless the accelerator below is
  built in, which makes it a CPython wheel (``cp311-cp311-<platform>``).
* ``libbpfpy._accel``, the optional C accelerator (ring buffer walks of records of
  varying sizes, BTF listings; see src/libbpfpy/_accel.c), is built where a C
  compiler and Python's headers are present, and left out otherwise: every use of
  it has a pure-Python path.
"""
from __future__ import annotations

import os
import shutil
import sys

from setuptools import Distribution, Extension, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 carries bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - older setuptools with the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))


class build_py_with_bpf(build_py):
    """build_py, then compile the tools' BPF objects into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            self._note("editable install: 'make setup' (or 'python -m libbpfpy.tools') "
                       "compiles the tools' BPF objects in the source tree")
            return
        self._compile_tools(os.path.join(self.build_lib, "libbpfpy", "tools"))

    def _note(self, message: str) -> None:
        print(f"libbpfpy build: {message}", file=sys.stderr, flush=True)

    def _compile_tools(self, dest: str) -> None:
        sys.path.insert(0, os.path.join(HERE, "src"))
        try:
            from libbpfpy.errors import CompileError, LoadError
            from libbpfpy.tools import TOOLS
            from libbpfpy.tools._build import build
        finally:
            sys.path.pop(0)
        skipped = ", ".join(f"{t}.bpf.o" for t in TOOLS)
        consequence = (f"the package will not contain {skipped}: its tools will refuse to "
                       "start until 'python -m libbpfpy.tools' is run where clang is")
        clang = os.environ.get("LIBBPFPY_CLANG") or shutil.which("clang")
        if not clang:
            self._note(f"clang not found: skipping the BPF objects; {consequence}")
            return
        if not os.path.exists("/sys/kernel/btf/vmlinux"):
            self._note("no /sys/kernel/btf/vmlinux to generate vmlinux.h from: skipping "
                       f"the BPF objects; {consequence}")
            return
        build_temp = self.get_finalized_command("build").build_temp
        cache = os.path.abspath(os.path.join(build_temp, "libbpfpy-compile-cache"))
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        for tool in TOOLS:
            try:
                path = build(tool, dest, cache_path=cache)
            except LoadError as exc:
                self._note(f"cannot load libbpf to generate vmlinux.h ({exc}): skipping "
                           f"the BPF objects; {consequence}")
                return
            except CompileError as exc:
                sys.stderr.write(exc.diagnostics)
                raise SystemExit(f"libbpfpy build: {exc.message}") from None
            self._note(f"compiled {os.path.relpath(path, self.build_lib)}")


class ArchDistribution(Distribution):
    """A distribution with architecture-specific files (the BPF objects), so that
    it installs to platlib and its wheel carries a platform tag."""

    def has_ext_modules(self) -> bool:
        return True


class bdist_wheel_for_arch(bdist_wheel):
    """Tag the wheel for this architecture, any Python 3 (see the module docstring),
    unless real extension modules make it Python-specific."""

    def get_tag(self) -> tuple[str, str, str]:
        python, abi, plat = super().get_tag()
        if not self.distribution.ext_modules:
            python, abi = "py3", "none"
        return python, abi, plat


setup(distclass=ArchDistribution,
      cmdclass={"build_py": build_py_with_bpf, "bdist_wheel": bdist_wheel_for_arch},
      ext_modules=[Extension("libbpfpy._accel", ["src/libbpfpy/_accel.c"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
