"""Bounded fuzzing (runs in CI): the MIME parser on mutated real messages and on random
bytes raises nothing but ``MailParseError``; the search-query parser on any text raises
nothing but its ``QueryError`` (a 400 ``bad_query``); and every query it accepts runs on the
FTS5 backend without an SQLite error (no user text reaches FTS5 as syntax)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.email.errors import MailParseError
from connectors.email.parse import parse_message
from search.fts import FtsBackend
from search.query import ParsedQuery, QueryError, SearchFilters, SearchRequest, parse
from tests.support.shared import ZAMMAD_CORPUS
from timeline.errors import InvalidInput
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ MIME
_SEEDS: list[bytes] = [
    b"From: Erika <erika@example.de>\r\nTo: service@buero.test\r\nSubject: =?utf-8?q?K=C3="
    b"BCndigung?=\r\nMessage-ID: <a@example.de>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\n"
    b"Content-Type: multipart/alternative; boundary=ALT\r\n\r\n--ALT\r\nContent-Type: text/"
    b"plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC"
    b"=DFe, das Dach ist undicht.=\r\n\r\n--ALT\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"\r\n<p>Gr\xc3\xbc\xc3\x9fe, <b>das Dach</b></p><img src=\"cid:x1\">\r\n--ALT--\r\n"
    b"--XYZ\r\nContent-Type: application/pdf; name*=utf-8''Police%20%C3%BC.pdf\r\n"
    b"Content-Disposition: attachment; filename=\"police.pdf\"\r\nContent-Transfer-Encoding:"
    b" base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--XYZ\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: a@b.de\r\nSubject: Fwd\r\n\r\nweitergeleitet\r\n--XYZ--\r\n",
    b"From: max@example.de\r\nSubject: flowed\r\nContent-Type: text/plain; format=flowed; "
    b"charset=\"x-unknown\"\r\n\r\nEine lange \r\nZeile\r\n> zitiert\r\n",
    b"Return-Path: <bounce@example.de>\r\nContent-Type: text/html\r\n\r\n<html><body>"
    b"<script>alert(1)</script>Hallo</body></html>",
]
_HOSTILE = Path(__file__).resolve().parents[1] / "browser" / "data" / "hostile.eml"
if _HOSTILE.is_file():
    _SEEDS.append(_HOSTILE.read_bytes())
if ZAMMAD_CORPUS.is_dir():  # the shared corpus when it is there (a clone has only the above)
    _SEEDS += [p.read_bytes() for p in sorted(ZAMMAD_CORPUS.glob("*.eml"))[:20]]

_SPECIAL = [b"\r\n", b"\r\n\r\n", b"--", b"=?", b"?=", b"boundary=", b"Content-Type: ",
            b"multipart/mixed; boundary=\"", b"charset=", b"\x00", b"\xff\xfe", b"=\r\n",
            b"base64", b"quoted-printable", b";", b"\"", b"<", b">", b"@"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "dup", "cut", "special"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 200))]
        elif action == "dup":
            data[at:at] = data[at:at + draw(st.integers(1, 400))]
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from(_SPECIAL))
    return bytes(data)


def _parses_or_says_why(raw: bytes) -> None:
    try:
        parse_message(raw, max_bytes=1024 * 1024)
    except MailParseError as exc:
        assert exc.reason  # a reason the quarantine can show


@FUZZ
@given(raw=mutated())
def test_mime_parser_on_mutated_real_messages(raw: bytes) -> None:
    _parses_or_says_why(raw)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=2000),
                     st.lists(st.one_of(st.sampled_from(_SPECIAL), st.binary(max_size=20)),
                              max_size=60).map(b"".join)))
def test_mime_parser_on_random_bytes(raw: bytes) -> None:
    _parses_or_says_why(raw)


# ------------------------------------------------------------------ search queries
_QUERY_BITS = ['"', "*", "-", "(", ")", "^", ":", "+", "NEAR", "NEAR(", "OR", "AND", "NOT",
               "{", "}", "[", "]", "'", "\\", "body:", "Kündigung", "straße", "ß", "a",
               "Dach", "x*", "-x", '"a b"', "\x00", "ﬁ", "İ", "\u200b", "漢字", "🙂", "0", "1e5"]
_QUERIES = st.one_of(st.text(max_size=120),
                     st.lists(st.sampled_from(_QUERY_BITS), max_size=20).map(" ".join),
                     st.lists(st.sampled_from(_QUERY_BITS), max_size=20).map("".join))


def _parse(text: str) -> ParsedQuery | None:
    try:
        return parse(text)
    except QueryError:
        return None
    except InvalidInput as exc:  # still a 400, but say so: the parser should use QueryError
        pytest.fail(f"parse({text!r}) raised {type(exc).__name__}, not QueryError: {exc}")


@FUZZ
@given(text=_QUERIES)
def test_query_parser_raises_only_query_errors(text: str) -> None:
    _parse(text)


@pytest.fixture(scope="module")
def fts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop,
                                                                      FtsBackend]]:
    loop = asyncio.new_event_loop()
    backend = FtsBackend(tmp_path_factory.mktemp("fuzz") / "search.sqlite3")
    loop.run_until_complete(backend.open())
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    entries = [Entry(id=f"E{i:04d}", seq=seq_base(t0 + timedelta(minutes=i)) + i,
                     office_id="OFFICE", customer_id="CUST", channel=Channel.EMAIL,
                     direction=Direction.INBOUND, kind="email",
                     visibility=Visibility.PUBLISHED, occurred_at=t0 + timedelta(minutes=i),
                     recorded_at=t0 + timedelta(minutes=i), subject=f"Betreff {i}",
                     body=body)
               for i, body in enumerate(["Kündigung der Police", "Das Dach ist undicht",
                                         "Straße und Hausnummer", "NEAR OR AND NOT a b"])]
    loop.run_until_complete(backend.index(entries))
    yield loop, backend
    loop.run_until_complete(backend.close())
    loop.close()


@FUZZ
@given(text=_QUERIES, order=st.sampled_from(["newest", "relevance"]))
def test_every_accepted_query_runs_on_fts5(
        text: str, order: str, fts: tuple[asyncio.AbstractEventLoop, FtsBackend]) -> None:
    query = _parse(text)
    event("accepted" if query is not None else "refused")  # --hypothesis-show-statistics
    if query is None:
        return
    loop, backend = fts
    request = SearchRequest(query=query, filters=SearchFilters(office_id="OFFICE"),
                            order=order, limit=5)
    loop.run_until_complete(backend.search(request))  # any sqlite3 error fails the test
