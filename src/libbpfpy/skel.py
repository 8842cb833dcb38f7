"""Python skeletons: a typed module generated from a compiled BPF object::

    $ libbpfpy skel mmapsnoop.bpf.o -o mmapsnoop_skel.py

    from mmapsnoop_skel import MmapsnoopSkel, process_info
    with MmapsnoopSkel.open() as skel:
        skel.rodata.target_pid = 1234        # before load, like skel->rodata->... in C
        skel.load()
        skel.attach()
        skel.bss.hits                        # live, typed
        skel.maps.events, skel.progs.mmap_enter

The generated module embeds the object's bytes, and holds a class whose ``open()``,
``load()``, ``attach()`` and ``close()`` mirror libbpf's C skeletons, with typed
attributes for every program, map and global variable, and the object's BTF types
(those of map keys/values and globals) as ctypes classes and IntEnums.  Editors and
mypy see all of it.  This module holds the generator (:func:`generate`) and the
runtime base classes the generated code uses.
"""
from __future__ import annotations

import base64
import ctypes
import enum
import hashlib
import keyword
import os
import re
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from ._btf_types import Struct, Union, _identifier
from .link import Link
from .object import Object

if TYPE_CHECKING:
    from .btf import BTF
    from .map import Map
    from .program import Program

__all__ = ["Skeleton", "Section", "Programs", "Maps", "Var", "generate", "embedded_object"]

T = TypeVar("T")
S = TypeVar("S", bound="Skeleton")


# -- runtime support for generated modules --------------------------------------------

def embedded_object(sha256: str, text: str) -> bytes:
    """Decode an embedded object (base64) and check its SHA-256."""
    data = base64.b64decode("".join(text.split()))
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("embedded BPF object is corrupt (SHA-256 mismatch): regenerate "
                         "the skeleton")
    return data


class _Part:
    def __init__(self, obj: Object) -> None:
        self._obj = obj


class Programs(_Part):
    """A skeleton's programs (each a typed property)."""

    def _get(self, name: str) -> Program:
        return self._obj.programs[name]


class Maps(_Part):
    """A skeleton's maps (each a typed property)."""

    def _get(self, name: str) -> Map:
        return self._obj.maps[name]

    def _section(self, section: str) -> Map:
        from ._raw import lib
        obj = self._obj
        with obj._use():
            obj._check()
            ptr = lib.bpf_object__find_map_by_name(obj._ptr, section.encode())
            for m in obj.maps.values():
                if ptr and m._ptr_checked() == ptr:
                    return m
        raise KeyError(f"{obj._describe()} has no map for section {section}")


class Section(_Part):
    """The global variables of one section (``.rodata``, ``.bss``...) as attributes."""

    SECTION: ClassVar[str] = ""

    @property
    def map(self) -> Map:
        """The global-data map holding this section."""
        return Maps(self._obj)._section(self.SECTION)


