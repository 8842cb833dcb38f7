# libbpfpy — every target sets up what it needs first; each step is idempotent.
#   make run    set up, then run the main job (mmapsnoop; ARGS="..." passes options)
#   make test   set up, then run the whole test suite
#   make bench  set up, then run the benchmarks
#   make lint   ruff + mypy (strict on src/)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
APT_PACKAGES := clang llvm libbpf-dev libbpf1 gcc make iproute2 bpftool systemtap-sdt-dev
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/') -Wall -Wno-unused-function \
	-idirafter /usr/include/$(shell gcc -dumpmachine)

TEST_SRCS := $(wildcard tests/bpf/*.bpf.c)
EXAMPLE_SRCS := $(wildcard examples/*.bpf.c)
TEST_OBJS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(TEST_SRCS))
EXAMPLE_OBJS := $(patsubst examples/%.bpf.c,$(BUILD)/examples/%.bpf.o,$(EXAMPLE_SRCS))

.PHONY: setup deps venv mounts bpf tools run test bench lint clean

setup: deps venv mounts bpf libbpf-sid libbpf-inputs

# System packages: install only what is missing (root on Debian; sudo otherwise).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$([ $$(id -u) -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# tracefs and bpffs (needs root; harmless when already mounted).
mounts: venv
	@if [ $$(id -u) -eq 0 ]; then $(PY) -c 'from libbpfpy import fs; fs.ensure_mounts()'; \
	else echo "not root: skipping tracefs/bpffs mounts"; fi

bpf: $(BUILD)/vmlinux.h $(TEST_OBJS) $(EXAMPLE_OBJS) tools

# The tools' BPF objects, compiled into libbpfpy's cache (a no-op when cached).
tools: venv
	@$(PY) -m libbpfpy.tools.mmapsnoop --build >/dev/null

$(BUILD)/vmlinux.h: | venv
	@mkdir -p $(BUILD)
	$(PY) -m libbpfpy vmlinux -o $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%.bpf.o: tests/bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard tests/bpf/*.h) $(EXAMPLE_SRCS)
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -Itests/bpf -c $< -o $@

$(BUILD)/examples/%.bpf.o: examples/%.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -c $< -o $@

run: setup
	$$([ $$(id -u) -eq 0 ] || echo sudo) $(PY) -m libbpfpy.tools.mmapsnoop $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py $(ARGS)

lint: venv
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(BUILD)

# -- libbpf builds other than the system's (issues 10 and 11) ------------------------
#   make libbpf LIBBPF=sid        libbpf 1.7 built from Debian sid's source package
#   make libbpf LIBBPF=backports  bookworm-backports' libbpf1 (1.4.6) binary, unpacked
# Either lands in build/ next to the system's library and is selected with
# LIBBPFPY_LIBBPF=<path printed by the target>.  `make test-libbpf17` runs the suite
# with the sid build.
LIBBPF ?= sid
APT_PACKAGES += libelf-dev
APT_PACKAGES += zlib1g-dev
APT_PACKAGES += pkg-config
APT_PACKAGES += dpkg-dev
LIBBPF_SID := $(BUILD)/libbpf-sid
LIBBPF_SID_SO := $(LIBBPF_SID)/lib/libbpf.so.1
LIBBPF_BACKPORTS_SO := $(BUILD)/libbpf-backports/usr/lib/$(shell gcc -dumpmachine)/libbpf.so.1

.PHONY: libbpf libbpf-sid libbpf-backports libbpf-inputs test-libbpf17

libbpf: libbpf-$(LIBBPF)

# The source package is fetched through scripts/debian.py's private apt state and
# built with libbpf's own Makefile into build/libbpf-sid/{lib,include}; once built,
# nothing is fetched again (remove build/libbpf-sid* to rebuild).
libbpf-sid: $(LIBBPF_SID_SO)
	@echo "LIBBPFPY_LIBBPF=$(abspath $(LIBBPF_SID_SO))"

$(LIBBPF_SID_SO): | deps
	@$(PYTHON) scripts/debian.py source sid libbpf $(BUILD)/libbpf-sid-src >/dev/null
	@$(MAKE) --no-print-directory -s -C $(BUILD)/libbpf-sid-src/src/src \
	  OBJDIR=$(abspath $(LIBBPF_SID))/obj DESTDIR=$(abspath $(LIBBPF_SID)) \
	  PREFIX= LIBDIR=/lib INCLUDEDIR=/include install install_uapi_headers >/dev/null

# The library and, beside it (usr/include), its BPF-side headers from libbpf-dev.
libbpf-backports: deps
	@$(PYTHON) scripts/debian.py fetch bookworm-backports libbpf1 $(BUILD)/libbpf-backports >/dev/null
	@$(PYTHON) scripts/debian.py fetch bookworm-backports libbpf-dev $(BUILD)/libbpf-backports-dev >/dev/null
	@ln -sfn $(abspath $(BUILD))/libbpf-backports-dev/usr/include $(BUILD)/libbpf-backports/usr/include
	@echo "LIBBPFPY_LIBBPF=$(abspath $(LIBBPF_BACKPORTS_SO))"

# What the tests compare the raw layer with: libbpf 1.7 built (above) and the
# Debian packages scripts/gen_raw.py generated the table from.
LIBBPF_INPUTS := $(BUILD)/libbpf-inputs/inputs.json
libbpf-inputs: $(LIBBPF_INPUTS)

$(LIBBPF_INPUTS): scripts/gen_raw.py scripts/debian.py | deps
	@$(PYTHON) scripts/gen_raw.py --fetch-only >/dev/null

test-libbpf17: setup
	LIBBPFPY_LIBBPF=$(abspath $(LIBBPF_SID_SO)) $(PY) -m pytest $(PYTEST_ARGS)
