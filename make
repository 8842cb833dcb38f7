#!/bin/sh
# ./make TARGET... -- make, after installing it where it is missing.
#
# A minimal Debian (debootstrap) has no make, so the README's commands are
# "./make run" and "./make test": on a machine with make this only hands over to
# it; without, it first installs make with apt-get (as root, or through sudo).
# Everything else -- python3, clang, libbpf ... -- the Makefile installs itself.
set -e
if ! command -v make >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
	echo "./make: make is not installed: installing it with apt-get" >&2
	$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 \
		install -y -qq --no-install-recommends make
fi
cd "$(dirname "$0")"
exec make "$@"
