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
# libbpfpy's own BPF headers (<libbpfpy/ringbuf.h>), shipped in the package
BPF_CFLAGS += -Isrc/libbpfpy/include

TEST_SRCS := $(wildcard tests/bpf/*.bpf.c)
EXAMPLE_SRCS := $(wildcard examples/*.bpf.c)
TEST_OBJS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(TEST_SRCS))
EXAMPLE_OBJS := $(patsubst examples/%.bpf.c,$(BUILD)/examples/%.bpf.o,$(EXAMPLE_SRCS))

.PHONY: setup deps venv mounts bpf tools run test bench lint clean fuzz fuzz-ci

setup: deps venv mounts bpf

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

$(BUILD)/tests/%.bpf.o: tests/bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard tests/bpf/*.h) $(EXAMPLE_SRCS) $(wildcard src/libbpfpy/include/libbpfpy/*.h)
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -Itests/bpf -c $< -o $@

$(BUILD)/examples/%.bpf.o: examples/%.bpf.c $(BUILD)/vmlinux.h $(wildcard src/libbpfpy/include/libbpfpy/*.h)
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -I$(BUILD) -c $< -o $@

run: setup
	$$([ $$(id -u) -eq 0 ] || echo sudo) $(PY) -m libbpfpy.tools.mmapsnoop $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

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
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(BUILD)
