"""`libbpfpy inspect`, `probe`, `prog`, `map` and `link` against known fixtures and
this kernel's facts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from libbpfpy import NotSupportedError, Object, possible_cpus, probe

CLI = [sys.executable, "-m", "libbpfpy"]


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=120)
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def cli_json(*args: str):
    return json.loads(cli(*args, "--json").stdout)


def _section(text: str, title: str) -> list[list[str]]:
    """Rows (split on runs of 2+ spaces) of one titled section of a text report."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows.append([c for c in line.strip().split("  ") if c.strip()])
    return [[c.strip() for c in r] for r in rows]


# -- inspect ---------------------------------------------------------------------------------
def test_inspect_lists_programs_maps_and_globals(bpf_object_path):
    path = bpf_object_path("cli_inspect")
    d = cli_json("inspect", path)
    assert d["name"] == "cli_inspect" and d["object"] == path
    progs = {p["name"]: p for p in d["programs"]}
    assert progs == {
        "on_openat": {"name": "on_openat", "section": "tracepoint/syscalls/sys_enter_openat",
                      "type": "tracepoint", "attach": "tracepoint",
                      "target": "syscalls:sys_enter_openat",
                      "insns": progs["on_openat"]["insns"], "autoload": True},
        "on_unlink": {"name": "on_unlink", "section": "kprobe/do_unlinkat",
                      "type": "kprobe", "attach": "kprobe", "target": "do_unlinkat",
                      "insns": 2, "autoload": True},
        "on_sleep": {"name": "on_sleep", "section": "fentry/do_nanosleep",
                     "type": "tracing", "attach": "fentry", "target": "do_nanosleep",
                     "insns": 2, "autoload": True},
        "pass_all": {"name": "pass_all", "section": "xdp", "type": "xdp", "attach": "xdp",
                     "target": None, "insns": 2, "autoload": True},
    }
    assert progs["on_openat"]["insns"] > 10
    maps = {m["name"]: m for m in d["maps"]}
    assert {k: maps["counts"][k] for k in ("type", "key_size", "value_size",
                                           "max_entries", "flags", "key_type",
                                           "value_type", "internal")} == {
        "type": "hash", "key_size": 4, "value_size": 16, "max_entries": 128,
        "flags": ["NO_PREALLOC"], "key_type": "__u32", "value_type": "struct pair",
        "internal": False}
    assert (maps["slots"]["type"], maps["slots"]["value_type"], maps["slots"]["flags"]) \
        == ("array", "__u64", [])
    assert (maps["percpu"]["type"], maps["percpu"]["max_entries"]) == ("percpu_array", 2)
    assert (maps["ring"]["type"], maps["ring"]["max_entries"], maps["ring"]["key_type"]) \
        == ("ringbuf", 1 << 16, None)
    rodata = next(m for m in d["maps"] if m["name"].endswith(".rodata"))
    assert rodata["internal"] and set(rodata["flags"]) == {"RDONLY_PROG", "MMAPABLE"}
    assert {g["name"]: (g["section"], g["type"], g["size"], g["value"])
            for g in d["globals"]} == {
        "limit": (".rodata", "const volatile __u32", 4, 7),
        "level": (".data", "int", 4, 3),
        "seen": (".bss", "__u64", 8, 0)}


def test_inspect_text_is_aligned_columns(bpf_object_path):
    path = bpf_object_path("cli_inspect")
    out = cli("inspect", path).stdout
    assert out.startswith(f"object {path} (cli_inspect)\n")
    progs = _section(out, "programs")
    assert progs[0] == ["NAME", "SECTION", "TYPE", "ATTACH", "TARGET", "INSNS"]
    assert progs[1][:5] == ["on_openat", "tracepoint/syscalls/sys_enter_openat",
                            "tracepoint", "tracepoint", "syscalls:sys_enter_openat"]
    assert ["pass_all", "xdp", "xdp", "xdp", "(given at attach)", "2"] in progs
    # Columns line up: every row's second cell starts where the header's does.
    lines = out.splitlines()
    head = lines.index("programs") + 1
    col = lines[head].index("SECTION")
    assert all(line[col - 2:col] == "  " and line[col] != " "
               for line in lines[head + 1:head + 5])
    maps = _section(out, "maps")
    assert ["counts", "hash", "4", "16", "128", "NO_PREALLOC", "__u32, struct pair"] in maps
    assert ["ring", "ringbuf", "0", "0", "65536", "-", "-"] in maps
    assert ["limit", ".rodata", "4", "7", "const volatile __u32"] in _section(out, "globals")


