"""A minimal reader for R's serialization format (XDR binary, versions 2 and 3).

Enough of the format to read plain data: character, integer, double and logical
vectors, lists, attributes (pairlists), symbols and references to them.  R
objects come back as :class:`RVector` (a ``list`` with an ``attrs`` dict), so a
character vector is a list of ``str`` (``None`` for ``NA``).  Anything else
(closures, environments, ALTREP, ...) raises :class:`RDSError`.

:func:`loads` reads one serialized object (gzip-compressed as ``saveRDS``
writes it, or raw); :func:`lazyload` reads a whole lazy-load database, the
``.rdb``/``.rdx`` pair that R packages keep their data sets in.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from pathlib import Path

NILSXP, SYMSXP, LISTSXP, CHARSXP = 0, 1, 2, 9
LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 10, 13, 14, 16, 19
REFSXP, NILVALUE_SXP = 255, 254
NA_INT = -(2**31)
_ENCODINGS = {1 << 3: "utf-8", 1 << 2: "latin-1", 1 << 6: "ascii"}  # CHARSXP level bits
_BYTES = 1 << 1
_ENTRY_CODECS = {  # lazy-load entry codec byte (bzip2/xz databases): R's R_decompress2/3
    b"0": bytes,
    b"1": zlib.decompress,
    b"Z": zlib.decompress,
    b"2": bz2.decompress,
    b"X": lzma.decompress,
}
_MAGIC = {b"\x1f\x8b": gzip.decompress, b"BZh": bz2.decompress, b"\xfd7zXZ": lzma.decompress}


class RDSError(ValueError):
    """The data is not an R serialization this reader understands."""


class RVector(list):
    """An R vector: its elements as a list, plus its attributes by name."""

    def __init__(self, items=(), attrs: dict | None = None):
        super().__init__(items)
        self.attrs = attrs or {}

    def named(self) -> dict:
        """The elements keyed by the ``names`` attribute."""
        return dict(zip(self.attrs["names"], self, strict=True))


class _Reader:
    def __init__(self, data: bytes):
        if data[:2] != b"X\n":
            raise RDSError(f"not an XDR binary R serialization (starts {data[:2]!r})")
        self.data, self.pos, self.refs = data, 2, []
        version = self.int()
        if version not in (2, 3):
            raise RDSError(f"unsupported serialization version {version}")
        self.pos += 8  # R version that wrote it, oldest R that can read it
        self.native = self.take(self.int()).decode("ascii") if version == 3 else "utf-8"

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RDSError("truncated R serialization")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        return n if n != -1 else (self.int() << 32) + struct.unpack(">I", self.take(4))[0]

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & 0x200, flags & 0x400
        if kind in (NILVALUE_SXP, NILSXP):
            return None
        if kind == REFSXP:
            index = flags >> 8 or self.int()
            if not 0 < index <= len(self.refs):
                raise RDSError(f"reference {index} to an object not read yet")
            return self.refs[index - 1]
        if kind == SYMSXP:
            self.refs.append(self.item())
            return self.refs[-1]
        if kind == CHARSXP:
            return self.charsxp(flags >> 12)
        if kind == LISTSXP:
            return self.pairlist(has_attr, has_tag)
        if kind not in (LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP):
            raise RDSError(f"unsupported R object type (SEXPTYPE {kind}) at byte {self.pos - 4}")
        items = self.vector(kind, self.length())
        return RVector(items, self.item() if has_attr else None)

    def vector(self, kind: int, n: int) -> list:
        if kind == REALSXP:
            return list(struct.unpack(f">{n}d", self.take(8 * n)))
        if kind in (STRSXP, VECSXP):
            return [self.item() for _ in range(n)]
        ints = struct.unpack(f">{n}i", self.take(4 * n))
        cast = bool if kind == LGLSXP else int
        return [None if v == NA_INT else cast(v) for v in ints]

    def charsxp(self, levels: int) -> str | bytes | None:
        n = self.int()
        if n == -1:
            return None
        raw = self.take(n)
        if levels & _BYTES:
            return raw
        encoding = next((e for bit, e in _ENCODINGS.items() if levels & bit), self.native)
        return raw.decode(encoding)

    def pairlist(self, has_attr: int, has_tag: int) -> dict:
        """A pairlist (attributes, argument lists) as a dict keyed by tag."""
        out = {}
        while True:
            if has_attr:
                self.item()  # attributes of a pairlist cell: never needed here
            key = self.item() if has_tag else len(out)
            out[key] = self.item()
            flags = self.int()
            if flags & 0xFF != LISTSXP:
                if flags & 0xFF not in (NILVALUE_SXP, NILSXP):
                    raise RDSError(f"improper pairlist ending in SEXPTYPE {flags & 0xFF}")
                return out
            has_attr, has_tag = flags & 0x200, flags & 0x400


def loads(data: bytes):
    """Read one serialized R object from bytes (raw, or gzip/bzip2/xz-compressed)."""
    for magic, decompress in _MAGIC.items():
        if data.startswith(magic):
            data = decompress(data)
            break
    return _Reader(data).item()


def _unpack_blob(blob: bytes, compressed: int) -> bytes:
    """Decompress one lazy-load database entry: a 4-byte length, then the data."""
    if compressed in (2, 3):  # bzip2/xz databases tag each entry with a codec byte
        codec = _ENTRY_CODECS.get(blob[4:5])
        if codec is None:
            raise RDSError(f"unknown lazy-load entry compression {blob[4:5]!r}")
        return codec(blob[5:])
    return zlib.decompress(blob[4:]) if compressed else blob[4:]


def lazyload(rdb: str | Path) -> dict:
    """All variables of an R lazy-load database (``X.rdb`` with its ``X.rdx``)."""
    rdb = Path(rdb)
    index = loads(rdb.with_suffix(".rdx").read_bytes()).named()
    compressed = int(index["compressed"][0])
    data = rdb.read_bytes()
    return {
        name: loads(_unpack_blob(data[offset : offset + size], compressed))
        for name, (offset, size) in index["variables"].named().items()
    }