class Var(Generic[T]):
    """A typed global variable of a skeleton's section (a descriptor)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, inst: None, owner: type[Any]) -> Var[T]: ...

    @overload
    def __get__(self, inst: Section, owner: type[Any]) -> T: ...

    def __get__(self, inst: Section | None, owner: type[Any]) -> Var[T] | T:
        if inst is None:
            return self
        value: T = inst._obj.globals[self.name]
        return value

    def __set__(self, inst: Section, value: T) -> None:
        inst._obj.globals[self.name] = value


class Skeleton:
    """Base class of generated skeletons: one BPF object with typed parts.

    ``open()`` -> set ``rodata`` values / tweak maps -> ``load()`` -> ``attach()``;
    ``close()`` (or ``with``) detaches and closes everything.
    """

    NAME: ClassVar[str] = ""
    OBJECT: ClassVar[bytes] = b""
    #: the module's classes by BTF type id: the object's maps, globals and events
    #: decode to these (instead of equivalent classes built at run time)
    TYPES: ClassVar[dict[int, type[Any]]] = {}
    ENUMS: ClassVar[dict[int, type[enum.IntEnum]]] = {}

    def __init__(self, obj: Object) -> None:
        self.obj = obj
        self.links: list[Link] = []
        if self.TYPES or self.ENUMS:
            btf = obj.btf
            if btf is not None:
                btf._types_builder().seed(self.TYPES, self.ENUMS)

    @classmethod
    def open(cls: type[S], **options: Any) -> S:
        """Open the embedded object (options as for :meth:`libbpfpy.Object.open`)."""
        options.setdefault("name", cls.NAME)
        obj = Object.open(cls.OBJECT, **options)
        try:
            return cls(obj)
        except BaseException:
            obj.close()
            raise

    @classmethod
    def open_and_load(cls: type[S], **options: Any) -> S:
        """``open()`` then ``load()``."""
        skel = cls.open(**options)
        try:
            skel.load()
        except BaseException:
            skel.close()
            raise
        return skel

    def load(self) -> None:
        """Create the maps and load the programs."""
        self.obj.load()

    def attach(self) -> list[Link]:
        """Attach every program whose section says how; the links are kept in
        ``links`` and closed by ``detach()``/``close()``."""
        links = self.obj.attach()
        self.links.extend(links)
        return links

    def detach(self) -> None:
        """Close the links made by ``attach()``."""
        links, self.links = self.links, []
        for link in links:
            link.close()

    def close(self) -> None:
        """Detach and close the object (idempotent)."""
        self.detach()
        self.obj.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.obj!r}>"


# -- the generator ---------------------------------------------------------------------------

_SIMPLE = {
    ctypes.c_int8: ("ctypes.c_int8", "int"), ctypes.c_uint8: ("ctypes.c_uint8", "int"),
    ctypes.c_int16: ("ctypes.c_int16", "int"), ctypes.c_uint16: ("ctypes.c_uint16", "int"),
    ctypes.c_int32: ("ctypes.c_int32", "int"), ctypes.c_uint32: ("ctypes.c_uint32", "int"),
    ctypes.c_int64: ("ctypes.c_int64", "int"), ctypes.c_uint64: ("ctypes.c_uint64", "int"),
    ctypes.c_bool: ("ctypes.c_bool", "bool"), ctypes.c_char: ("ctypes.c_char", "bytes"),
    ctypes.c_float: ("ctypes.c_float", "float"), ctypes.c_double: ("ctypes.c_double", "float"),
}
_MODULE_NAMES = frozenset({
    "annotations", "ctypes", "enum", "ClassVar", "Map", "Object", "Program", "Struct",
    "Union", "Maps", "Programs", "Section", "Skeleton", "Var", "embedded_object",
    "OBJECT", "OBJECT_SHA256", "__all__"})
_SECTION_PREFIXES = (".rodata", ".data", ".bss")


def _camel(name: str) -> str:
    parts = [p for p in _identifier(name).split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Bpf"


_BUILTIN_HINTS = frozenset({"int", "bytes", "bool", "float", "list", "object"})


def _exposed(cls: Any) -> list[str]:
    names = [n for n, _ in cls._btf_members_]
    fields = {f[0]: f[1] for f in cls._fields_}
    for n, k in cls._btf_members_:
        if k == "a":
            names += _exposed(fields[n])
    return names


def _tuple(items: Any) -> str:
    parts = list(items)
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _unique(name: str, taken: set[str]) -> str:
    out = name
    n = 2
    while out in taken:
        out = f"{name}_{n}"
        n += 1
    taken.add(out)
    return out


def _attr(name: str, taken: set[str]) -> str:
    out = _identifier(name)
    if keyword.iskeyword(out) or out.startswith("_"):
        out = out.lstrip("_") or "x"
        if keyword.iskeyword(out):
            out += "_"
    return _unique(out, taken)


class _Gen:
    def __init__(self, obj: Object, data: bytes, source_name: str, name: str) -> None:
        self.obj = obj
        self.data = data
        self.source_name = source_name
        self.name = name
        self.btf: BTF | None = obj.btf
        self.class_names: dict[Any, str] = {}     # ctypes class -> emitted name
        self.enum_names: dict[Any, str] = {}      # IntEnum class -> emitted name
        self.enum_ids: dict[Any, int] = {}
        self.record_ids: dict[Any, int] = {}
        self.lines: list[str] = []
        self.builtins_prefix = ""
        self.need_builtins = False

    # -- types ------------------------------------------------------------------------
    def collect(self) -> None:
        btf = self.btf
        if btf is None:
            return
        from .btf import Kind
        builder = btf._types_builder()
        roots: list[int] = []
        for m in self.obj.maps.values():
            if m.is_internal:
                continue
            for t in btf.map_types(m):
                if t is not None:
                    roots.append(t.id)
        for var in btf.variables():
            if not var.section.startswith(_SECTION_PREFIXES):
                continue
            roots.append(var.type_id)
            t = btf.resolve(var.type_id)
            if t.kind == Kind.PTR:        # "struct event *unused": the anchor idiom
                roots.append(t.type_id)
        for tid in roots:
            try:
                t = btf.resolve(tid)
                builder.ctype(t.id)
                if t.kind in (Kind.ENUM, Kind.ENUM64):
                    self.enum_ids.setdefault(builder.enum(t.id), t.id)
            except (TypeError, ValueError, KeyError):
                continue
        taken = set(_MODULE_NAMES)
        for tid in builder.order:
            cls = builder._ct.get(tid)
            if cls is None or not isinstance(cls, type):
                continue
            if not self._reachable(cls, roots, builder):
                continue
            for ecls in cls.__dict__.get("_btf_enums_", {}).values():
                self.enum_ids.setdefault(ecls, self._enum_id(builder, ecls))
            self.class_names[cls] = _unique(cls.__name__, taken)
            self.record_ids[cls] = tid
        for ecls in sorted(self.enum_ids, key=lambda c: self.enum_ids[c]):
            self.enum_names[ecls] = _unique(ecls.__name__, taken)

    def _enum_id(self, builder: Any, ecls: Any) -> int:
        for tid, c in builder._enums.items():
            if c is ecls:
                return int(tid)
        return 0

    def _reachable(self, cls: Any, roots: list[int], builder: Any) -> bool:
        if not hasattr(self, "_reach"):
            reach: set[Any] = set()

            def walk(ct: Any) -> None:
                while isinstance(ct, type) and issubclass(ct, ctypes.Array):
                    ct = ct._type_
                if isinstance(ct, type) and issubclass(ct, (Struct, Union)) and \
                        ct not in reach:
                    reach.add(ct)
                    for f in ct._fields_:
                        walk(f[1])

            for tid in roots:
                try:
                    walk(builder.ctype(self.btf.resolve(tid).id))  # type: ignore[union-attr]
                except (TypeError, ValueError, KeyError):
                    pass
            self._reach = reach
        return cls in self._reach

    def expr(self, ct: Any) -> str:
        if ct in self.class_names:
            return self.class_names[ct]
        if ct in _SIMPLE:
            return _SIMPLE[ct][0]
        if isinstance(ct, type) and issubclass(ct, ctypes.Array):
            return f"{self.expr(ct._type_)} * {ct._length_}"
        raise TypeError(f"no expression for {ct!r}")

    def _ctype_hint(self, ct: Any) -> str:
        if isinstance(ct, type) and issubclass(ct, ctypes.Array):
            return f"ctypes.Array[{self._ctype_hint(ct._type_)}]"
        return self.expr(ct)

    def hint(self, ct: Any, enum_cls: Any = None, *, value: bool = False) -> str:
        """Type hint of a field (``value``: of a decoded value, as codecs return)."""
        b = self.builtins_prefix
        if enum_cls is not None:
            return b + "int"
        if ct in self.class_names:
            return self.class_names[ct]
        if ct in _SIMPLE:
            return b + _SIMPLE[ct][1]
        if isinstance(ct, type) and issubclass(ct, ctypes.Array):
            if getattr(ct, "_type_", None) is ctypes.c_char:
                return b + "bytes"
            if value:
                return f"{b}list[{self.hint(ct._type_, value=True)}]"
            return f"ctypes.Array[{self._ctype_hint(ct._type_)}]"
        return b + "object"

    # -- emission ------------------------------------------------------------------------
    def emit(self) -> str:
        self.collect()
        sha = hashlib.sha256(self.data).hexdigest()
        cls_name = f"{_camel(self.name)}Skel"
        out: list[str] = []
        w = out.append
        w(f"# Generated by `libbpfpy skel` from {self.source_name}: DO NOT EDIT.")
        w(f"# Regenerate with: libbpfpy skel {self.source_name} -o <this file>")
        w(f'"""Skeleton of the BPF object ``{self.name}``: programs, maps, globals and '
          'types."""')
        w("from __future__ import annotations")
        w("")
        import_at = len(out)
        if self.class_names:
            w("import ctypes")
        if self.enum_names:
            w("import enum")
        w("from typing import ClassVar")
        w("")
        w("from libbpfpy import Map, Object, Program")
        bases = sorted({"Union" if issubclass(c, Union) else "Struct"
                        for c in self.class_names})
        if bases:
            w(f"from libbpfpy.btf import {', '.join(bases)}")
        skel_import = len(out)
        w("from libbpfpy.skel import ...")
        w("")
        exported = [cls_name, *self.enum_names.values(), *self.class_names.values()]
        w("__all__ = [" + ", ".join(f'"{n}"' for n in exported) + "]")
        w("")
        w(f'OBJECT_SHA256 = "{sha}"')
        w('OBJECT = embedded_object(OBJECT_SHA256, """')
        text = base64.b64encode(self.data).decode()
        for i in range(0, len(text), 76):
            w(text[i:i + 76])
        w('""")')
        if self.enum_names:
            w("")
            w("")
            w("# -- enums of the object's BTF " + "-" * 50)
        for ecls, nm in self.enum_names.items():
            w("")
            items = ", ".join(f'("{n}", {int(v)})' for n, v in ecls.__members__.items())
            w(f'{nm} = enum.IntEnum("{nm}", [{items}], module=__name__)')
        records: list[str] = []
        if self.class_names:
            records += ["", "", "# -- structs and unions of the object's BTF " + "-" * 37]
        for cls, nm in self.class_names.items():
            self._emit_record(records.append, cls, nm)
        out.extend(records)
        self._emit_parts(w, cls_name)
        body = "\n".join(out[skel_import + 1:])
        used = [n for n in ("Maps", "Programs", "Section", "Skeleton", "Var",
                            "embedded_object") if re.search(rf"\b{n}\b", body)]
        out[skel_import] = f"from libbpfpy.skel import {', '.join(used)}"
        if self.need_builtins:
            out.insert(import_at, "import builtins")
        return "\n".join(out) + "\n"

    def _emit_record(self, w: Any, cls: Any, nm: str) -> None:
        base = "Union" if issubclass(cls, Union) else "Struct"
        w("")
        w("")
        w(f"class {nm}({base}):")
        w(f'    """{cls._btf_cname_} ({ctypes.sizeof(cls)} bytes)."""')
        w("")
        w("    _pack_ = 1")
        w("    _fields_ = [")
        for f in cls._fields_:
            w(f"        ({f[0]!r}, {self.expr(f[1])}),")
        w("    ]")
        if "_anonymous_" in cls.__dict__:
            w(f"    _anonymous_ = {_tuple(repr(a) for a in cls._anonymous_)}")
        w("    _btf_members_ = (")
        for n, k in cls._btf_members_:
            w(f"        ({n!r}, {k!r}),")
        w("    )")
        bits = cls.__dict__.get("_btf_bitfields_", {})
        if bits:
            w("    _btf_bitfields_ = {")
            for bn, (storage, shift, nbits, signed) in bits.items():
                w(f"        {bn!r}: ({storage!r}, {shift}, {nbits}, {signed}),")
            w("    }")
        enums = cls.__dict__.get("_btf_enums_", {})
        if enums:
            w("    _btf_enums_ = {")
            for n, e in enums.items():
                w(f"        {n!r}: {self.enum_names[e]},")
            w("    }")
        w(f"    _btf_cname_ = {cls._btf_cname_!r}")
        fields = {f[0]: f[1] for f in cls._fields_}
        self.builtins_prefix = ""
        if _BUILTIN_HINTS & set(_exposed(cls)):
            # a member named like a builtin shadows it in the class body's annotations
            self.builtins_prefix = "builtins."
            self.need_builtins = True
        hints: list[str] = []
        for mname, kind in cls._btf_members_:
            if kind == "f":
                if mname.isidentifier() and not keyword.iskeyword(mname):
                    hints.append(f"    {mname}: {self.hint(fields[mname], enums.get(mname))}")
            elif kind == "b":
                if mname.isidentifier() and not keyword.iskeyword(mname):
                    hints.append(f"    {mname}: {self.builtins_prefix}int")
            else:
                for iname, ihint in self._anon_hints(fields[mname]):
                    hints.append(f"    {iname}: {ihint}")
        self.builtins_prefix = ""
        if hints:
            w("")
            for h in hints:
                w(h)

    def _anon_hints(self, inner: Any) -> list[tuple[str, str]]:
        out = []
        fields = {f[0]: f[1] for f in inner._fields_}
        enums = inner.__dict__.get("_btf_enums_", {})
        for mname, kind in inner._btf_members_:
            if not mname.isidentifier() or keyword.iskeyword(mname):
                continue
            if kind == "f":
                out.append((mname, self.hint(fields[mname], enums.get(mname))))
            elif kind == "b":
                out.append((mname, self.builtins_prefix + "int"))
            else:
                out.extend(self._anon_hints(fields[mname]))
        return out

    def _var_hint(self, type_id: int) -> str:
        btf = self.btf
        assert btf is not None
        from .btf import Kind
        t = btf.resolve(type_id)
        b = self.builtins_prefix
        if t.kind == Kind.INT and t.encoding & 4:
            return b + "bool"
        if t.kind in (Kind.INT, Kind.PTR, Kind.ENUM, Kind.ENUM64):
            return b + "int"
        if t.kind == Kind.FLOAT:
            return b + "float"
        try:
            ct = btf.ctypes_type(t.id)
        except (TypeError, ValueError):
            return b + "object"
        return self.hint(ct, value=True)

    def _emit_parts(self, w: Any, cls_name: str) -> None:
        obj = self.obj
        btf = self.btf
        # programs
        w("")
        w("")
        w("# -- programs, maps and sections " + "-" * 48)
        w("")
        w("")
        w(f"class {cls_name}Programs(Programs):")
        w(f'    """The programs of ``{self.name}``."""')
        taken: set[str] = set()
        for pname, prog in obj.programs.items():
            attr = _attr(pname, taken)
            w("")
            w("    @property")
            w(f"    def {attr}(self) -> Program:")
            w(f'        """SEC("{prog.section}")"""')
            w(f'        return self._get("{pname}")')
        w("")
        w("")
        w(f"class {cls_name}Maps(Maps):")
        w(f'    """The maps of ``{self.name}``."""')
        taken = set()
        from .btf import _internal_section
        for mname, m in obj.maps.items():
            section = _internal_section(m) if m.is_internal else None
            w("")
            w("    @property")
            if section is not None:
                attr = _attr(section.lstrip(".").replace(".", "_"), taken)
                w(f"    def {attr}(self) -> Map:")
                w(f'        """The global-data map of section {section}."""')
                w(f'        return self._section("{section}")')
            else:
                attr = _attr(mname, taken)
                w(f"    def {attr}(self) -> Map:")
                w(f'        """{m.type.libbpf_name} map {mname!r}."""')
                w(f'        return self._get("{mname}")')
        sections: dict[str, list[Any]] = {}
        if btf is not None:
            for var in btf.variables():
                if any(var.section == p or var.section.startswith(p + ".")
                       for p in _SECTION_PREFIXES):
                    sections.setdefault(var.section, []).append(var)
        section_attrs: list[tuple[str, str]] = []
        taken_sections: set[str] = set()
        seen_vars: set[str] = set()
        for section, vars_ in sections.items():
            attr = _attr(section.lstrip(".").replace(".", "_"), taken_sections)
            sec_cls = f"{cls_name}{_camel(attr)}"
            section_attrs.append((attr, sec_cls))
            w("")
            w("")
            w(f"class {sec_cls}(Section):")
            w(f'    """Global variables of section {section}."""')
            w("")
            w(f'    SECTION = "{section}"')
            vtaken: set[str] = {"map", "SECTION"}
            if _BUILTIN_HINTS & {v.name for v in vars_}:
                self.builtins_prefix = "builtins."
                self.need_builtins = True
            for var in vars_:
                if var.name in seen_vars:
                    continue
                seen_vars.add(var.name)
                vattr = _attr(var.name, vtaken)
                w(f'    {vattr}: Var[{self._var_hint(var.type_id)}] = Var("{var.name}")')
            self.builtins_prefix = ""
        w("")
        w("")
        w(f"class {cls_name}(Skeleton):")
        w(f'    """The BPF object ``{self.name}`` ({self.source_name}).')
        w("")
        w(f"    ``{cls_name}.open()`` -> set ``rodata`` values -> ``load()`` -> "
          "``attach()``; ``close()``.")
        w('    """')
        w("")
        w(f'    NAME: ClassVar[str] = "{self.name}"')
        w("    OBJECT: ClassVar[bytes] = OBJECT")
        if self.class_names:
            w("    TYPES: ClassVar[dict[int, type[ctypes.Structure | ctypes.Union]]] = {")
            for cls, nm in self.class_names.items():
                w(f"        {self.record_ids[cls]}: {nm},")
            w("    }")
        if self.enum_names:
            w("    ENUMS: ClassVar[dict[int, type[enum.IntEnum]]] = {")
            for ecls, nm in self.enum_names.items():
                w(f"        {self.enum_ids[ecls]}: {nm},")
            w("    }")
        w("")
        w("    def __init__(self, obj: Object) -> None:")
        w("        super().__init__(obj)")
        w(f"        self.progs = {cls_name}Programs(obj)")
        w(f"        self.maps = {cls_name}Maps(obj)")
        for attr, sec_cls in section_attrs:
            w(f"        self.{attr} = {sec_cls}(obj)")


def generate(obj_path: str | os.PathLike[str], *, name: str | None = None,
             source_name: str | None = None) -> str:
    """The Python source of a skeleton for the compiled BPF object at ``obj_path``.

    ``name`` is the object's name (default: the file name without ``.bpf.o``/``.o``);
    the skeleton class is ``<Name>Skel``; ``source_name`` is what the header says the
    module was generated from (default: the object's file name).  The object is only
    opened, not loaded."""
    path = os.fspath(obj_path)
    with open(path, "rb") as f:
        data = f.read()
    base = os.path.basename(path)
    if name is None:
        name = base
        for suffix in (".bpf.o", ".o"):
            if name.endswith(suffix):
                name = name[:-len(suffix)]
                break
    with Object.open(data, name=name) as obj:
        return _Gen(obj, data, source_name or base, name).emit()

