"""Check a skops model file as data, before anything in it is built (for :mod:`mpcl_sklearn.io`).

The file's bytes are checked in this order, each step refusing with a ``ValueError`` that names
the problem: the zip directory (entry count, declared sizes against ``max_bytes``, compression
method and ratio), ``schema.json`` (size, nesting depth), then every node of the object tree it
describes: its kind and type name against the allow-list (:mod:`mpcl_sklearn._model_allowlist`,
compared as strings), each array's ``.npy`` header against the size of its entry, and the
parameters that start workers or name external resources. Nothing named by the file is imported,
no array is allocated and no object is built here.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._model_allowlist import (
    LEGACY_NAMES,
    OPAQUE,
    OUR_CLASSES,
    ParameterRule,
    allowed_names,
    canonical,
    locate,
    parameter_rules,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_RATIO",
    "MAX_SCHEMA_VALUES",
    "CheckedFile",
    "check_model_bytes",
]

#: Default bound on the file and on the uncompressed bytes it declares (arrays + schema).
DEFAULT_MAX_BYTES = 1 << 30
#: ``schema.json`` larger than this is refused (real pipelines: 0.9-1.8 MB with the fast
#: features, 13 MB with 15,660 tsfresh features).
MAX_SCHEMA_BYTES = 64 << 20
#: Most JSON values ``schema.json`` may hold, bounded before it is parsed by counting its
#: ``,``, ``[`` and ``{`` bytes (an upper bound on the values, escapes cannot hide them).
#: Parsing costs memory per value, not per byte: 600,000 one-byte leaves in 64 MB took 630 MB
#: and 16 s. Real pipelines: 32,000 (MPCL, 1,040 features) to 228,000 (15,660 tsfresh
#: features); the limit leaves 4x room (about 80 MB once parsed).
MAX_SCHEMA_VALUES = 1_000_000
#: Largest uncompressed/compressed ratio of a deflated ``schema.json`` (real pipelines: 33-46;
#: a schema of repeated nodes compresses ~300:1).
MAX_SCHEMA_RATIO = 200
#: Deepest nesting of ``schema.json`` (JSON containers) accepted (real pipelines: <= 25).
MAX_DEPTH = 100
#: Most zip entries accepted (real pipelines: < 100).
MAX_ENTRIES = 10_000
#: Largest declared uncompressed/compressed ratio of an entry. Deflate cannot exceed ~1032:1
#: (an array of zeros reaches it), so a larger ratio is a header that lies.
MAX_RATIO = 1100
#: skops format versions whose node layout this check knows.
PROTOCOLS = (2,)

#: Every node kind skops 0.1x writes. Kinds outside ``allowed_names()`` need a trusted type.
_LOADERS = frozenset(
    {
        "BytearrayNode",
        "BytesNode",
        "CachedNode",
        "ConstructorFromReduceNode",
        "DTypeNode",
        "DefaultDictNode",
        "DictNode",
        "FunctionNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "MaskedArrayNode",
        "MethodNode",
        "NdArrayNode",
        "ObjectNode",
        "OperatorFuncNode",
        "PartialNode",
        "RandomGeneratorNode",
        "RandomStateNode",
        "SetNode",
        "SliceNode",
        "SparseMatrixNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
        "_DictWithDeprecatedKeysNode",
    }
)
_FILE_LOADERS = frozenset({"NdArrayNode", "BytesNode", "BytearrayNode", "SparseMatrixNode"})


class ModelFileRefused(ValueError):
    """A model file failed a check (malformed, or over a limit); nothing was built."""


@dataclass
class ParameterFinding:
    """A parameter of an allowed class whose value from the file is not inert."""

    cls: str
    param: str
    value: Any
    rule: ParameterRule
    attrs: dict = field(repr=False)

    def describe(self) -> str:
        shown = "<an object>" if self.value is OPAQUE else repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.cls.rpartition('.')[2]}.{self.param}={shown} ({self.rule.why})"


@dataclass
class CheckedFile:
    """The parsed, checked content of a model file (see :func:`check_model_bytes`)."""

    schema: dict
    archive: zipfile.ZipFile
    names: set[str]
    refused: set[str]
    findings: list[ParameterFinding]
    declared_bytes: int
    ours: list[dict]

    def reset_parameters(self) -> list[ParameterFinding]:
        """Write each finding's reset value into the schema; return those that cannot be."""
        stuck = []
        for f in self.findings:
            if f.rule.reset is OPAQUE:
                stuck.append(f)
            else:
                f.attrs[f.param] = _json_node(f.rule.reset)
        self.findings = stuck
        return stuck

    def locate_our_classes(self) -> None:
        """Point the nodes naming our classes at where they live now (legacy names too)."""
        cache: dict[str, str] = {}
        for node in self.ours:
            old = f"{node['__module__']}.{node['__class__']}"
            if old not in cache:
                cache[old] = locate(old)
            new = cache[old]
            if new != old:
                node["__module__"], _, node["__class__"] = new.rpartition(".")
                self.names.discard(old)
                self.names.add(new)

    def to_bytes(self, compression: int = zipfile.ZIP_STORED) -> bytes:
        """A skops file with the (possibly rewritten) schema and the same entries."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=compression) as zout:
            zout.writestr("schema.json", json.dumps(self.schema))
            for info in self.archive.infolist():
                if info.filename != "schema.json":
                    zout.writestr(info.filename, self.archive.read(info))
        return out.getvalue()


def _json_node(value: Any) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def plain_value(node: Any) -> Any:
    """The plain data (None, numbers, strings, lists, dicts) a node holds, else ``OPAQUE``."""
    if not isinstance(node, dict):
        return OPAQUE
    loader = node.get("__loader__")
    content = node.get("content")
    if loader == "JsonNode" and isinstance(content, str):
        try:
            return json.loads(content)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply: not inert
            return OPAQUE
    if loader in ("ListNode", "TupleNode") and isinstance(content, list):
        items = [plain_value(v) for v in content]
        return OPAQUE if any(v is OPAQUE for v in items) else items
    if loader == "DictNode" and isinstance(content, dict):
        items = {k: plain_value(v) for k, v in content.items()}
        return OPAQUE if any(v is OPAQUE for v in items.values()) else items
    return OPAQUE


class _Checker:
    def __init__(self, data: bytes, label: str, trusted: frozenset[str], max_bytes: int):
        self.data = data
        self.label = label
        self.trusted = trusted
        self.max_bytes = max_bytes
        self.budget = 0
        self.npy_checked: set[str] = set()

    # -------------------------------------------------------------------------- errors
    def malformed(self, reason: str) -> ModelFileRefused:
        return ModelFileRefused(f"{self.label} is not a skops model file: {reason}")

    def too_large(self, reason: str) -> ModelFileRefused:
        return ModelFileRefused(
            f"refusing {self.label}: {reason}, over max_bytes={self.max_bytes}; nothing was "
            "loaded. Pass a larger max_bytes if you expect a model this large."
        )

    def refused(self, reason: str) -> ModelFileRefused:
        return ModelFileRefused(f"refusing {self.label}: {reason}; nothing was loaded")

    # -------------------------------------------------------------------------- zip
    def open_archive(self) -> zipfile.ZipFile:
        if len(self.data) > self.max_bytes:
            raise self.too_large(f"the file has {len(self.data)} bytes")
        fp = io.BytesIO(self.data)
        end = getattr(zipfile, "_EndRecData", None)  # the directory's size, before parsing it
        if end is not None:
            try:
                record = end(fp)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise self.malformed(f"not a zip archive ({exc})") from None
            if record is None:
                raise self.malformed("not a zip archive")
            if record[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:
                raise self.refused(
                    f"it declares {record[zipfile._ECD_ENTRIES_TOTAL]} zip entries, more than "
                    f"{MAX_ENTRIES}"
                )
            if record[zipfile._ECD_SIZE] > MAX_ENTRIES * 1024:
                raise self.refused(f"its zip directory has {record[zipfile._ECD_SIZE]} bytes")
        try:
            archive = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise self.malformed(f"not a zip archive ({exc})") from None
        self.archive = archive
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise self.refused(f"it has {len(infos)} zip entries, more than {MAX_ENTRIES}")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise self.malformed("an entry name appears twice in the zip directory")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise self.malformed(f"entry {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.malformed(
                    f"entry {info.filename!r} uses compression method {info.compress_type} "
                    "(only stored and deflate are accepted)"
                )
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise self.malformed(f"stored entry {info.filename!r} declares two sizes")
            if info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise self.refused(
                    f"entry {info.filename!r} declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed (ratio over {MAX_RATIO}: a zip bomb or "
                    "a header that lies)"
                )
            total += info.file_size
        if total > self.max_bytes:
            raise self.too_large(f"its entries declare {total} uncompressed bytes")
        return archive

    def read_schema(self, archive: zipfile.ZipFile) -> dict:
        try:
            info = archive.getinfo("schema.json")
        except KeyError:
            raise self.malformed("no schema.json in the archive") from None
        limit = min(MAX_SCHEMA_BYTES, self.max_bytes)
        if info.file_size > limit:
            raise self.refused(f"schema.json declares {info.file_size} bytes, over {limit}")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_SCHEMA_RATIO * max(
            info.compress_size, 1
        ):
            raise self.refused(
                f"schema.json declares {info.file_size} bytes from {info.compress_size} "
                f"compressed (ratio over {MAX_SCHEMA_RATIO}: real schemas compress less than "
                "50:1, repeated nodes ~300:1)"
            )
        self.budget += info.file_size
        try:
            raw = self.read_bounded(archive, info)
            schema = json.loads(raw)
        except RecursionError:
            raise self.refused(f"schema.json is nested deeper than {MAX_DEPTH} levels") from None
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise self.malformed(f"unreadable schema.json ({exc})") from None
        if not isinstance(schema, dict):
            raise self.malformed("schema.json is not an object")
        protocol = schema.get("protocol")
        if type(protocol) is not int or protocol not in PROTOCOLS:
            raise self.malformed(
                f"skops protocol {protocol!r}; this version of mpcl_sklearn checks protocol(s) "
                f"{list(PROTOCOLS)}"
            )
        return schema

    def read_bounded(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """``schema.json``'s bytes, refused once they hold more than
        :data:`MAX_SCHEMA_VALUES` JSON values (counted while inflating, before parsing)."""
        chunks, values = [], 0
        with archive.open(info) as fh:  # zipfile stops at the declared size
            while chunk := fh.read(1 << 20):
                values += chunk.count(b",") + chunk.count(b"[") + chunk.count(b"{")
                if values > MAX_SCHEMA_VALUES:
                    raise self.refused(
                        f"schema.json holds more than {MAX_SCHEMA_VALUES} JSON values (real "
                        "pipelines: under 250,000)"
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    # -------------------------------------------------------------------------- arrays
    def check_npy(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        """The ``.npy`` header's shape x itemsize must be exactly the entry's data size."""
        if info.filename in self.npy_checked:
            return
        where = f"array {info.filename!r}"
        try:
            with archive.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"npy format version {version} is not accepted")
                header = fh.tell()
        except (ValueError, TypeError, EOFError, OSError, SyntaxError, zipfile.BadZipFile) as exc:
            raise self.malformed(f"{where}: bad .npy header ({exc})") from None
        if dtype.hasobject:
            raise self.malformed(f"{where} has an object dtype")
        if not all(type(n) is int and n >= 0 for n in shape):
            raise self.malformed(f"{where} declares the shape {shape!r}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.max_bytes:
            raise self.too_large(f"{where} declares shape {shape} of {dtype} ({nbytes} bytes)")
        if header + nbytes != info.file_size:
            raise self.malformed(
                f"{where} declares shape {shape} of {dtype} ({nbytes} bytes) but its entry "
                f"holds {info.file_size - header} bytes of data"
            )
        self.npy_checked.add(info.filename)

    # -------------------------------------------------------------------------- tree
    def walk(self, schema: dict, archive: zipfile.ZipFile) -> CheckedFile:
        allowed = allowed_names()
        ours_known = set(OUR_CLASSES) | set(LEGACY_NAMES)
        entries = {i.filename: i for i in archive.infolist()}
        referenced: set[str] = set()
        names: set[str] = set()
        refused: set[str] = set()
        objects: list[tuple[str, dict]] = []
        ours: list[dict] = []
        stack: list[tuple[Any, int]] = [(schema, 1)]
        while stack:
            obj, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise self.refused(f"schema.json is nested deeper than {MAX_DEPTH} levels")
            if isinstance(obj, list):
                stack.extend((v, depth + 1) for v in obj if isinstance(v, (dict, list)))
                continue
            if "__loader__" in obj:
                if self.node(obj, allowed, entries, referenced, names, refused, objects):
                    continue  # a JSON leaf
                name = f"{obj['__module__']}.{obj['__class__']}"
                if name in ours_known and obj["__loader__"] == "ObjectNode":
                    ours.append(obj)
            stack.extend((v, depth + 1) for v in obj.values() if isinstance(v, (dict, list)))
        extra = set(entries) - referenced - {"schema.json"}
        if extra:
            raise self.malformed(f"entries not referenced by schema.json: {sorted(extra)[:5]}")
        findings = self.parameters(objects, refused)
        return CheckedFile(schema, archive, names, refused, findings, self.budget, ours)

    def node(self, obj, allowed, entries, referenced, names, refused, objects) -> bool:
        """Check one node; True for JSON leaves (nothing below them to walk)."""
        loader = obj["__loader__"]
        if not isinstance(loader, str) or loader not in _LOADERS:
            raise self.malformed(f"unknown node kind {loader!r}")
        if loader == "CachedNode":
            raise self.malformed("cross-references between objects (CachedNode) are not accepted")
        # skops reuses the first node with a given __id__ for every later one: without ids,
        # every node is built from its own content, the content checked here
        obj.pop("__id__", None)
        if loader == "JsonNode":
            if not isinstance(obj.get("content"), str):
                raise self.malformed("a JSON node without a string content")
            return True
        module, cls = obj.get("__module__"), obj.get("__class__")
        if not (isinstance(module, str) and isinstance(cls, str) and module and cls):
            raise self.malformed(f"a {loader} without a type name")
        name = f"{module}.{cls}"
        names.add(name)
        if name not in self.trusted and name not in allowed.get(loader, ()):
            refused.add(name)
        if loader == "ObjectNode":
            objects.append((name, obj))
        if loader == "NdArrayNode" and obj.get("type") not in ("numpy", "json"):
            raise self.malformed(f"array node of type {obj.get('type')!r}")
        if loader in _FILE_LOADERS and (loader != "NdArrayNode" or obj["type"] == "numpy"):
            fname = obj.get("file")
            if not isinstance(fname, str) or fname not in entries or fname == "schema.json":
                raise self.malformed(f"a {loader} refers to a missing entry {fname!r}")
            info = entries[fname]
            referenced.add(fname)
            self.budget += info.file_size  # every reference is built anew
            if self.budget > self.max_bytes:
                raise self.too_large(f"its arrays add up to more than {self.max_bytes} bytes")
            if loader == "NdArrayNode":
                self.check_npy(self.archive, info)
        return False

    def parameters(self, objects, refused) -> list[ParameterFinding]:
        rules_by_class = parameter_rules()
        allowed_objects = allowed_names()["ObjectNode"]
        findings = []
        for name, obj in objects:
            if name in refused or name not in allowed_objects:
                continue  # refused anyway, or trusted by the caller: theirs to vouch for
            content = obj.get("content")
            if content is None:
                continue
            attrs = content.get("content") if isinstance(content, dict) else None
            if content.get("__loader__") != "DictNode" or not isinstance(attrs, dict):
                raise self.malformed(f"the state of {name} is not a dict")
            for param, rule in rules_by_class.get(canonical(name), {}).items():
                if param not in attrs:
                    continue
                value = plain_value(attrs[param])
                if value is OPAQUE or not rule.inert(value):
                    findings.append(ParameterFinding(canonical(name), param, value, rule, attrs))
        return findings


def check_model_bytes(
    data: bytes,
    *,
    label: str,
    trusted: frozenset[str] = frozenset(),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CheckedFile:
    """Check the bytes of a skops file; raise :class:`ModelFileRefused` on any problem.

    ``trusted``: type names accepted besides the allow-list. Types outside both are reported in
    ``refused`` (not raised), parameters that are not inert in ``findings``.
    """
    checker = _Checker(data, label, trusted, max_bytes)
    archive = checker.open_archive()
    schema = checker.read_schema(archive)
    return checker.walk(schema, archive)
