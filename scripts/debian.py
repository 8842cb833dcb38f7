#!/usr/bin/env python3
"""Fetch Debian packages through the project's own apt configuration.

The kernel matrix and the libbpf builds need packages from suites the machine does
not use (bookworm-backports, sid).  Adding those suites to the machine's sources
would change what every later ``apt-get install`` picks, so this script keeps a
private apt state under ``build/debian/`` (sources, lists, archive cache) and only
ever *downloads* with it: ``apt-get download`` and ``apt-get source
--download-only``, unpacked with ``dpkg-deb -x`` / ``dpkg-source -x`` into folders
of the project.  Nothing is installed into the machine.

    debian.py resolve SUITE PACKAGE        the concrete package a metapackage names
    debian.py fetch SUITE PACKAGE DEST     download PACKAGE from SUITE, unpack into DEST
    debian.py source SUITE PACKAGE DEST    download and unpack its source package

SUITE is a Debian suite name (bookworm, bookworm-backports, trixie, sid).  Each step
is idempotent: a DEST holding a ``.complete`` stamp for the same version is reused.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("LIBBPFPY_APT_STATE", ROOT / "build" / "debian"))
MIRROR = os.environ.get("LIBBPFPY_DEBIAN_MIRROR", "http://deb.debian.org/debian")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITES = ("bookworm", "bookworm-backports", "trixie", "sid")
# Lists older than this are refreshed (the suites move; a stale list names .debs
# the mirror no longer has).
LIST_MAX_AGE = 6 * 3600


def _apt_options() -> list[str]:
    return [
        "-o", f"Dir::Etc::sourcelist={STATE / 'sources.list'}",
        "-o", "Dir::Etc::sourceparts=-",
        "-o", f"Dir::State::Lists={STATE / 'lists'}",
        "-o", f"Dir::Cache={STATE / 'cache'}",
        "-o", "APT::Get::List-Cleanup=0",
        "-o", "Debug::NoLocking=1",  # private state: no lock on the machine's apt
        "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Languages=none",
    ]


def _sources() -> str:
    lines = []
    for suite in SUITES:
        lines.append(f"deb [signed-by={KEYRING}] {MIRROR} {suite} main")
        lines.append(f"deb-src [signed-by={KEYRING}] {MIRROR} {suite} main")
    return "\n".join(lines) + "\n"


def update(force: bool = False) -> None:
    """Create the private apt state and refresh its lists when missing or stale."""
    for sub in ("lists/partial", "cache/archives/partial"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    sources = STATE / "sources.list"
    wanted = _sources()
    changed = not sources.exists() or sources.read_text() != wanted
    if changed:
        tmp = sources.with_suffix(".tmp")
        tmp.write_text(wanted)
        os.replace(tmp, sources)
    stamp = STATE / "lists" / ".updated"
    fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < LIST_MAX_AGE
    if fresh and not changed and not force:
        return
    _run(["apt-get", *_apt_options(), "-qq", "update"])
    stamp.touch()


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"debian.py: {' '.join(cmd[:2])} ... failed ({result.returncode})")
    return result


def _candidate(suite: str, package: str) -> str:
    """The version of ``package`` that ``suite`` serves."""
    out = _run(["apt-cache", *_apt_options(), "madison", package]).stdout
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] == package and f" {suite}/" in f" {parts[2]}" \
                and parts[2].endswith("Packages"):
            return parts[1]
    raise SystemExit(f"debian.py: {suite} has no binary package {package}")


def resolve(suite: str, package: str) -> str:
    """The ``linux-image-<release>`` package a metapackage such as
    ``linux-image-amd64`` depends on in ``suite``."""
    update()
    version = _candidate(suite, package)
    out = _run(["apt-cache", *_apt_options(), "show", f"{package}={version}"]).stdout
    for line in out.splitlines():
        if line.startswith("Depends:"):
            for dep in line[len("Depends:"):].split(","):
                name = dep.strip().split()[0]
                if name.startswith(package.rsplit("-", 1)[0]) and name != package:
                    return name
    raise SystemExit(f"debian.py: {package} in {suite} names no concrete package")


def depends(suite: str, package: str) -> list[str]:
    """The package names ``package`` (as ``suite`` serves it) depends on, first
    alternative of each."""
    update()
    version = _candidate(suite, package)
    out = _run(["apt-cache", *_apt_options(), "show", f"{package}={version}"]).stdout
    for line in out.splitlines():
        if line.startswith("Depends:"):
            return [dep.strip().split()[0] for dep in line[len("Depends:"):].split(",")]
    return []


def fetch(suite: str, package: str, dest: Path) -> Path:
    """Download ``package`` as ``suite`` serves it and unpack it into ``dest``."""
    update()
    version = _candidate(suite, package)
    stamp = dest / ".complete"
    if stamp.exists() and stamp.read_text().strip() == f"{package} {version}":
        return dest
    archives = STATE / "cache" / "archives"
    _run(["apt-get", *_apt_options(), "-qq", "download", f"{package}={version}"],
         cwd=archives)
    # apt-get download names the file after the exact version (epoch ':' as %3a);
    # the cache may hold other suites' versions of the same package.
    pattern = f"{package}_{version.replace(':', '%3a')}_*.deb"
    debs = sorted(archives.glob(pattern))
    if not debs:
        raise SystemExit(f"debian.py: apt-get download left no {pattern}")
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)])
    (tmp / ".complete").write_text(f"{package} {version}\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def source(suite: str, package: str, dest: Path) -> Path:
    """Download the source package of ``package`` from ``suite`` and unpack it in
    ``dest`` (the tree is ``dest/src``)."""
    update()
    stamp = dest / ".complete"
    if stamp.exists() and stamp.read_text().split()[:2] == [package, suite]:
        return dest
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(["apt-get", *_apt_options(), "-qq", "source", "--download-only",
          f"{package}/{suite}"], cwd=tmp)
    dscs = list(tmp.glob("*.dsc"))
    if len(dscs) != 1:
        raise SystemExit(f"debian.py: expected one .dsc for {package}, got {dscs}")
    # --no-check: the .dsc was fetched through the signed Sources index, whose
    # checksums apt verified; dpkg-source would want the uploader's key besides.
    _run(["dpkg-source", "--no-check", "-x", dscs[0].name, "src"], cwd=tmp)
    (tmp / ".complete").write_text(f"{package} {suite} {dscs[0].name}\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("resolve", "fetch", "source"):
        p = sub.add_parser(name)
        p.add_argument("suite", choices=SUITES)
        p.add_argument("package")
        if name != "resolve":
            p.add_argument("dest", type=Path)
    sub.add_parser("update")
    args = parser.parse_args(argv)
    if args.cmd == "update":
        update(force=True)
    elif args.cmd == "resolve":
        print(resolve(args.suite, args.package))
    elif args.cmd == "fetch":
        print(fetch(args.suite, args.package, args.dest))
    else:
        print(source(args.suite, args.package, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
