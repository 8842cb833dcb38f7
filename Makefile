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
# Python's headers, for the optional C accelerator (libbpfpy._accel, built by setup.py)
APT_PACKAGES += python3-dev
# The exporter's end-to-end test scrapes it with a real Prometheus server: Debian's
# package, unpacked into build/prometheus (not installed: installing it would start
# a prometheus service on the machine).
PROMETHEUS := $(BUILD)/prometheus/usr/bin/prometheus
# -fms-extensions: a recent kernel's vmlinux.h embeds tagged structs as unnamed
# members (see VMLINUX_CFLAGS in src/libbpfpy/_compile.py).
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/') -Wall -Wno-unused-function \
	-fms-extensions -Wno-microsoft-anon-tag -idirafter /usr/include/$(shell gcc -dumpmachine)
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

setup: deps venv mounts bpf $(PROMETHEUS) libbpf-sid libbpf-inputs

$(PROMETHEUS):
	$(PYTHON) scripts/debian.py fetch bookworm prometheus $(BUILD)/prometheus >/dev/null

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

deps-run:
	$(call apt_ensure,$(RUNTIME_APT_PACKAGES),python,--no-install-recommends)

vm-deps:
	$(call apt_ensure,$(VM_PACKAGES),,--no-install-recommends)

# The runtime venv: the package alone (editable), no dependencies.
venv-run: $(VENV)/.installed-run

$(VENV)/.installed-run: pyproject.toml setup.py src/libbpfpy/_accel.c
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

# The development venv: the package with the test/lint tool chain.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py src/libbpfpy/_accel.c
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

# vmlinux.h describes the kernel it was generated on: a stamp named after the running
# kernel makes a build/ left by another kernel (an upgrade, a copied tree) regenerate
# it, and with it every object compiled against it.
KERNEL_ID := $(shell { uname -rv; cat /sys/kernel/notes; } 2>/dev/null | sha256sum | cut -c1-16)

$(BUILD)/.kernel-$(KERNEL_ID):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/.kernel-* && touch $@

$(BUILD)/vmlinux.h: $(BUILD)/.kernel-$(KERNEL_ID) | venv-run
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
# `make fuzz-ci` the bounded one for CI (10,000 cases and 200 Ctrl-Cs, ~1 min here).
FUZZ_CASES ?= 10000
FUZZ_SEED ?= 1
fuzz: setup
	nice $(PY) tests/fuzz/run.py --kind both --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

fuzz-ci: setup
	$(PY) tests/fuzz/run.py --kind both --cases 5000 --seed 7
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

# A fresh minimal Debian 12 (debootstrap, pivot_root'ed in a private mount namespace)
# with a clone of this repository, running the README's commands (see the script).
fresh-machine-check:
	python3 scripts/fresh-machine-check $(ARGS)

# -- the kernel matrix (scripts/vm.py, scripts/test_kernels.py) -------------------------
kernels: vm-deps
	$(PYTHON) scripts/vm.py prepare $(subst $(comma), ,$(KERNELS))

vm: setup vm-deps
	$(PYTHON) scripts/vm.py run $(KERNEL) -- "$$CMD"

# The kernel-dependent tests run again on the newest kernel with libbpf 1.7.
test-kernels: setup vm-deps
	LIBBPFPY_MATRIX_LIBBPF=$(abspath $(LIBBPF_SID_SO)) \
	$(PYTHON) scripts/test_kernels.py --kernels "$(KERNELS)" --full "$(FULL_KERNELS)"

comma := ,

clean:
	rm -rf $(BUILD) $(TOOL_OBJS)

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
