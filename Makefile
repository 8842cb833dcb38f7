# libbpfpy — every target sets up what it needs first; each step is idempotent.
#   make run    set up, then run the main job (mmapsnoop; ARGS="..." passes options)
#   make test   set up, then run the whole test suite
#   make bench  set up, then run the benchmarks
#   make lint   ruff + mypy (strict on src/)
#   make vm KERNEL=bookworm|backports|sid CMD='...'
#               run a command as root inside that Debian kernel (qemu; host files
#               read-only at the same paths, a tmpfs overlay on top)
#   make test-kernels
#               the test suite inside each kernel (KERNELS=..., FULL_KERNELS=...),
#               with a summary table

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
APT_PACKAGES := clang llvm libbpf-dev libbpf1 gcc make iproute2 bpftool systemtap-sdt-dev
# the exporter's end-to-end test scrapes it with a real Prometheus server
APT_PACKAGES += prometheus
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/') -Wall -Wno-unused-function \
	-idirafter /usr/include/$(shell gcc -dumpmachine)

TEST_SRCS := $(wildcard tests/bpf/*.bpf.c)
EXAMPLE_SRCS := $(wildcard examples/*.bpf.c)
TEST_OBJS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/%.bpf.o,$(TEST_SRCS))
EXAMPLE_OBJS := $(patsubst examples/%.bpf.c,$(BUILD)/examples/%.bpf.o,$(EXAMPLE_SRCS))

# What the kernel matrix needs besides: qemu, a static busybox for the guests'
# initramfs, depmod, and dpkg-source for Debian source packages.
VM_PACKAGES := qemu-system-x86 busybox-static cpio kmod xz-utils dpkg-dev
KERNEL ?= bookworm
CMD ?= uname -a
KERNELS ?= bookworm,backports,sid
FULL_KERNELS ?= sid
export CMD KERNEL KERNELS FULL_KERNELS

.PHONY: setup deps vm-deps venv mounts bpf tools run test bench lint clean kernels vm test-kernels

setup: deps venv mounts bpf

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

vm-deps:
	$(call apt_ensure,$(VM_PACKAGES),,--no-install-recommends)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,exporter]'
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

# The exporter's tests alone, the end-to-end one against a real Prometheus included.
.PHONY: test-exporter
test-exporter: setup
	$(PY) -m pytest tests/test_exporter_*.py $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py $(ARGS)

lint: venv
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy

# -- the kernel matrix (scripts/vm.py, scripts/test_kernels.py) -------------------------
kernels: vm-deps
	$(PYTHON) scripts/vm.py prepare $(subst $(comma), ,$(KERNELS))

vm: setup vm-deps
	$(PYTHON) scripts/vm.py run $(KERNEL) -- "$$CMD"

test-kernels: setup vm-deps
	$(PYTHON) scripts/test_kernels.py --kernels "$(KERNELS)" --full "$(FULL_KERNELS)"

comma := ,

clean:
	rm -rf $(BUILD)
