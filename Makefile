# libbpfpy — every target sets up what it needs first; each step is idempotent.
#   make run          set up what running needs, then run the main job (mmapsnoop;
#                     ARGS="..." passes options)
#   make test         set up everything (test tool chain too), then run the whole suite
#   make bench        set up, then run the benchmarks
#   make lint         ruff + mypy (strict on src/)
#   make docs         the API reference and guides (Sphinx, warnings as errors)
#   make wheel-check  build the wheel, install it in a fresh venv, run it with no clang
#   make vm KERNEL=bookworm|backports|sid CMD='...'
#                     run a command as root inside that Debian kernel (qemu; host files
#                     read-only at the same paths, a tmpfs overlay on top)
#   make test-kernels the test suite inside each kernel (KERNELS=..., FULL_KERNELS=...),
#                     with a summary table
# On a machine without make, ./make installs it first (then runs make).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
SUDO := $(shell [ $$(id -u) -eq 0 ] || echo sudo)
# What running from a checkout needs: Python with venv, libbpf, and clang with
# libbpf's headers to compile the tools' BPF objects once (an installed wheel has
# them compiled and needs only libbpf1).
RUNTIME_APT_PACKAGES := python3 python3-venv ca-certificates libbpf1 clang libbpf-dev
# Everything: the test, benchmark and example tool chain too.
APT_PACKAGES := clang llvm libbpf-dev libbpf1 gcc make iproute2 bpftool systemtap-sdt-dev
APT_PACKAGES += python3 python3-venv ca-certificates
# the exporter's end-to-end test scrapes it with a real Prometheus server (its
# recommends -- node-exporter, smartmontools ... -- are not needed: left out)
APT_LEAN_PACKAGES := prometheus
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/') -Wall -Wno-unused-function \
	-idirafter /usr/include/$(shell gcc -dumpmachine)
# libbpfpy's own BPF headers (<libbpfpy/ringbuf.h>), shipped in the package
BPF_CFLAGS += -Isrc/libbpfpy/include

