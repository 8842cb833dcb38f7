"""Exporter configs: every mistake is one ConfigError naming the file and line.

Parsing needs nothing but the text; binding opens the BPF object (no load, no
privileges) and checks maps, sizes and BTF fields against it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("yaml", reason="the exporter extra is installed by make setup")

from libbpfpy import Object  # noqa: E402
from libbpfpy.errors import BPFError  # noqa: E402
from libbpfpy.exporter import EXAMPLES, ConfigError, parse_config  # noqa: E402
from libbpfpy.exporter.metrics import CounterMetric, HistogramMetric, bind  # noqa: E402

PATH = "/etc/exporter/test.yaml"


def parse(text: str):
    return parse_config(textwrap.dedent(text), PATH, "test")


def error_of(text: str, obj=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config = parse(text)
        if obj is not None:
            bind(config, obj)
    err = info.value
    # one line, starting with file:line
    assert "\n" not in str(err)
    assert str(err).startswith(f"{PATH}:{err.line}: " if err.line else f"{PATH}: ")
    assert isinstance(err, BPFError)
    return err


@pytest.fixture(scope="module")
def maps_obj(bpf_object_path):
    with Object.open(bpf_object_path("exporter_maps")) as obj:
        yield obj


def counter(labels: str, map_name: str = "by_comm", name: str = "c_total") -> str:
    return f"""\
    metrics:
      counters:
        - name: {name}
          map: {map_name}
          labels:
{textwrap.indent(textwrap.dedent(labels), " " * 12)}
    """


# -- parse errors ------------------------------------------------------------------------

def test_unknown_decoder_names_its_line():
    err = error_of(counter("""\
        - name: comm
          field: comm
          decoders:
            - name: string
            - name: frobnicate
        """))
    assert err.line == 10  # the "- name: frobnicate" item
    assert "unknown decoder 'frobnicate'" in err.reason
    assert "syscall" in err.reason  # lists the known ones


def test_unknown_decoder_short_form():
    err = error_of(counter("""\
        - name: comm
          field: comm
          decoders: [string, nope]
        """))
    assert err.line == 8 and "unknown decoder 'nope'" in err.reason


def test_decoder_chain_kinds_must_fit():
    err = error_of(counter("""\
        - name: addr
          size: 4
          decoders: [uint, inet_ip]
        """))
    assert "decoder 'inet_ip' takes bytes, but decoder 'uint' gives int" in err.reason


@pytest.mark.parametrize("decoder, message", [
    ("{name: uint, endian: middle}", "endian must be native, little or big"),
    ("{name: string, width: 3}", "unknown option 'width'"),
    ("{name: regexp, regexps: ['(']}", "not a valid regular expression"),
    ("{name: regexp}", "needs 'regexps'"),
    ("{name: static_map}", "needs 'static_map'"),
    ("{name: static_map, static_map: {1: [a]}}", "must map to text"),
])
def test_decoder_options(decoder, message):
    err = error_of(counter(f"""\
        - name: x
          size: 8
          decoders: [{decoder}]
        """))
    assert message in err.reason and err.line == 8


def test_yaml_syntax_error_has_line():
    err = error_of("metrics:\n  counters:\n    - name: a_total\n      map: [x\n")
    assert err.line >= 4 and "not valid YAML" in err.reason


@pytest.mark.parametrize("text, line, message", [
    ("metrics:\n  counters:\n    - name: a_total\n      mapp: x\n", 4, "unknown setting 'mapp'"),
    ("metrics:\n  counters:\n    - name: a\n      map: x\n", 3, "end in '_total'"),
    ("metrics:\n  counters:\n    - name: 9a_total\n      map: x\n", 3, "not a valid"),
    ("metrics:\n  counters:\n    - name: a_total\n", 3, "give 'map' (a map of counts) or "
     "'events'"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      events: y\n", 3,
     "give 'map'"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      event_type: e\n", 5,
     "'event_type' is for 'events' counters"),
    ("metrics:\n  counters:\n    - name: a_total\n      events: x\n      buffer_pages: 3\n",
     5, "must be a power of two"),
    ("metrics:\n  histograms:\n    - name: a\n      bucket_type: exp2\n      bucket_max: 3\n",
     3, "'map' is required"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: 3\n", 4, "must be a string"),
    ("metrics:\n  gauges: []\n", 2, "unknown setting 'gauges'"),
    ("metrics: {}\n", 1, "no counters or histograms"),
    ("- a\n", 1, "a config is a mapping"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n"
     "    - name: a_total\n      map: y\n", 5, "already defined"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - name: le\n          size: 8\n", 6, "'le' is reserved"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - name: a\n          size: 4\n        - name: a\n          size: 4\n",
     8, "given twice"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - name: a\n", 6, "give 'field'"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - name: a\n          size: 0\n", 7, "must be positive"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - name: a\n          field: f\n          offset: 2\n", 8, "'offset' is for"),
])
def test_structure_errors(text, line, message):
    err = error_of(text)
    assert err.line == line, err
    assert message in err.reason, err


def hist(settings: str, labels: str = "[]") -> str:
    return ("metrics:\n  histograms:\n    - name: h_seconds\n      map: hist\n"
            f"      labels: {labels}\n" + textwrap.indent(textwrap.dedent(settings), " " * 6))


@pytest.mark.parametrize("settings, message", [
    ("bucket_type: cubic\nbucket_max: 3\n", "not one of exp2, linear, fixed"),
    ("bucket_type: exp2\n", "'bucket_max' is required"),
    ("bucket_type: exp2\nbucket_min: 5\nbucket_max: 3\n", "below bucket_min"),
    ("bucket_type: exp2\nbucket_max: 3\nbucket_multiplier: 0\n", "positive number"),
    ("bucket_type: exp2\nbucket_max: 3\nbucket_multiplier: true\n", "must be"),
    ("bucket_type: fixed\nbucket_keys: []\n", "bucket_keys is empty"),
    ("bucket_type: fixed\nbucket_keys: [1, 1]\n", "repeat a slot"),
    ("bucket_type: fixed\nbucket_keys: [1, -2]\n", "integers >= 0"),
    ("bucket_type: fixed\nbucket_max: 3\nbucket_keys: [1]\n", "take bucket_keys"),
    ("bucket_type: linear\nbucket_max: 3\nbucket_keys: [1]\n", "for fixed buckets"),
    ("bucket_type: exp2\nbucket_max: 3\nbucket_key: {offset: 4}\n", "give 'field'"),
])
def test_histogram_settings(settings, message):
    err = error_of(hist(settings))
    assert message in err.reason, err
    assert err.line >= 3


# -- binding errors (against the opened object) --------------------------------------------

def test_unknown_map(maps_obj):
    err = error_of(counter("[]", map_name="no_such_map"), maps_obj)
    assert err.line == 3
    assert "map 'no_such_map' not found" in err.reason
    assert "by_comm" in err.reason and "hist" in err.reason  # its maps are listed


def test_field_size_mismatch(maps_obj):
    err = error_of(counter("""\
        - name: nr
          field: nr
          size: 8
        """), maps_obj)
    assert err.line == 6
    assert "size 8 does not match field 'nr', which is 4 bytes" in err.reason


def test_sizes_must_cover_the_key(maps_obj):
    err = error_of(counter("""\
        - name: comm
          size: 16
        - name: nr
          size: 2
        """), maps_obj)
    assert "the labels take 18 bytes, but map 'by_comm''s key is 24 bytes" in err.reason


def test_size_past_the_key(maps_obj):
    err = error_of(counter("""\
        - name: comm
          size: 16
        - name: nr
          size: 16
        """), maps_obj)
    assert err.line == 8
    assert "(16 bytes at offset 16) does not fit map 'by_comm''s key, which is 24 bytes" \
        in err.reason


def test_unknown_field_lists_fields(maps_obj):
    err = error_of(counter("""\
        - name: pid
          field: pid
        """), maps_obj)
    assert "has no field 'pid' (it has: comm, nr, flags, rest)" in err.reason


def test_bitfield_refused(maps_obj):
    err = error_of(counter("""\
        - name: flags
          field: flags
        """), maps_obj)
    assert "bitfield" in err.reason


def test_field_on_plain_key(maps_obj):
    err = error_of(counter("""\
        - name: id
          field: id
        """, map_name="by_u64"), maps_obj)
    assert "key has type 'unsigned long long'" in err.reason or "__u64" in err.reason
    assert "give its size instead" in err.reason


def test_decoder_size_checked_at_bind(maps_obj):
    err = error_of(counter("""\
        - name: a
          size: 8
          decoders: [inet_ip]
        - name: b
          size: 16
        """), maps_obj)
    assert err.line == 6
    assert "decoder 'inet_ip' takes 4 (IPv4) or 16 (IPv6) bytes, not 8" in err.reason


@pytest.mark.parametrize("map_name, message", [
    ("ring", "is a ringbuf map"),
    ("wide_value", "holds 24-byte values"),
])
def test_unsupported_maps(maps_obj, map_name, message):
    err = error_of(counter("""\
        - name: x
          size: 4
        """, map_name=map_name), maps_obj)
    assert message in err.reason


def test_histogram_slot_must_be_left(maps_obj):
    err = error_of(hist("bucket_type: exp2\nbucket_max: 3\n",
                        "[{name: id, size: 8}]"), maps_obj)
    assert "0 bytes left for the slot" in err.reason


def test_overlapping_parts(maps_obj):
    err = error_of(hist("bucket_type: exp2\nbucket_max: 3\nbucket_key: {field: id}\n",
                        "[{name: id, field: id}]"), maps_obj)
    assert "overlap" in err.reason


# -- what binds ---------------------------------------------------------------------------

def test_nested_fields_and_defaults(maps_obj):
    config = parse(counter("""\
        - name: port
          field: port
        - name: addr
          field: peer.addr
          decoders: [inet_ip]
        - name: family
          field: peer.family
        """, map_name="nested"))
    (metric,) = bind(config, maps_obj)
    assert isinstance(metric, CounterMetric)
    assert metric.label_names == ["port", "addr", "family"]
    assert [(a, b) for a, b, _ in metric._labels] == [(0, 2), (2, 6), (6, 8)]
    raw = (8080).to_bytes(2, sys.byteorder) + bytes([10, 1, 2, 3]) + \
        (2).to_bytes(2, sys.byteorder)
    assert metric._decode_labels(raw) == ("8080", "10.1.2.3", "2")


def test_char_array_defaults_to_string(maps_obj):
    config = parse(counter("""\
        - name: comm
          field: comm
        - name: nr
          size: 4
          offset: 16
        """))
    (metric,) = bind(config, maps_obj)
    raw = b"sshd\0junk\0\0\0\0\0\0\0" + (7).to_bytes(4, sys.byteorder) + bytes(4)
    assert metric._decode_labels(raw) == ("sshd", "7")


def test_histogram_binds_slot_by_field(maps_obj):
    config = parse(hist("bucket_type: linear\nbucket_min: 1\nbucket_max: 4\n"
                        "bucket_multiplier: 0.5\nbucket_key: {field: slot}\n",
                        "[{name: id, field: id}]"))
    (metric,) = bind(config, maps_obj)
    assert isinstance(metric, HistogramMetric)
    assert metric.slots == [1, 2, 3, 4]
    assert metric.bounds == ["0.5", "1.0", "1.5", "2.0"]
    assert metric.sum_slot == 0xFFFFFFFF


def test_examples_parse_and_bind():
    """Every shipped example config binds to its own program (compiled here)."""
    from libbpfpy import compile
    from libbpfpy.exporter import load_config
    names = sorted(n[:-5] for n in os.listdir(EXAMPLES) if n.endswith(".yaml"))
    assert {"syscalls", "mmap", "latency", "tcp_retransmit"} <= set(names)
    for name in names:
        config = load_config(EXAMPLES, name)
        path = compile(os.path.join(EXAMPLES, f"{name}.bpf.c"), include_dirs=[EXAMPLES])
        with Object.open(path) as obj:
            assert bind(config, obj), name


# -- the command ----------------------------------------------------------------------------

def test_check_reports_one_line(tmp_path, bpf_object_path):
    (tmp_path / "bad.yaml").write_text(counter("""\
        - name: comm
          field: comm
          decoders: [strung]
        """))
    with open(bpf_object_path("exporter_maps"), "rb") as f:
        (tmp_path / "bad.bpf.o").write_bytes(f.read())
    os.chmod(tmp_path, 0o755)
    r = subprocess.run([sys.executable, "-m", "libbpfpy", "exporter", "--check",
                        "--config", str(tmp_path), "--names", "bad"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"libbpfpy exporter: {tmp_path}/bad.yaml:8: ")
    assert "unknown decoder 'strung'" in lines[0]


def test_check_passes_examples():
    r = subprocess.run([sys.executable, "-m", "libbpfpy", "exporter", "--check",
                        "--names", "syscalls,mmap,latency,tcp_retransmit"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok") == 4


@pytest.mark.parametrize("argv", [["-m", "libbpfpy", "exporter", "--names", "syscalls"],
                                  ["-m", "libbpfpy.exporter", "--check", "--names", "mmap"]])
def test_without_a_loadable_libbpf_one_line(argv):
    env = dict(os.environ, LIBBPFPY_LIBBPF="/nonexistent/libbpf.so.1")
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "/nonexistent/libbpf.so.1" in r.stderr


def test_config_files_are_trusted_only(tmp_path):
    from libbpfpy.exporter import load_config
    from libbpfpy.exporter.files import UntrustedError
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "real.yaml"
    target.write_text(counter("[]"))
    os.symlink(target, tmp_path / "link.yaml")
    with pytest.raises(UntrustedError, match="symbolic link"):
        load_config(tmp_path, "link")
    os.chmod(target, 0o666)
    with pytest.raises(UntrustedError, match="writable by group or others"):
        load_config(tmp_path, "real")
    os.chmod(target, 0o644)
    os.chmod(tmp_path, 0o777)
    with pytest.raises(UntrustedError, match="config directory"):
        load_config(tmp_path, "real")
    os.chmod(tmp_path, 0o755)
    assert load_config(tmp_path, "real").counters[0].name == "c_total"
    with pytest.raises(ConfigError, match="not a plain name"):
        load_config(tmp_path, "../real")


def test_dashboard_queries_name_served_metrics():
    """The shipped Grafana dashboard only queries metrics the examples serve."""
    import json
    import re

    from libbpfpy.exporter import Exporter, load_config
    from libbpfpy.exporter.builtin import builtin_families

    served = set()
    for name in ("syscalls", "mmap", "latency", "tcp_retransmit"):
        config = load_config(EXAMPLES, name)
        served |= {f"libbpfpy_{c.name}" for c in config.counters}
        served |= {f"libbpfpy_{h.name}{s}" for h in config.histograms
                   for s in ("_bucket", "_sum", "_count")}
    for family in builtin_families(Exporter(EXAMPLES, []), 0.0):
        served.add(family.name + ("_total" if family.type == "counter" else ""))
    with open(os.path.join(EXAMPLES, "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in re.findall(r"\blibbpfpy_[a-z0-9_]+", e)}
    assert used and used <= served, used - served


@pytest.mark.parametrize("text, message", [
    ("a: &a [" + ", ".join(["*a"] * 0) + "]\nb: &b [&c [*b]]\n", "refers to itself"),
    ("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 8)),
     "more than 100000 values"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ("metrics:\n  <<: [1, 2]\n", "not valid YAML"),
    ("metrics: !!python/object:os.system {}\n", "not valid YAML here: tag"),
    ("metrics: !!python/name:os.system x\n", "not valid YAML"),
    ("\x00\xff\xfe", "not valid YAML"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels: 5\n",
     "must be a list"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels: [3]\n",
     "must be a mapping"),
    ("metrics:\n  counters:\n    - name: a_total\n      map: x\n      labels:\n"
     "        - {name: a, size: 4, decoders: [[uint]]}\n", "a decoder is a name"),
    ("metrics:\n  ? [a]\n  : 1\n", "plain names"),
])
def test_hostile_yaml_is_a_config_error(text, message):
    err = error_of(text)
    assert message in err.reason, err


def test_random_text_gives_only_config_errors():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(["metrics:", "counters:", "histograms:", "- name: a_total",
                              "map: m", "labels:", "- {name: x, size: 4}", "decoders:",
                              "[uint, syscall]", "bucket_type: exp2", "bucket_max: 3",
                              "&a", "*a", "<<:", "{", "]", "!!binary", "'", '"', "~",
                              "1e400", "-", "? ", ": ", "\t"])
    lines = st.lists(st.tuples(st.integers(0, 8), st.lists(pieces, max_size=3)),
                     max_size=12)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(lines)
    def check(doc):
        text = "\n".join(" " * indent + " ".join(words) for indent, words in doc)
        try:
            parse_config(text, PATH, "fuzz")
        except ConfigError as exc:
            assert str(exc).startswith(PATH)
            assert "\n" not in str(exc)

    check()