def test_inspect_bad_input_is_a_clear_error(tmp_path):
    res = cli("inspect", str(tmp_path / "missing.o"), ok=False)
    assert res.returncode == 1 and "not found" in res.stderr
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"this is not ELF" * 10)
    res = cli("inspect", str(junk), ok=False)
    assert res.returncode == 1 and res.stderr.startswith("libbpfpy: ")
    assert "Traceback" not in res.stderr


# -- probe ------------------------------------------------------------------------------------
@pytest.mark.root
def test_probe_reports_this_kernels_facts(bpf_object_path):
    d = cli_json("probe")
    progs = {p["type"]: p for p in d["program_types"]}
    kinds = {a["kind"]: a for a in d["attach_kinds"]}
    # Facts of this kernel: tracepoint programs load and attach ...
    assert progs["tracepoint"]["supported"] and kinds["tracepoint"]["supported"]
    # ... and every answer is what the probes say, reasons included.
    kp = probe.kprobes()
    assert kinds["kprobe"] == {"kind": "kprobe", "supported": bool(kp), "reason": kp.reason}
    if not kp:   # this development kernel: CONFIG_KPROBES unset
        assert "CONFIG_KPROBES" in kinds["kprobe"]["reason"]
    fe = probe.fentry()
    assert kinds["fentry"]["supported"] == bool(fe)
    assert progs["lsm"]["supported"] == bool(probe.lsm())
    assert {m["type"]: m["supported"] for m in d["map_types"]}["ringbuf"] is True
    assert d["system"]["kernel"] == os.uname().release
    assert d["system"]["privileges"]["supported"] is True
    # Iterator targets one by one, each answer what a real load of that target gets
    # (the task and map-element fixtures are loaded for the two that tests rely on).
    iters = {i["target"]: i for i in d["iterator_targets"]}
    assert {"task", "bpf_map", "bpf_map_elem", "tcp"} <= set(iters)
    for target, fixture in (("task", "iter_task"), ("bpf_map_elem", "iter_map_elem")):
        with Object.open(bpf_object_path(fixture)) as obj:
            try:
                obj.load()
                loaded = True
            except NotSupportedError:
                loaded = False
        assert iters[target]["supported"] is loaded, iters[target]
    # Helpers: what mmapsnoop's tracepoint programs call, and nothing of sk_buffs.
    tp = d["helpers"]["tracepoint"]
    for h in ("bpf_ringbuf_output", "bpf_get_current_pid_tgid", "bpf_probe_read_kernel_str",
              "bpf_map_update_elem"):
        assert h in tp
    assert "bpf_skb_store_bytes" not in tp and "bpf_skb_store_bytes" in d["helpers"][
        "sched_cls"]


@pytest.mark.slow
@pytest.mark.root
def test_probe_text_and_helper_listing():
    out = cli("probe").stdout
    progs = _section(out, "program types")
    assert progs[0] == ["TYPE", "SUPPORTED", "HELPERS", "REASON"]
    tp = next(r for r in progs if r[0] == "tracepoint")
    assert tp[1] == "yes" and int(tp[2]) > 50
    kinds = {r[0]: r for r in _section(out, "attach kinds")}
    assert kinds["kprobe"][1] == ("yes" if probe.kprobes() else "no")
    assert kinds["tracepoint"][1] == "yes"
    listed = cli("probe", "--helpers", "tracepoint").stdout.split()
    assert len(listed) == int(tp[2]) and "bpf_ringbuf_output" in listed
    res = cli("probe", "--helpers", "no_such_type", ok=False)
    assert res.returncode != 0 and "unknown program type" in res.stderr


