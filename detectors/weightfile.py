"""Model weight files by structure: the tensor table of a safetensors, GGUF, NumPy or
PyTorch (zip) file, read from its header only, as a stream from byte 0.

Nothing here executes or unpickles anything: PyTorch's ``data.pkl`` is walked opcode by
opcode (``pickletools.genops``) by a small symbolic machine that knows the shapes torch
writes (``_rebuild_tensor_v2`` calls on persistent storage ids) and gives up, with a note,
on anything else. Every header is bounded (``max_header``); a file that exceeds a bound
or does not parse ends with ``failed`` set, never with a silent partial table.

    sc = LayoutScanner()
    for chunk in stream: new = sc.feed(chunk)    # TensorSpecs with absolute byte ranges
    sc.format, sc.metadata, sc.notes, sc.done, sc.failed

Shared by the proxy addon (bodies as they stream), the file monitor (files as they are
hashed), ``ptaudit fingerprint`` and grading's model-directory checks.
"""

from __future__ import annotations

import ast
import json
import pickletools
import re
import struct
from dataclasses import dataclass, field
from typing import Any

MAX_HEADER = 100 << 20  # safetensors' own reader refuses larger headers
MAX_PICKLE = 64 << 20  # data.pkl of a state dict: ~100 bytes per tensor
MAX_TENSORS = 200_000
MAX_META_VALUE = 256

# safetensors dtype -> bytes per element
ST_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E4M3FN": 1, "F8_E8M0": 1,
             "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8,
             "U64": 8, "C64": 8}

# torch storage class -> (dtype name as in safetensors, bytes per element)
TORCH_STORAGES = {"FloatStorage": ("F32", 4), "DoubleStorage": ("F64", 8), "HalfStorage": ("F16", 2),
                  "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4),
                  "ShortStorage": ("I16", 2), "CharStorage": ("I8", 1), "ByteStorage": ("U8", 1),
                  "BoolStorage": ("BOOL", 1), "ComplexFloatStorage": ("C64", 8),
                  "ComplexDoubleStorage": ("C128", 16), "UntypedStorage": ("U8", 1),
                  "Float8_e4m3fnStorage": ("F8_E4M3", 1), "Float8_e5m2Storage": ("F8_E5M2", 1)}

# GGUF (ggml) tensor type id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
}

FORMATS = ("safetensors", "gguf", "numpy", "pytorch-zip", "pickle")


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: where its bytes are in the file (absolute offsets, end exclusive)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


class NeedMore(Exception):
    """The buffer ends before the structure does."""


class BadFile(Exception):
    """Not a well-formed file of the format it claims to be."""


def detect(head: bytes) -> str | None:
    """Weights format of a stream from its first bytes (16 suffice), or None."""
    if len(head) >= 10 and head[8:9] == b"{" and head[9:10] in (b'"', b"}", b" ", b"\n"):
        (n,) = struct.unpack_from("<Q", head)
        if 2 <= n < 1 << 40:  # the header bound is checked by the parser, with a reason
            return "safetensors"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(b"PK\x03\x04"):
        return "pytorch-zip"  # confirmed (or refused) once the first member's name is read
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return None


