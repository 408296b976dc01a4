"""A minimal Parquet writer for agents without pyarrow (the sandbox's Python is bare):
string columns, one row group, PLAIN encoding, no compression. The file metadata is
Thrift compact protocol, written by hand (only the types used here)."""

import struct


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zz(n):
    return _varint((n << 1) ^ (n >> 63))


class _Struct:
    """Fields are written in increasing id order: (id, type, value)."""

    I32, I64, BINARY, LIST, STRUCT = 5, 6, 8, 9, 12

    def __init__(self, *fields):
        self.fields = fields

    def encode(self):
        out, last = bytearray(), 0
        for fid, ftype, value in self.fields:
            delta = fid - last
            out += bytes([(delta << 4) | ftype]) if 0 < delta <= 15 else bytes([ftype]) + _zz(fid)
            out += _value(ftype, value)
            last = fid
        return bytes(out + b"\x00")


def _value(ftype, value):
    if ftype in (_Struct.I32, _Struct.I64):
        return _zz(value)
    if ftype == _Struct.BINARY:
        data = value.encode() if isinstance(value, str) else value
        return _varint(len(data)) + data
    if ftype == _Struct.STRUCT:
        return value.encode()
    etype, elems = value  # LIST
    head = bytes([(len(elems) << 4) | etype]) if len(elems) < 15 else bytes([0xF0 | etype]) + _varint(len(elems))
    return head + b"".join(_value(etype, e) for e in elems)


def parquet_bytes(rows):
    """rows: list of dicts with the same string-valued keys."""
    S = _Struct
    names = list(rows[0])
    out = bytearray(b"PAR1")
    chunks = []
    for name in names:
        page = b"".join(struct.pack("<I", len(v)) + v for v in (str(r[name]).encode() for r in rows))
        header = S((1, S.I32, 0), (2, S.I32, len(page)), (3, S.I32, len(page)),
                   (5, S.STRUCT, S((1, S.I32, len(rows)), (2, S.I32, 0), (3, S.I32, 3), (4, S.I32, 3)))).encode()
        offset = len(out)
        out += header + page
        meta = S((1, S.I32, 6), (2, S.LIST, (S.I32, [0, 3])), (3, S.LIST, (S.BINARY, [name])), (4, S.I32, 0),
                 (5, S.I64, len(rows)), (6, S.I64, len(header) + len(page)), (7, S.I64, len(header) + len(page)),
                 (9, S.I64, offset))
        chunks.append((S((2, S.I64, offset), (3, S.STRUCT, meta)), len(header) + len(page)))
    schema = [S((4, S.BINARY, "schema"), (5, S.I32, len(names)))]
    schema += [S((1, S.I32, 6), (3, S.I32, 0), (4, S.BINARY, n), (6, S.I32, 0)) for n in names]
    group = S((1, S.LIST, (S.STRUCT, [c for c, _ in chunks])), (2, S.I64, sum(n for _, n in chunks)),
              (3, S.I64, len(rows)))
    footer = S((1, S.I32, 1), (2, S.LIST, (S.STRUCT, schema)), (3, S.I64, len(rows)),
               (4, S.LIST, (S.STRUCT, [group]))).encode()
    return bytes(out + footer + struct.pack("<I", len(footer)) + b"PAR1")