# -- prog / map / link ------------------------------------------------------------------------
@pytest.fixture
def loaded(bpf_object_path):
    """The fixture object loaded, its tracepoint attached, a child's openat counted."""
    obj = Object.open(bpf_object_path("cli_inspect"))
    try:
        for name in ("on_unlink", "on_sleep"):
            obj.programs[name].autoload = False      # no kprobes/fentry here
        obj.load()
        link = obj.programs["on_openat"].attach()
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid()); "
                                "open('/dev/null').close()"], capture_output=True,
                               text=True, check=True)
        link.close()     # counted once; a fresh link is made for link list
        obj.maps["slots"][1] = 0x1122334455
        yield obj, int(child.stdout)
    finally:
        obj.close()


@pytest.mark.root
def test_prog_list_and_show(loaded):
    obj, _ = loaded
    prog = obj.programs["on_openat"]
    pid = prog.info().id
    link = prog.attach()
    try:
        lid = link.info().id
        listed = {p["id"]: p for p in cli_json("prog", "list")}
        assert listed[pid]["name"] == "on_openat" and listed[pid]["type"] == "tracepoint"
        assert set(listed[pid]["map_ids"]) >= {obj.maps["counts"].info().id}
        text = cli("prog", "list").stdout.splitlines()
        assert text[0].split()[:4] == ["ID", "TYPE", "NAME", "TAG"]
        assert any(line.split()[:3] == [str(pid), "tracepoint", "on_openat"]
                   for line in text)
        shown = cli_json("prog", "show", str(pid))
        assert shown["id"] == pid and shown["link_ids"] == [lid]
        assert shown["tag"] == listed[pid]["tag"]
        links = {x["id"]: x for x in cli_json("link", "list")}
        assert links[lid]["prog_id"] == pid and links[lid]["prog_name"] == "on_openat"
        assert any(line.split()[:4] == [str(lid), links[lid]["type"], str(pid), "on_openat"]
                   for line in cli("link", "list").stdout.splitlines())
    finally:
        link.close()
    assert lid not in {x["id"] for x in cli_json("link", "list")}
    res = cli("prog", "show", "999999999", ok=False)
    assert res.returncode == 1 and res.stderr.startswith("libbpfpy: ")


@pytest.mark.root
def test_map_list_show_and_typed_dump(loaded, tmp_path):
    obj, child_pid = loaded
    counts_id = obj.maps["counts"].info().id
    maps = {m["id"]: m for m in cli_json("map", "list")}
    assert maps[counts_id]["name"] == "counts" and maps[counts_id]["flags"] == ["NO_PREALLOC"]
    shown = cli_json("map", "show", str(counts_id))
    assert (shown["key_type"], shown["value_type"], shown["max_entries"]) == (
        "__u32", "struct pair", 128)
    # The BPF program wrote {pid, 1} for the child's openat: typed through BTF.
    dump = cli_json("map", "dump", str(counts_id))
    assert {"key": child_pid, "value": {"pid": child_pid, "count": 1}} in dump
    assert len(dump) == len(obj.maps["counts"])
    text = cli("map", "dump", str(counts_id)).stdout
    # columns are aligned to the widest key: the gap after a key varies
    assert re.search(rf'^{child_pid} +{{"pid":{child_pid},"count":1}}$', text, re.M), text
    noun = "entry" if len(dump) == 1 else "entries"
    assert text.splitlines()[-1] == f"{len(dump)} {noun} (map {counts_id} counts, " \
        "__u32 -> struct pair)"
    # By pin path, an array of __u64.
    pin = "/sys/fs/bpf/libbpfpy-test-cli-slots"
    obj.maps["slots"].pin(pin)
    try:
        dump = cli_json("map", "dump", pin)
    finally:
        os.unlink(pin)
    assert dump == [{"key": 0, "value": 0}, {"key": 1, "value": 0x1122334455},
                    {"key": 2, "value": 0}, {"key": 3, "value": 0}]
    # Per-CPU: one value per possible CPU.
    obj.maps["percpu"][1] = list(range(10, 10 + possible_cpus()))
    dump = cli_json("map", "dump", str(obj.maps["percpu"].info().id))
    assert dump[1] == {"key": 1, "value": list(range(10, 10 + possible_cpus()))}
    # A ring buffer has no entries: a clear refusal.
    res = cli("map", "dump", str(obj.maps["ring"].info().id), ok=False)
    assert res.returncode == 1 and "streams events" in res.stderr
    res = cli("map", "dump", str(tmp_path / "no-such-pin"), ok=False)
    assert res.returncode == 1 and res.stderr.startswith("libbpfpy: ")


