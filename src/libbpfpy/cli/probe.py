"""``libbpfpy probe``: what this kernel and libbpf support -- the table to check first.

The system (kernel, libbpf, privileges, BTF, tracefs, bpffs, JIT), then every
program type, map type, attach kind (tcx, netkit, netfilter, uprobe_multi ... with
libbpf >= 1.3) and iterator target with yes/no and the reason the probe found, newer
BPF features (token delegation, program streams, exclusive maps, struct_ops
association),
and for each supported program type the helpers its programs may call
(``--helpers TYPE`` lists them).  Probes load tiny programs and create tiny maps,
so without BPF privileges they answer "no" and say why.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from ._output import add_json_option, emit, quiet_libbpf, table


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _feature(f: Any) -> dict[str, Any]:
    return {"supported": bool(f), "reason": f.reason}


def helper_names() -> list[str]:
    """Every helper this libbpf knows, by name (``bpf_map_lookup_elem``)."""
    from .._raw import ENUMS
    return [k.replace("BPF_FUNC_", "bpf_", 1) for k in ENUMS["bpf_func_id"]
            if k.startswith("BPF_FUNC_") and k != "BPF_FUNC_unspec"]


def collect() -> dict[str, Any]:
    """Run the probes; the data ``probe`` prints."""
    from .. import probe
    from .._raw import library_file, version
    from ..enums import MapType, ProgType

    btf = "/sys/kernel/btf/vmlinux"
    jit = _read("/proc/sys/net/core/bpf_jit_enable")
    unpriv = _read("/proc/sys/kernel/unprivileged_bpf_disabled")
    system = {
        "kernel": os.uname().release,
        "libbpf": version,
        "libbpf_path": library_file(),
        "privileges": _feature(probe.privileges()),
        "btf": {"supported": os.path.exists(btf),
                "reason": f"{btf} {'exists' if os.path.exists(btf) else 'missing'}"},
        "tracefs": _feature(probe.tracefs()),
        "bpffs": _feature(probe.bpffs()),
        "jit": {"supported": jit not in (None, "0"),
                "reason": f"net.core.bpf_jit_enable = {jit}" if jit is not None
                else "no /proc/sys/net/core/bpf_jit_enable"},
        "unprivileged_bpf": {"supported": unpriv == "0",
                             "reason": f"kernel.unprivileged_bpf_disabled = {unpriv}"
                             if unpriv is not None else "unknown"},
    }
    helpers = helper_names()
    prog_types = []
    helper_table: dict[str, list[str]] = {}
    for t in ProgType:
        if t == ProgType.UNSPEC:
            continue
        f = probe.prog_type(t)
        prog_types.append({"type": t.libbpf_name, **_feature(f)})
        if f:
            answers = [(h, probe.helper(t, h)) for h in helpers]
            # libbpf cannot probe helpers of some types (tracing, struct_ops ...):
            # leave those out rather than claim they may call nothing.
            if not all(a.reason.startswith("probe failed") for _, a in answers):
                helper_table[t.libbpf_name] = [h for h, a in answers if a]
    map_types = [{"type": t.libbpf_name, **_feature(probe.map_type(t))}
                 for t in MapType if t != MapType.UNSPEC]
    attach = [{"kind": f.name, **_feature(f)} for f in probe.attach_kinds()]
    features = [{"feature": f.name, **_feature(f)} for f in probe.bpf_features()]
    # Kernels refuse some iterator targets and allow others: each is probed.
    iterators = [{"target": t, **_feature(probe.iterator(t))}
                 for t in probe.iterator_targets()]
    return {"system": system, "program_types": prog_types, "map_types": map_types,
            "attach_kinds": attach, "features": features, "iterator_targets": iterators,
            "helpers": helper_table}


def _yes(x: dict[str, Any]) -> str:
    return "yes" if x["supported"] else "no"


def render(d: dict[str, Any]) -> str:
    """The plain-text report of :func:`collect`'s data."""
    s = d["system"]
    out = ["system\n", table(["ITEM", "VALUE", "DETAIL"], [
        ["kernel", s["kernel"], ""], ["libbpf", s["libbpf"], s.get("libbpf_path", "")],
        *[[k, _yes(s[k]), s[k]["reason"]] for k in (
            "privileges", "btf", "tracefs", "bpffs", "jit", "unprivileged_bpf")]],
        indent="  ")]
    helpers = d["helpers"]
    out.append("\nprogram types\n")
    out.append(table(["TYPE", "SUPPORTED", "HELPERS", "REASON"],
                     [[p["type"], _yes(p), len(helpers[p["type"]]) if p["type"] in helpers
                       else "?" if p["supported"] else "", p["reason"]]
                      for p in d["program_types"]], indent="  "))
    out.append("\nmap types\n")
    out.append(table(["TYPE", "SUPPORTED", "REASON"],
                     [[m["type"], _yes(m), m["reason"]] for m in d["map_types"]],
                     indent="  "))
    out.append("\nattach kinds\n")
    out.append(table(["KIND", "SUPPORTED", "REASON"],
                     [[a["kind"], _yes(a), a["reason"]] for a in d["attach_kinds"]],
                     indent="  "))
    out.append("\niterator targets (SEC(\"iter/<target>\"))\n")
    out.append(table(["TARGET", "SUPPORTED", "REASON"],
                     [[i["target"], _yes(i), i["reason"]] for i in d["iterator_targets"]],
                     indent="  "))
    out.append("\nbpf features\n")
    out.append(table(["FEATURE", "SUPPORTED", "REASON"],
                     [[f["feature"], _yes(f), f["reason"]] for f in d["features"]],
                     indent="  "))
    out.append("\n(HELPERS: how many helpers the type may call, ? where libbpf cannot "
               "probe them;\n list them with: libbpfpy probe --helpers TYPE)\n")
    return "".join(out)


def cmd_probe(args: argparse.Namespace) -> int:
    """``libbpfpy probe``."""
    quiet_libbpf()
    data = collect()
    if args.helpers:
        from ..enums import ProgType, parse_enum
        try:
            name = parse_enum(ProgType, args.helpers).libbpf_name
        except ValueError:
            known = ", ".join(p["type"] for p in data["program_types"])
            raise SystemExit(f"libbpfpy probe: unknown program type {args.helpers!r} "
                             f"(known: {known})") from None
        if name not in data["helpers"]:
            entry = next(p for p in data["program_types"] if p["type"] == name)
            if entry["supported"]:
                raise SystemExit(f"libbpfpy probe: libbpf cannot probe the helpers of "
                                 f"{name} programs")
            raise SystemExit(f"libbpfpy probe: {name} programs are not supported here "
                             f"({entry['reason']})")
        names = data["helpers"][name]
        return emit({"type": name, "helpers": names}, args.json,
                    lambda d: "".join(h + "\n" for h in d["helpers"]))
    return emit(data, args.json, render)


def register(sub: Any) -> None:
    """Add the ``probe`` subcommand."""
    p = sub.add_parser("probe", help="what program types, map types, helpers and attach "
                       "kinds this kernel supports", description="Probe this kernel and "
                       "libbpf: program types, map types, attach kinds and helpers, each "
                       "with the reason for the answer.")
    p.add_argument("--helpers", metavar="TYPE",
                   help="list the helpers programs of TYPE may call")
    add_json_option(p)
    p.set_defaults(func=cmd_probe)
