"""Tests for hebbian.rds (on hand-built R serializations) and hebbian.corpus."""

import gzip
import struct
import zlib

import pytest
from conftest import require_corpus

from hebbian import corpus, rds

# --- hand-written XDR serializations, byte for byte as R writes them ----------

UTF8, LATIN1, ASCII = 1 << 3, 1 << 2, 1 << 6
ATTR, TAG = 0x200, 0x400


def i32(*values):
    return b"".join(struct.pack(">i", v) for v in values)


def header(version=3):
    head = b"X\n" + i32(version, 0x040201, 0x030500)
    return head + i32(5) + b"UTF-8" if version == 3 else head


def char(s, level=UTF8):
    if s is None:
        return i32(9, -1)
    raw = s.encode("latin-1" if level == LATIN1 else "utf-8")
    return i32(9 | level << 12, len(raw)) + raw


def strsxp(values, flags=0):
    return i32(16 | flags, len(values)) + b"".join(char(v) for v in values)


def symbol(name):
    return i32(1) + char(name, ASCII)


def ref(index):
    return i32(255 | index << 8)


def attrs(*cells):
    """A pairlist of (tag bytes, value bytes) cells, ended by NILVALUE."""
    return b"".join(i32(2 | TAG) + tag + value for tag, value in cells) + i32(254)


def test_string_vector_with_attributes_gzip_v3():
    body = i32(16 | ATTR, 3) + char("x") + char(None) + char("café", LATIN1)
    body += attrs((symbol("names"), strsxp(["a", "b", "c"])), (symbol("note"), strsxp(["hi"])))
    value = rds.loads(gzip.compress(header(3) + body))
    assert value == ["x", None, "café"]
    assert value.attrs == {"names": ["a", "b", "c"], "note": ["hi"]}
    assert value.named() == {"a": "x", "b": None, "c": "café"}


def test_numeric_list_with_symbol_reference_v2():
    ints = i32(13 | ATTR, 2, 7, -(2**31)) + attrs((symbol("names"), strsxp(["p", "q"])))
    reals = i32(14, 2) + struct.pack(">2d", 1.5, -2.0)
    logic = i32(10 | ATTR, 3, 1, 0, -(2**31)) + attrs((ref(1), strsxp(["t", "f", "na"])))
    value = rds.loads(header(2) + i32(19, 3) + ints + reals + logic)
    assert value == [[7, None], [1.5, -2.0], [True, False, None]]
    assert value[0].attrs["names"] == ["p", "q"]
    assert value[2].attrs["names"] == ["t", "f", "na"]  # via REFSXP to the symbol `names`
    assert rds.loads(header() + i32(254)) is None


def test_unsupported_type_and_bad_header_raise():
    with pytest.raises(rds.RDSError, match="SEXPTYPE 4"):
        rds.loads(header() + i32(4))  # an environment
    with pytest.raises(rds.RDSError, match="XDR"):
        rds.loads(b"A\n" + i32(3))
    with pytest.raises(rds.RDSError, match="truncated"):
        rds.loads(header() + i32(16, 2) + char("only one"))


def test_lazyload_database(tmp_path):
    blob = header() + strsxp(["first line", "second line"])
    entry = struct.pack(">I", len(blob)) + zlib.compress(blob)
    (tmp_path / "Rdata.rdb").write_bytes(entry)
    location = i32(13, 2, 0, len(entry))
    index = i32(19 | ATTR, 3) + i32(19 | ATTR, 1) + location
    index += attrs((symbol("names"), strsxp(["novel"])))
    index += i32(19, 0) + i32(10, 1, 1)
    index += attrs((ref(1), strsxp(["variables", "references", "compressed"])))
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(header() + index))
    assert rds.lazyload(tmp_path / "Rdata.rdb") == {"novel": ["first line", "second line"]}


# --- Shakespeare conversion --------------------------------------------------

PLAY = """# A Play

## ACT I

### SCENE I. A room.

_Enter ROMEO and
BENVOLIO_

**ROMEO**$
_\\[Aside]_$
Is the day so young?\\--

_Exit BENVOLIO_

But _\\[ ]_ new struck nine.

**BENVOLIO**$
Ay me! sad hours seem long.
RICHARD

**PLANTAGENET**$
SONG.$
A rose.

_Exeunt_

SONG.

### SCENE II. Elsewhere.

stray text.

BISHOP

**OF WINCHESTER**$
Amen.
""".replace("$\n", "  \n")  # markdown hard line breaks


def test_play_speeches_tiny_shakespeare_layout():
    assert corpus.play_speeches(PLAY) == [
        "ROMEO:\nIs the day so young?--\nBut new struck nine.",
        "BENVOLIO:\nAy me! sad hours seem long.",
        "RICHARD PLANTAGENET:\nA rose.",
        "BISHOP OF WINCHESTER:\nAmen.",
    ]


# --- load / available / paragraphs / install on a scratch folder --------------


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "austen").mkdir()
    (tmp_path / "austen" / "b.txt").write_text("Second novel.\n", encoding="utf-8")
    (tmp_path / "austen" / "a.txt").write_text(
        "Short.\n\nA long\nparagraph here.\n", encoding="utf-8"
    )
    (tmp_path / "plays.txt").write_text("X:\nhi\n", encoding="utf-8")
    return tmp_path


def test_available_load_and_paragraphs(scratch):
    assert corpus.available(scratch) == ["austen", "austen/a", "austen/b", "plays"]
    joined = "Short.\n\nA long\nparagraph here.\n\n\nSecond novel.\n"
    assert corpus.load("austen", scratch) == joined
    assert list(corpus.paragraphs("austen", min_chars=10, root=scratch)) == [
        "A long paragraph here.",
        "Second novel.",
    ]


def test_missing_corpus_raises_with_setup_hint(scratch):
    with pytest.raises(FileNotFoundError, match="make setup") as err:
        corpus.load("austen/nope", scratch)
    assert "\n" not in str(err.value)


def test_install_is_idempotent_and_skips_what_it_cannot_build(tmp_path, monkeypatch, capsys):
    built = []

    def build(root):
        built.append(root)
        (root / "good.txt").write_text("text\n", encoding="utf-8")

    def unavailable(root):
        raise corpus.CorpusUnavailable("needs apt-get")

    sources = {"good": (build, ("good.txt",)), "bad": (unavailable, ("bad.txt",))}
    monkeypatch.setattr(corpus, "_SOURCES", sources)
    assert corpus.install(tmp_path, quiet=True) == ["good"]
    assert corpus.install(tmp_path, quiet=True) == ["good"]
    assert built == [tmp_path]
    assert "skipped bad: needs apt-get" in capsys.readouterr().err


def test_austen_without_apt_get_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus.shutil, "which", lambda _name: None)
    with pytest.raises(corpus.CorpusUnavailable, match="apt-get"):
        corpus._install_austen(tmp_path)


# --- the real corpora, where set-up installed them ---------------------------


def test_austen_novels():
    require_corpus("austen")
    assert {f"austen/{slug}" for slug in corpus.AUSTEN_NOVELS} <= set(corpus.available())
    pride = corpus.load("austen/prideprejudice")
    assert "It is a truth universally acknowledged" in "\n".join(pride.splitlines()[:20])
    assert len(pride.split()) > 100_000
    assert len(corpus.load("austen").split()) > 700_000


def test_shakespeare_text():
    text = require_corpus("shakespeare")
    assert len(text) > 1_000_000
    assert "\nROMEO:\n" in text and "\nFirst Citizen:\n" in text
    assert not any(mark in text for mark in ("**", "_", "\\"))
