"""Prototypes of libbpf functions newer than the release ``_table`` was generated from.

Each entry is ``name: (first libbpf version, restype, argtypes)``.  They are bound
only if the installed library exports them; otherwise using one raises
NotSupportedError naming the version.  Options structs that the generated table
does not know are passed as opaque pointers (NULL selects libbpf's defaults).
"""
# ruff: noqa: F405
from ctypes import POINTER, c_bool, c_int, c_size_t, c_uint, c_uint32, c_ulong, c_void_p

from ._table import bpf_btf_info, bpf_link_info, bpf_map_info, bpf_prog_info

_u32p = POINTER(c_uint32)

PROTOTYPES = {
    # 1.2
    "bpf_prog_get_info_by_fd": ("1.2", c_int, [c_int, POINTER(bpf_prog_info), _u32p]),
    "bpf_map_get_info_by_fd": ("1.2", c_int, [c_int, POINTER(bpf_map_info), _u32p]),
    "bpf_btf_get_info_by_fd": ("1.2", c_int, [c_int, POINTER(bpf_btf_info), _u32p]),
    "bpf_link_get_info_by_fd": ("1.2", c_int, [c_int, POINTER(bpf_link_info), _u32p]),
    "bpf_link__update_map": ("1.2", c_int, [c_void_p, c_void_p]),
    "bpf_program__attach_netfilter": ("1.2", c_void_p, [c_void_p, c_void_p]),
    # 1.3
    "ring_buffer__ring": ("1.3", c_void_p, [c_void_p, c_uint]),
    "ring__consumer_pos": ("1.3", c_ulong, [c_void_p]),
    "ring__producer_pos": ("1.3", c_ulong, [c_void_p]),
    "ring__avail_data_size": ("1.3", c_size_t, [c_void_p]),
    "ring__size": ("1.3", c_size_t, [c_void_p]),
    "ring__map_fd": ("1.3", c_int, [c_void_p]),
    "ring__consume": ("1.3", c_int, [c_void_p]),
    "bpf_program__attach_tcx": ("1.3", c_void_p, [c_void_p, c_int, c_void_p]),
    "bpf_program__attach_uprobe_multi": (
        "1.3", c_void_p, [c_void_p, c_int, c_void_p, c_void_p, c_void_p]),
    "bpf_prog_detach_opts": ("1.3", c_int, [c_int, c_int, c_int, c_void_p]),
    # 1.4
    "bpf_program__attach_netkit": ("1.4", c_void_p, [c_void_p, c_int, c_void_p]),
    "ring_buffer__consume_n": ("1.4", c_int, [c_void_p, c_size_t]),
    "ring__consume_n": ("1.4", c_int, [c_void_p, c_size_t]),
    "bpf_token_create": ("1.4", c_int, [c_int, c_void_p]),
    # 1.5
    "bpf_map__set_autoattach": ("1.5", c_int, [c_void_p, c_bool]),
    "bpf_map__autoattach": ("1.5", c_bool, [c_void_p]),
    "bpf_program__attach_sockmap": ("1.5", c_void_p, [c_void_p, c_int]),
}