TEST_SRCS := $(wildcard tests/bpf/*.bpf.c)
EXAMPLE_SRCS := $(wildcard examples/*.bpf.c)
TEST_OBJS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(TEST_SRCS))
EXAMPLE_OBJS := $(patsubst examples/%.bpf.c,$(BUILD)/examples/%.bpf.o,$(EXAMPLE_SRCS))
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(filter-out %.bpf.c,$(wildcard examples/*.c)))
TOOL_DIR := src/libbpfpy/tools
TOOL_OBJS := $(patsubst %.bpf.c,%.bpf.o,$(wildcard $(TOOL_DIR)/*.bpf.c))

# What the kernel matrix needs besides: qemu, a static busybox for the guests'
# initramfs, depmod, and dpkg-source for Debian source packages.
VM_PACKAGES := qemu-system-x86 busybox-static cpio kmod xz-utils dpkg-dev
KERNEL ?= bookworm
CMD ?= uname -a
KERNELS ?= bookworm,backports,sid
FULL_KERNELS ?= sid
export CMD KERNEL KERNELS FULL_KERNELS

.PHONY: setup setup-run deps deps-run vm-deps venv venv-run mounts bpf tools run test bench \
	lint docs wheel-check fresh-machine-check clean kernels vm test-kernels \
	fuzz fuzz-ci

setup: deps venv mounts bpf

# Running needs less: no test/lint tool chain, no test fixtures.
setup-run: deps-run venv-run mounts tools

# Install the Debian packages in $(1) that are missing (root; sudo otherwise); $(2) =
# python also checks for venv/ensurepip; $(3) are extra apt-get options.
define apt_ensure
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ "$(2)" = python ] && ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$([ $$(id -u) -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    -o DPkg::Lock::Timeout=300 $(3) $$missing; \
	fi
endef

# System packages: install only what is missing.
deps:
	$(call apt_ensure,$(APT_PACKAGES),python)
	$(call apt_ensure,$(APT_LEAN_PACKAGES),,--no-install-recommends)

deps-run:
	$(call apt_ensure,$(RUNTIME_APT_PACKAGES),python,--no-install-recommends)

vm-deps:
	$(call apt_ensure,$(VM_PACKAGES),,--no-install-recommends)

# The runtime venv: the package alone (editable), no dependencies.
venv-run: $(VENV)/.installed-run

$(VENV)/.installed-run: pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

# The development venv: the package with the test/lint tool chain.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,exporter]'
	@touch $@ $(VENV)/.installed-run

# tracefs and bpffs (needs root; harmless when already mounted).
mounts: venv-run
	@if [ $$(id -u) -eq 0 ]; then $(PY) -c 'from libbpfpy import fs; fs.ensure_mounts()'; \
	else echo "not root: skipping tracefs/bpffs mounts"; fi

bpf: $(BUILD)/vmlinux.h $(TEST_OBJS) $(EXAMPLE_OBJS) $(EXAMPLE_BINS) tools

# The tools' BPF objects, compiled into the package (as the wheel build does), so
# that the tools start without a compiler.
tools: $(TOOL_OBJS)

$(TOOL_OBJS) &: $(wildcard $(TOOL_DIR)/*.bpf.c $(TOOL_DIR)/*.h) $(BUILD)/vmlinux.h | venv-run
	$(PY) -m libbpfpy.tools --vmlinux $(BUILD)/vmlinux.h

$(BUILD)/vmlinux.h: | venv-run
	@mkdir -p $(BUILD)
	$(PY) -m libbpfpy vmlinux -o $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%.bpf.o: tests/bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard tests/bpf/*.h) $(EXAMPLE_SRCS) $(wildcard src/libbpfpy/include/libbpfpy/*.h)
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -Itests/bpf -c $< -o $@

$(BUILD)/examples/%.bpf.o: examples/%.bpf.c $(BUILD)/vmlinux.h $(wildcard examples/*.h) \
		$(wildcard src/libbpfpy/include/libbpfpy/*.h)
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -Iexamples -c $< -o $@

# Helper programs the examples trace (uprobe, usdt, profile).
$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	gcc -O1 -g -fno-omit-frame-pointer -o $@ $<

run: setup-run
	$(SUDO) $(PY) -m libbpfpy.tools.mmapsnoop $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The exporter's tests alone, the end-to-end one against a real Prometheus included.
.PHONY: test-exporter
test-exporter: setup
	$(PY) -m pytest tests/test_exporter_*.py $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py $(ARGS)

# Fuzzing (docs: tests/fuzz/run.py): mutations of every fixture object and of their BTF
# through open/inspect/load/BTF in forked workers; a crash, a hang (> 10 s) or an
# exception other than BPFError fails.  `make fuzz` is the long run (niced),
# `make fuzz-ci` the bounded one for CI (3,000 cases and 200 Ctrl-Cs, ~2 min here).
FUZZ_CASES ?= 10000
FUZZ_SEED ?= 1
fuzz: setup
	nice $(PY) tests/fuzz/run.py --kind both --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

fuzz-ci: setup
	$(PY) tests/fuzz/run.py --kind both --cases 1500 --seed 7
	$(PY) tests/fuzz/sigint.py --count 100
	$$([ $$(id -u) -eq 0 ] && echo $(PY) tests/fuzz/sigint.py --count 100 --load || true)

lint: venv
	$(VENV)/bin/ruff check src tests bench examples scripts setup.py
	$(VENV)/bin/mypy

# The documentation: Sphinx from the docs extra (not part of the runtime install).
$(VENV)/.installed-docs: pyproject.toml setup.py | venv-run
	$(PY) -m pip install -q -e '.[docs]'
	@touch $@

docs: $(VENV)/.installed-docs
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs $(BUILD)/docs/html
	@echo "documentation: $(BUILD)/docs/html/index.html"

# The wheel as a user gets it: built, installed in a fresh venv, run with no
# clang/llvm/bpftool on PATH.
wheel-check: deps-run mounts
	$(PYTHON) scripts/wheel-check

# A minimal Debian 12 (debootstrap) with a clone of this repository, running the
# README's commands (see the script for what it needs).
fresh-machine-check:
	python3 scripts/fresh-machine-check $(ARGS)

# -- the kernel matrix (scripts/vm.py, scripts/test_kernels.py) -------------------------
kernels: vm-deps
	$(PYTHON) scripts/vm.py prepare $(subst $(comma), ,$(KERNELS))

vm: setup vm-deps
	$(PYTHON) scripts/vm.py run $(KERNEL) -- "$$CMD"

test-kernels: setup vm-deps
	$(PYTHON) scripts/test_kernels.py --kernels "$(KERNELS)" --full "$(FULL_KERNELS)"

comma := ,

clean:
	rm -rf $(BUILD) $(TOOL_OBJS)