def _prod(shape: tuple[int, ...] | list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _meta_value(v: Any) -> str | None:
    if isinstance(v, bool | int | float):
        return str(v)
    if isinstance(v, str):
        return v if len(v) <= MAX_META_VALUE else v[:MAX_META_VALUE] + "…"
    return None


# -- safetensors -------------------------------------------------------------------------
def parse_safetensors(buf: bytes | memoryview, max_header: int = MAX_HEADER) -> tuple[list[TensorSpec], dict[str, str], list[str]]:
    """Tensor table of a safetensors file from its first bytes. Raises NeedMore / BadFile."""
    if len(buf) < 8:
        raise NeedMore
    (n,) = struct.unpack_from("<Q", buf)
    if n > max_header:
        raise BadFile(f"safetensors header of {n} bytes is over the {max_header} byte bound")
    if len(buf) < 8 + n:
        raise NeedMore
    try:
        hdr = json.loads(bytes(buf[8:8 + n]))
    except ValueError as exc:
        raise BadFile(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(hdr, dict):
        raise BadFile("safetensors header is not a JSON object")
    base, notes = 8 + n, []
    meta: dict[str, str] = {}
    raw_meta = hdr.pop("__metadata__", None)
    if isinstance(raw_meta, dict):
        for k, v in list(raw_meta.items())[:64]:
            if (s := _meta_value(v)) is not None:
                meta[str(k)[:128]] = s
    tensors: list[TensorSpec] = []
    for name, t in hdr.items():
        if not isinstance(t, dict):
            raise BadFile(f"safetensors entry {name!r} is not an object")
        dtype, shape, offs = t.get("dtype"), t.get("shape"), t.get("data_offsets")
        if (not isinstance(dtype, str) or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) and o >= 0 for o in offs)
                or offs[1] < offs[0]):
            raise BadFile(f"safetensors entry {name!r} has a malformed dtype, shape or data_offsets")
        size = ST_DTYPES.get(dtype)
        if size is not None and _prod(shape) * size != offs[1] - offs[0]:
            notes.append(f"{name}: {offs[1] - offs[0]} bytes for {dtype}{shape}")
        elif size is None and len(notes) < 20:
            notes.append(f"{name}: unknown dtype {dtype}")
        tensors.append(TensorSpec(str(name), dtype, tuple(shape), base + offs[0], base + offs[1]))
    if len(tensors) > MAX_TENSORS:
        raise BadFile(f"{len(tensors)} tensors is over the {MAX_TENSORS} bound")
    return tensors, meta, notes[:20]


# -- NumPy .npy ----------------------------------------------------------------------------
_NP_DTYPES = {"f4": "F32", "f8": "F64", "f2": "F16", "i8": "I64", "i4": "I32", "i2": "I16", "i1": "I8",
              "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL"}


def parse_npy(buf: bytes | memoryview) -> tuple[list[TensorSpec], dict[str, str], list[str]]:
    if len(buf) < 10:
        raise NeedMore
    major = buf[6]
    if major == 1:
        (hlen,), hstart = struct.unpack_from("<H", buf, 8), 10
    elif major in (2, 3):
        if len(buf) < 12:
            raise NeedMore
        (hlen,), hstart = struct.unpack_from("<I", buf, 8), 12
    else:
        raise BadFile(f"npy version {major} is not known")
    if hlen > 1 << 20:
        raise BadFile("npy header over 1 MiB")
    if len(buf) < hstart + hlen:
        raise NeedMore
    try:
        d = ast.literal_eval(bytes(buf[hstart:hstart + hlen]).decode("latin-1"))  # literals only: safe
        descr, shape, fortran = d["descr"], tuple(d["shape"]), d["fortran_order"]
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise BadFile(f"npy header unreadable: {exc}") from None
    if not isinstance(descr, str) or not all(isinstance(x, int) and x >= 0 for x in shape):
        raise BadFile("npy header: structured dtypes are not weights")
    code = descr.lstrip("<>|=")
    dtype = _NP_DTYPES.get(code, code)
    size = int(code[1:]) if code[1:].isdigit() else 0
    start = hstart + hlen
    notes = ["fortran order"] if fortran else []
    if descr.startswith(">"):
        notes.append("big-endian")
    return [TensorSpec("array", dtype, shape, start, start + _prod(shape) * size)], {}, notes


# -- GGUF --------------------------------------------------------------------------------
class _Reader:
    def __init__(self, buf: bytes | memoryview, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, n: int) -> bytes | memoryview:
        if self.pos + n > len(self.buf):
            raise NeedMore
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise NeedMore
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def string(self, limit: int = 1 << 20) -> str:
        n = self.u("<Q")
        if n > limit:
            raise BadFile(f"GGUF string of {n} bytes")
        return bytes(self.take(n)).decode("utf-8", "replace")


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _gguf_value(r: _Reader, vtype: int) -> Any:
    if vtype in _GGUF_SCALARS:
        return r.u(_GGUF_SCALARS[vtype])
    if vtype == 8:
        return r.string()
    if vtype == 9:
        etype, count = r.u("<I"), r.u("<Q")
        if count > 1 << 28:
            raise BadFile(f"GGUF array of {count} items")
        if etype in _GGUF_SCALARS:
            r.take(struct.calcsize(_GGUF_SCALARS[etype]) * count)
        else:
            for _ in range(count):
                _gguf_value(r, etype)
        return f"[{count} items]"
    raise BadFile(f"GGUF value type {vtype} is not known")