@pytest.mark.root
def test_map_dump_and_show_take_names_and_ids_like_bpftool():
    from libbpfpy import MapHandle
    name = f"lbpy{os.getpid() % 10**8}"
    with MapHandle.create("hash", 4, 8, 4, name=name) as m:
        m[7] = 0x55
        mid = m.info().id
        want = [{"key": 7, "value": 0x55}]
        assert cli_json("map", "dump", name) == want
        assert cli_json("map", "dump", "name", name) == want
        assert cli_json("map", "dump", "id", str(mid)) == want
        assert cli_json("map", "show", name)["id"] == mid
        text = cli("map", "dump", name).stdout
        assert text.splitlines()[-1] == f"1 entry (map {mid} {name}, untyped -> untyped)"
        with MapHandle.create("hash", 4, 8, 4, name=name) as twin:
            res = cli("map", "dump", name, ok=False)
            assert res.returncode == 1
            assert f"2 loaded maps are named {name!r} (ids {mid}, {twin.info().id})" \
                in res.stderr
    res = cli("map", "dump", "name", name, ok=False)
    assert res.returncode == 1 and f"no loaded map is named {name!r}" in res.stderr
    res = cli("map", "dump", "id", "x", ok=False)
    assert res.returncode == 1 and "not a map id" in res.stderr


def test_help_lists_the_commands():
    out = cli("--help").stdout
    for cmd in ("inspect", "probe", "prog", "map", "link"):
        assert f"    {cmd} " in out, cmd
    assert "dump" in cli("map", "--help").stdout


def test_inspect_mmapsnoop_object_shows_runtime_targets_and_filters():
    from libbpfpy.tools import bpf_object
    path = bpf_object("mmapsnoop")
    progs = {r[0]: r for r in _section(cli("inspect", path).stdout, "programs")}
    assert progs["mmap_enter_fentry"][3:5] == ["fentry", "(set before load)"]
    assert progs["mmap_enter_kprobe"][3:5] == ["ksyscall", "mmap"]
    assert progs["mmap_exit_tp"][3:5] == ["tracepoint", "syscalls:sys_exit_mmap"]
    globs = {g["name"]: g for g in cli_json("inspect", path)["globals"]}
    assert (globs["targ_uid"]["value"], globs["targ_uid"]["section"]) == (0xFFFFFFFF,
                                                                          ".rodata")
    assert globs["targ_comm"]["type"] == "const volatile char[16]"
    assert (globs["missed"]["section"], globs["missed"]["value"]) == (".bss", 0)


@pytest.mark.parametrize("argv", [["-m", "libbpfpy", "probe"],
                                  ["-m", "libbpfpy.tools.mmapsnoop", "-d", "1"]])
def test_commands_without_a_loadable_libbpf_say_so_in_one_line(argv):
    env = dict(os.environ, LIBBPFPY_LIBBPF="/nonexistent/libbpf.so.1")
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "/nonexistent/libbpf.so.1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
