"""Build hook: the optional C accelerator of the ring buffer reader.

Everything else is declared in pyproject.toml.  The extension is optional: where it
cannot be compiled (no C compiler or Python headers) the package installs without
it and uses its pure-Python code (see src/libbpfpy/_accel.c).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("libbpfpy._accel", ["src/libbpfpy/_accel.c"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
