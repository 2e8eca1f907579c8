"""The parser's parts answer header questions from an index (``IndexedMessage``): every
answer must be the stdlib's, on real mail and after the parts are changed."""

from __future__ import annotations

import re
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest

from connectors.email.structure import IndexedMessage, parser, raw_values
from tests.support.shared import MISSING_CORPUS, ZAMMAD_CORPUS

DATA = Path(__file__).parent / "data"
NAMES = ("content-type", "Content-Type", "CONTENT-DISPOSITION", "from", "received", "subject",
         "x-missing", "content-transfer-encoding", "message-id", "references")


_TYPE_BEFORE_JUNK = re.compile(r"[^\s;\"'<>()@,:\\/\[\]?=]+/[^\s;\"'<>()@,:\\/\[\]?=]+")


def _type(part: Message, stdlib: bool) -> str:
    """The one answer that differs by design: a type followed by junk without a ``;``
    (``text/plain\n charset="…"``) is that type, where the stdlib answers the whole value."""
    found = part.get_content_type()
    if stdlib and not _TYPE_BEFORE_JUNK.fullmatch(found):
        cut = _TYPE_BEFORE_JUNK.match(found)
        return cut.group() if cut else "text/plain"
    return found


def _answers(msg: Message, stdlib: bool = False) -> list[object]:
    out: list[object] = []
    for part in msg.walk():
        ctype = _type(part, stdlib)
        out.append([
            ctype, ctype.partition("/")[0], part.get_content_charset(),
            part.get_charsets(), part.get_filename(), part.get_boundary(),
            part.get_params(), part.get_params(unquote=False),
            part.get_params(header="content-disposition"), part.get_param("name"),
            part.get_param("charset", "fallback"), part.is_multipart(),
            [(n, part.get(n), part.get(n, "none"), part.get_all(n), n in part,
              raw_values(part, n.lower())) for n in NAMES],
        ])
    return out


def _mail_files() -> list[Path]:
    own = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix in (".eml", ".txt"))
    corpus = sorted(ZAMMAD_CORPUS.rglob("*.eml")) if ZAMMAD_CORPUS.is_dir() else []
    return own + corpus


def test_indexed_parts_answer_as_the_stdlib_on_every_mail_we_have() -> None:
    files = _mail_files()
    assert len(files) > 20
    stdlib = BytesParser(_class=Message, policy=policy.compat32)
    for path in files:
        raw = path.read_bytes()
        ours = parser().parsebytes(raw)
        assert isinstance(ours, IndexedMessage)
        assert _answers(ours) == _answers(stdlib.parsebytes(raw), stdlib=True), path.name


@pytest.mark.skipif(not ZAMMAD_CORPUS.is_dir(), reason=MISSING_CORPUS)
def test_the_zammad_corpus_is_part_of_the_comparison() -> None:
    assert any(p.is_relative_to(ZAMMAD_CORPUS) for p in _mail_files())


RAW = (b"From: a@example.com\r\nContent-Type: text/plain; charset=\"iso-8859-1\"\r\n"
       b"Content-Transfer-Encoding: QUOTED-printable\r\nX-Tag: one\r\nX-Tag: two\r\n\r\n"
       b"Gr=FC=DFe\r\n")


def _both() -> tuple[Message, Message]:
    return (parser().parsebytes(RAW),
            BytesParser(_class=Message, policy=policy.compat32).parsebytes(RAW))


def test_answers_follow_every_change_of_the_headers() -> None:
    changes = [
        lambda m: m.replace_header("content-transfer-encoding", "quoted-printable"),
        lambda m: m.replace_header("Content-Type", "text/html; charset=utf-8"),
        lambda m: m.__setitem__("X-Tag", "three"),
        lambda m: m.__delitem__("x-tag"),
        lambda m: m.set_param("charset", "utf-8"),
        lambda m: m.del_param("charset"),
        lambda m: m.set_type("multipart/mixed"),
        lambda m: m.set_boundary("b-1"),
        lambda m: m.add_header("Content-Disposition", "attachment", filename="a.pdf"),
        lambda m: m.__delitem__("content-type"),
        lambda m: m.set_default_type("message/rfc822"),
    ]
    ours, theirs = _both()
    for change in changes:
        change(ours)
        change(theirs)
        assert _answers(ours) == _answers(theirs)
    assert ours.get_filename() == "a.pdf" and ours.get_boundary() is None
    assert ours.get_all("x-tag") is None and "x-tag" not in ours
    assert ours.get_content_type() == "message/rfc822"


def test_a_caller_changing_a_parameter_list_does_not_change_the_part() -> None:
    ours, _ = _both()
    ours.get_params(unquote=False).append(("x", "y"))
    assert ours.get_param("x") is None
    assert ours.get_content_charset() == "iso-8859-1"