def parse_gguf(buf: bytes | memoryview, max_header: int = MAX_HEADER) -> tuple[list[TensorSpec], dict[str, str], list[str]]:
    r = _Reader(buf, 4)
    version = r.u("<I")
    if version not in (2, 3):
        raise BadFile(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors, n_kv = r.u("<Q"), r.u("<Q")
    if n_tensors > MAX_TENSORS or n_kv > 1 << 20:
        raise BadFile(f"GGUF header claims {n_tensors} tensors and {n_kv} keys")
    meta: dict[str, str] = {}
    alignment = 32
    for _ in range(n_kv):
        key = r.string(1 << 16)
        val = _gguf_value(r, r.u("<I"))
        if key == "general.alignment" and isinstance(val, int) and val > 0:
            alignment = val
        if len(meta) < 64 and (s := _meta_value(val)) is not None:
            meta[key[:128]] = s
        if r.pos > max_header:
            raise BadFile(f"GGUF header over {max_header} bytes")
    infos: list[tuple[str, list[int], int, int]] = []
    for _ in range(n_tensors):
        name = r.string(1 << 16)
        nd = r.u("<I")
        if nd > 8:
            raise BadFile(f"GGUF tensor {name!r} has {nd} dimensions")
        dims = [r.u("<Q") for _ in range(nd)]
        infos.append((name, dims, r.u("<I"), r.u("<Q")))
        if r.pos > max_header:
            raise BadFile(f"GGUF header over {max_header} bytes")
    data = -(-r.pos // alignment) * alignment
    order = sorted(range(len(infos)), key=lambda i: infos[i][3])
    tensors: list[TensorSpec] = []
    notes: list[str] = []
    for j, i in enumerate(order):
        name, dims, ttype, off = infos[i]
        spec = GGML_TYPES.get(ttype)
        if spec is not None:
            size = _prod(dims) // spec[1] * spec[2]
        elif j + 1 < len(order):  # an unknown type: it ends where the next tensor starts
            size = infos[order[j + 1]][3] - off
            notes.append(f"{name}: ggml type {ttype} unknown, size taken from the next offset")
        else:
            raise BadFile(f"GGUF tensor {name!r}: ggml type {ttype} unknown and last in the file")
        # GGUF lists dims fastest-first; report them as a PyTorch-style shape
        tensors.append(TensorSpec(name, spec[0] if spec else f"ggml{ttype}", tuple(reversed(dims)),
                                  data + off, data + off + size))
    return tensors, meta, notes[:20]


# -- PyTorch: data.pkl without unpickling -------------------------------------------------
@dataclass
class _Global:
    module: str
    name: str


@dataclass
class _Call:
    fn: Any
    args: Any


@dataclass
class _PersId:
    pid: Any


_MARK = object()


class PickleRefused(BadFile):
    pass


def walk_pickle(data: bytes | memoryview, max_ops: int = 20_000_000) -> Any:
    """Evaluate a pickle symbolically: containers and literals become Python values, GLOBAL
    becomes _Global, REDUCE/NEWOBJ a _Call, persistent ids _PersId. Nothing is imported or
    called. Opcodes outside this subset raise PickleRefused."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    marks: list[int] = []

    def pop_mark() -> list[Any]:
        i = marks.pop()
        items = stack[i:]
        del stack[i:]
        return items

    for n, (op, arg, _pos) in enumerate(pickletools.genops(bytes(data))):
        if n > max_ops:
            raise PickleRefused("pickle longer than the op bound")
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack[-1] if stack else None
        if name == "MARK":
            marks.append(len(stack))
        elif name in ("EMPTY_DICT",):
            stack.append({})
        elif name in ("EMPTY_LIST",):
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name == "DICT":
            items = pop_mark()
            stack.append(dict(zip(items[::2], items[1::2], strict=False)))
        elif name in ("LIST",):
            stack.append(pop_mark())
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(name[-1])
            items = stack[-k:]
            del stack[-k:]
            stack.append(tuple(items))
        elif name in ("SETITEM",):
            v, k = stack.pop(), stack.pop()
            if isinstance(stack[-1], dict):
                stack[-1][_key(k)] = v
        elif name == "SETITEMS":
            items = pop_mark()
            if isinstance(stack[-1], dict):
                for k, v in zip(items[::2], items[1::2], strict=False):
                    stack[-1][_key(k)] = v
        elif name == "APPEND":
            v = stack.pop()
            if isinstance(stack[-1], list):
                stack[-1].append(v)
        elif name == "APPENDS":
            items = pop_mark()
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                      "SHORT_BINSTRING", "BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4",
                      "BINFLOAT", "FLOAT", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
            stack.append(arg)
        elif name == "NONE":
            stack.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(name == "NEWTRUE")
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(int(arg)))
        elif name == "GLOBAL":
            mod, _, nm = str(arg).partition(" ")
            stack.append(_Global(mod, nm))
        elif name == "STACK_GLOBAL":
            nm, mod = stack.pop(), stack.pop()
            stack.append(_Global(str(mod), str(nm)))
        elif name == "REDUCE":
            args = stack.pop()
            fn = stack.pop()
            # OrderedDict() is filled by SETITEMS afterwards: make it the dict it becomes
            stack.append({} if isinstance(fn, _Global) and fn.name == "OrderedDict" and args == () else _Call(fn, args))
        elif name == "NEWOBJ":
            args = stack.pop()
            stack.append(_Call(stack.pop(), args))
        elif name == "BUILD":
            stack.pop()  # object state (e.g. a module's __dict__): not needed for the table
        elif name == "BINPERSID":
            stack.append(_PersId(stack.pop()))
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        else:
            raise PickleRefused(f"pickle opcode {name} is outside what a state dict uses")
    raise PickleRefused("pickle has no STOP")


def _key(k: Any) -> Any:
    return k if isinstance(k, str | int | float | bool | tuple) or k is None else repr(k)


@dataclass
class TorchTensorRef:
    name: str
    storage_key: str
    storage_type: str
    offset: int  # in elements
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def torch_tensors(obj: Any, notes: list[str], prefix: str = "", depth: int = 0) -> list[TorchTensorRef]:
    """Tensors of an evaluated data.pkl: a (nested) dict of ``_rebuild_tensor_v2`` calls."""
    out: list[TorchTensorRef] = []
    if depth > 8:
        return out
    items: list[tuple[Any, Any]] = []
    if isinstance(obj, dict):
        items = list(obj.items())
    for k, v in items:
        name = f"{prefix}{k}"
        t = _tensor_ref(name, v)
        if t is not None:
            out.append(t)
        elif isinstance(v, dict):
            out += torch_tensors(v, notes, name + ".", depth + 1)
        if len(out) > MAX_TENSORS:
            raise BadFile(f"over {MAX_TENSORS} tensors")
    return out


def _tensor_ref(name: str, v: Any) -> TorchTensorRef | None:
    if isinstance(v, _Call) and isinstance(v.fn, _Global) and v.fn.name.startswith("_rebuild_parameter") \
            and isinstance(v.args, tuple) and v.args:
        v = v.args[0]  # nn.Parameter(tensor)
    if not (isinstance(v, _Call) and isinstance(v.fn, _Global) and v.fn.name in ("_rebuild_tensor_v2", "_rebuild_tensor")):
        return None
    a = v.args if isinstance(v.args, tuple) else ()
    if len(a) < 4 or not isinstance(a[0], _PersId):
        return None
    pid = a[0].pid
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _Global)):
        return None
    shape, stride = a[2], a[3]
    if not (isinstance(a[1], int) and isinstance(shape, tuple) and isinstance(stride, tuple)):
        return None
    return TorchTensorRef(name, str(pid[2]), pid[1].name, a[1], tuple(int(x) for x in shape),
                          tuple(int(x) for x in stride))


def _contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expect = 1
    for d, s in zip(reversed(shape), reversed(stride), strict=False):
        if d != 1 and s != expect:
            return False
        expect *= d
    return True


# -- the streaming scanner ------------------------------------------------------------------------
_DATA_MEMBER = re.compile(r"(?:^|/)data/(\d+)$")
_HDR, _PKL, _DESC, _SEARCH = "header", "pickle", "descriptor", "search"


@dataclass
class _ZipMember:
    name: str
    data_start: int
    size: int | None  # None: ends at a data descriptor we have to find
    descriptor: bool
    zip64: bool


class LayoutScanner:
    """Parses a weights file's structure from a stream that starts at byte 0.

    ``feed`` takes the next bytes in order and returns the tensors discovered that were not
    returned before (absolute byte ranges in the file). For header formats the whole table
    arrives at once; for PyTorch zips each storage's tensors arrive with its member's local
    header, before its bytes. ``done``: nothing more to learn from later bytes. ``failed``:
    why the structure could not be read (the scan stops there, with the tensors so far).
    """

    def __init__(self, max_header: int = MAX_HEADER):
        self.max_header = max_header
        self.format: str | None = None
        self.pos = 0  # bytes consumed
        self.done = False
        self.failed: str | None = None
        self.metadata: dict[str, str] = {}
        self.notes: list[str] = []
        self.tensor_count = 0
        self._buf = bytearray()
        self._next_try = 16
        # zip state: bytes kept for structure (headers, data.pkl, descriptors) start at _carry_at
        self._state = _HDR
        self._carry = bytearray()
        self._carry_at = 0
        self._skip = 0
        self._member: _ZipMember | None = None
        self._storages: dict[str, list[TorchTensorRef]] = {}
        self._storage_size: dict[str, int] = {}
        self._pkl_seen = False

    def _fail(self, why: str) -> None:
        self.failed, self.done = why, True
        self._buf = bytearray()
        self._carry = bytearray()

    def feed(self, chunk: bytes | memoryview) -> list[TensorSpec]:
        """The next bytes of the stream; the tensors they revealed."""
        try:
            return self._feed(chunk)
        except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile input: recorded, never fatal
            self._fail(f"{self.format or 'weights'} parser error at byte {self.pos}: {type(exc).__name__}: {exc}")
            return []

    def _feed(self, chunk: bytes | memoryview) -> list[TensorSpec]:
        if self.done or not chunk:
            return []
        start = self.pos
        self.pos += len(chunk)
        if self.format is None:
            self._buf += chunk
            if len(self._buf) < 16:
                return []
            fmt = detect(bytes(self._buf[:16]))
            if fmt is None:
                self._fail("not a known weights format")
                return []
            self.format = fmt
            if fmt == "pickle":
                self.notes.append("legacy (non-zip) torch/pickle checkpoint: tensor table not read")
                self._fail("legacy pickle checkpoint: not parsed")
                return []
            if fmt == "pytorch-zip":
                data, self._buf = bytes(self._buf), bytearray()
                return self._zip(0, data)
            return self._header(b"")
        if self.format == "pytorch-zip":
            return self._zip(start, chunk)
        return self._header(chunk)

    def finish(self) -> list[TensorSpec]:
        """End of the stream: a short file's header parses now (its tensors are returned); a
        header or member still incomplete is a failure."""
        if self.done:
            return []
        if self.format in ("safetensors", "gguf", "numpy") and self._buf:
            self._next_try = 0
            out = self._header(b"")  # a short file: parse what there is
            if self.done:
                return out
        if self.format is None:
            self._fail("stream too short to tell its format" if self.pos else "empty")
        elif self.format != "pytorch-zip" or self._member is not None or self._skip or self._carry:
            self._fail(f"{self.format} structure cut off at byte {self.pos}")
        else:
            self.done = True
        return []

    # header formats: buffer until the header parses
    def _header(self, chunk: bytes | memoryview) -> list[TensorSpec]:
        self._buf += chunk
        if len(self._buf) < self._next_try:
            return []
        try:
            view = memoryview(self._buf)
            if self.format == "safetensors":
                tensors, meta, notes = parse_safetensors(view, self.max_header)
            elif self.format == "gguf":
                tensors, meta, notes = parse_gguf(view, self.max_header)
            else:
                tensors, meta, notes = parse_npy(view)
        except NeedMore:
            if len(self._buf) > self.max_header:
                self._fail(f"{self.format} header over {self.max_header} bytes")
                return []
            if self.format == "safetensors" and len(self._buf) >= 8:
                self._next_try = 8 + struct.unpack_from("<Q", self._buf)[0]
            elif self.format == "numpy" and len(self._buf) >= 12:
                wide = self._buf[6] != 1
                self._next_try = (12 + struct.unpack_from("<I", self._buf, 8)[0]) if wide else \
                    (10 + struct.unpack_from("<H", self._buf, 8)[0])
            else:
                self._next_try = max(len(self._buf) * 2, 4096)  # re-parse at doubling sizes
            return []
        except BadFile as exc:
            self._fail(str(exc))
            return []
        finally:
            view.release()
        self.metadata, self.notes = meta, notes
        self.done, self._buf = True, bytearray()
        self.tensor_count = len(tensors)
        return tensors

    # PyTorch zip: walk local headers; data/<key> members map to tensors from data.pkl
    def _zip(self, start: int, chunk: bytes | memoryview) -> list[TensorSpec]:
        out: list[TensorSpec] = []
        view, off = memoryview(chunk), 0
        try:
            while not self.done:
                if self._skip and not self._carry:  # member data: pass over it uncopied
                    n = min(self._skip, len(view) - off)
                    off += n
                    self._skip -= n
                    if self._skip:
                        break
                    self._skipped()
                if off < len(view):
                    if not self._carry:
                        self._carry_at = start + off
                    self._carry += view[off:]
                    off = len(view)
                if not self._carry:
                    break
                if self._skip:
                    n = min(self._skip, len(self._carry))
                    self._consume(n)
                    self._skip -= n
                    if self._skip:
                        break
                    self._skipped()
                    continue
                if not self._step(out):
                    if len(self._carry) > MAX_PICKLE + 4096:
                        raise BadFile(f"zip structure over {MAX_PICKLE} bytes at byte {self._carry_at}")
                    break
        except BadFile as exc:
            self._fail(str(exc))
        finally:
            view.release()
        return out

    def _consume(self, n: int) -> bytes:
        head = bytes(self._carry[:n])
        del self._carry[:n]
        self._carry_at += n
        return head

    def _skipped(self) -> None:
        m = self._member
        assert m is not None
        self._member = None
        self._state = _DESC if m.descriptor else _HDR
        self._desc_zip64 = m.zip64

    _desc_zip64 = False

    def _step(self, out: list[TensorSpec]) -> bool:
        """Parse one structure from the carry; False when more bytes are needed."""
        c = self._carry
        if self._state == _HDR:
            if len(c) < 4:
                return False
            sig = bytes(c[:4])
            if sig in (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
                self.done, self._carry = True, bytearray()  # the central directory: every member seen
                return True
            if sig != b"PK\x03\x04":
                raise BadFile(f"zip: no local header at byte {self._carry_at}")
            if len(c) < 30:
                return False
            flags, method = struct.unpack_from("<HH", c, 6)
            csize, _usize, nlen, elen = struct.unpack_from("<IIHH", c, 18)
            if len(c) < 30 + nlen + elen:
                return False
            name = bytes(c[30:30 + nlen]).decode("utf-8", "replace")
            extra = bytes(c[30 + nlen:30 + nlen + elen])
            self._consume(30 + nlen + elen)
            zip64 = csize == 0xFFFFFFFF
            if zip64:
                csize = _zip64_size(extra)
            if not self._pkl_seen and not name.endswith("data.pkl"):
                raise BadFile(f"a zip whose first member is {name!r}: not a torch checkpoint")
            size: int | None = None if (flags & 8 and csize == 0) else csize
            dm = _DATA_MEMBER.search(name)
            if size is None and dm and method == 0:
                size = self._storage_size.get(dm.group(1))
            self._member = _ZipMember(name, self._carry_at, size, bool(flags & 8), zip64)
            if dm and method == 0:
                out += self._storage_tensors(dm.group(1), self._carry_at, size)
            elif dm:
                self.notes.append(f"{name}: compressed storage, not fingerprinted")
            if name.endswith("data.pkl"):
                self._state = _PKL
            elif size is not None:
                self._skip = size
                if not size:
                    self._skipped()
            else:
                self._state = _SEARCH
            return True
        m = self._member
        if self._state == _PKL:
            assert m is not None
            if m.size is not None:
                if len(c) < m.size:
                    return False
                body = self._consume(m.size)
            else:
                end = _pickle_end(c)
                if end is None:
                    return False
                body = self._consume(end)
                m.size = end
            self._parse_pkl(body)
            self._skipped()
            return True
        if self._state == _DESC:
            n = 24 if self._desc_zip64 else 16
            if len(c) < n:
                return False
            if bytes(c[:4]) != b"PK\x07\x08":
                n -= 4  # the signature is optional
            self._consume(n)
            self._state = _HDR
            return True
        # _SEARCH: a member of unknown size ends at a descriptor whose size field equals the
        # bytes since its data started (a chance "PK\7\8" inside the data fails that check)
        assert m is not None
        fmt, dlen = ("<Q", 24) if m.zip64 else ("<I", 16)
        i = 0
        while (j := c.find(b"PK\x07\x08", i)) >= 0:
            if j + dlen > len(c):
                break
            (csize,) = struct.unpack_from(fmt, c, j + 8)
            if csize == self._carry_at + j - m.data_start:
                self._consume(j)
                self._member = None
                self._state, self._desc_zip64 = _DESC, m.zip64
                return True
            i = j + 1
        keep = min(len(c), dlen - 1 if j < 0 else len(c) - j)
        if len(c) - keep <= 0:
            return False
        self._consume(len(c) - keep)
        return False

    def _storage_tensors(self, key: str, data_start: int, size: int | None) -> list[TensorSpec]:
        out = []
        for t in self._storages.get(key, []):
            dtype, isz = TORCH_STORAGES.get(t.storage_type, (t.storage_type, 0))
            if not isz:
                self.notes.append(f"{t.name}: storage type {t.storage_type} unknown")
                continue
            if not _contiguous(t.shape, t.stride):
                self.notes.append(f"{t.name}: non-contiguous view, not fingerprinted")
                continue
            s = data_start + t.offset * isz
            e = s + _prod(t.shape) * isz
            if size is not None and e > data_start + size:
                self.notes.append(f"{t.name}: extends past its storage")
                continue
            out.append(TensorSpec(t.name, dtype, t.shape, s, e))
        self.tensor_count += len(out)
        return out

    def _parse_pkl(self, data: bytes) -> None:
        self._pkl_seen = True
        try:
            obj = walk_pickle(data)
        except (PickleRefused, ValueError, IndexError, KeyError) as exc:
            raise BadFile(f"data.pkl: {exc}") from None
        refs = torch_tensors(obj, self.notes)
        if not refs:
            self.notes.append("data.pkl holds no tensors this reader recognises")
        for t in refs:
            self._storages.setdefault(t.storage_key, []).append(t)
        for key, stype, numel in _storage_numels(obj):
            isz = TORCH_STORAGES.get(stype, ("", 0))[1]
            if isz:
                self._storage_size[key] = numel * isz


def _zip64_size(extra: bytes) -> int:
    i = 0
    while i + 4 <= len(extra):
        hid, n = struct.unpack_from("<HH", extra, i)
        if hid == 1 and n >= 16:
            return struct.unpack_from("<Q", extra, i + 12)[0]  # uncompressed, then compressed
        i += 4 + n
    raise BadFile("zip64 member without its size")


def _pickle_end(buf: bytearray) -> int | None:
    """Offset just past a complete pickle's STOP in ``buf``, or None if it is not complete."""
    try:
        for op, _arg, pos in pickletools.genops(bytes(buf)):
            if op.name == "STOP":
                return int(pos) + 1  # type: ignore[arg-type]
    except ValueError:
        return None
    return None


def _storage_numels(obj: Any, depth: int = 0) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    if depth > 10:
        return out
    if isinstance(obj, _PersId):
        p = obj.pid
        if isinstance(p, tuple) and len(p) >= 5 and p[0] == "storage" and isinstance(p[1], _Global) \
                and isinstance(p[4], int):
            out.append((str(p[2]), p[1].name, p[4]))
    elif isinstance(obj, dict):
        for v in obj.values():
            out += _storage_numels(v, depth + 1)
    elif isinstance(obj, list | tuple):
        for v in obj:
            out += _storage_numels(v, depth + 1)
    elif isinstance(obj, _Call):
        out += _storage_numels(obj.args, depth + 1)
    return out


@dataclass
class Layout:
    """A whole file's table, as ``read_layout`` returns it."""

    format: str | None
    tensors: list[TensorSpec] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: str | None = None


def parse_index(data: bytes) -> dict[str, Any] | None:
    """A sharded checkpoint's index (``*.safetensors.index.json``, ``pytorch_model.bin.index.json``):
    shard file -> number of tensors it holds, or None if ``data`` is not such an index."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict):
        return None
    shards: dict[str, int] = {}
    for shard in wm.values():
        if isinstance(shard, str):
            shards[shard[:256]] = shards.get(shard[:256], 0) + 1
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return {"format": "index", "index": dict(list(shards.items())[:10_000]), "index_tensors": len(wm),
            "metadata": {str(k)[:128]: s for k, v in list(meta.items())[:32] if (s := _meta_value(v)) is not None},
            "complete": True, "tensors": [], "tensors_total": 0, "notes": []}
