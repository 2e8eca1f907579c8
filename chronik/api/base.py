"""What every API module shares: operations (route + OpenAPI metadata), the caller, errors."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_DISPOSITION
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from chronik.state import AppState
from timeline import errors
from timeline.errors import DomainError, Forbidden, InvalidInput
from timeline.ids import in_window, parse_seq, window_text
from timeline.models import Agent, Office, Role, utcnow

Auth = Literal["agent", "admin", "public"]


@dataclass(frozen=True)
class Caller:
    agent: Agent
    office: Office

    @property
    def is_admin(self) -> bool:
        return self.agent.role is Role.ADMIN


Handler = Callable[[web.Request, AppState, Caller], Awaitable[web.StreamResponse]]
PublicHandler = Callable[[web.Request, AppState], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["query", "path", "header"] = "query"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """Relative to ``/api/v1``, aiohttp syntax (``/customers/{id}``)."""
    handler: Handler | PublicHandler
    operation_id: str
    summary: str
    tag: str
    auth: Auth = "agent"
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_kinds: tuple[str, ...] = ("application/json",)
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    response_content: str = "application/json"


API_PREFIX = "/api/v1"

DATE_OR_DATE_TIME: dict[str, Any] = {
    "type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}],
    "description": "Between 1970-01-01 and 2200-01-01"}
"""The schema of ``since`` / ``until`` query values (see ``query_datetime``)."""


def enum_schema(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return web.json_response({"error": body}, status=status)


def hash_token(token: str) -> str:
    """The stored form of a token. A header's bytes that are not UTF-8 (aiohttp keeps them
    as surrogates) hash too -- to nothing stored: 401, not a 500."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return "chk_" + secrets.token_urlsafe(32)


async def authenticate(request: web.Request, state: AppState, auth: Auth) -> Caller:
    header = request.headers.get("Authorization", "")
    if not header and "chronik_session" in request.cookies:
        return await _session_caller(request, state, auth)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>'")
    cached = state.token_cache.get(token.strip())
    if cached is None:
        agent = await state.store.agent_for_token(hash_token(token.strip()))
        office = await state.store.get_office(agent.office_id) if agent else None
        if agent is None or office is None:
            raise ApiError(401, "unauthorized", "invalid or revoked token")
        cached = Caller(agent=agent, office=office)
        state.token_cache[token.strip()] = cached
    if auth == "admin" and not cached.is_admin:
        raise Forbidden("this needs an office admin")
    return cached


async def still_signed_in(request: web.Request, state: AppState, caller: Caller) -> bool:
    """Whether what signed ``request`` in still does (a long request, e.g. the event
    stream, asks again): its console session is still open, or its bearer token not
    revoked -- read from the store, not from the token cache."""
    from chronik.web.auth import COOKIES, session_hash

    raw = request.cookies.get(COOKIES["agent"][0], "")
    if not request.headers.get("Authorization") and raw:
        signed_in = await state.store.agent_session(session_hash(raw), utcnow())
        return signed_in is not None and signed_in.agent.id == caller.agent.id
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    agent = await state.store.agent_for_token(hash_token(token.strip()))
    return agent is not None and agent.id == caller.agent.id


async def _session_caller(request: web.Request, state: AppState, auth: Auth) -> Caller:
    """The console's own calls: the agent's browser session, with its CSRF token in the
    ``X-CSRF-Token`` header on every state-changing request."""
    from chronik.web.auth import CsrfError, check_csrf, current_agent

    found = await current_agent(request, state)
    if found is None:
        raise ApiError(401, "unauthorized", "the session has expired; sign in again")
    session, signed_in = found
    try:
        await check_csrf(request, session)
    except CsrfError:
        raise ApiError(403, "csrf", "send the page's CSRF token as X-CSRF-Token") from None
    caller = Caller(agent=signed_in.agent, office=signed_in.office)
    if auth == "admin" and not caller.is_admin:
        raise Forbidden("this needs an office admin")
    return caller


M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, model: type[M]) -> M:
    if not request.can_read_body:
        raise ApiError(400, "invalid_json", "a JSON body is required")
    raw = json_bytes(await request.read(), request.charset)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if not _utf8(raw):
            raise ApiError(400, "invalid_json", f"the body is not UTF-8: {_SEND_UTF8}"
                           ) from None
        error = validation_error(exc)
        if error.code == "invalid_json" and request.content_type in _FORM_TYPES:
            raise ApiError(415, "unsupported_media_type", (
                f"this operation takes a JSON body (Content-Type: application/json), not "
                f"{request.content_type}"), {"accepted": ["application/json"]}) from None
        raise error from None


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
"""What no-code tools and HTML forms send by default: a body of that type that is not JSON
(``curl -d '{…}'`` labels JSON so, and it is read) is 415, not a JSON parser's message."""


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_SEND_UTF8 = "send JSON as UTF-8, or name its charset in the Content-Type header"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def json_bytes(raw: bytes, charset: str | None) -> bytes:
    """A JSON body as UTF-8, as clients really send it: RFC 8259 lets a parser ignore a
    byte order mark (Windows tools write one; UTF-16 with its mark is read as such), and a
    body whose ``Content-Type`` names another charset (``charset=iso-8859-1``, as older
    PowerShell sends) is read in that charset (400 when it is unknown or does not fit).
    Other bytes are passed on as they are: ``read_json`` says so when they are not UTF-8."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), None)
    if encoding is None and charset and charset.lower().replace("_", "-") not in (
            "utf-8", "utf8"):
        encoding = charset
    if encoding is None:
        return raw  # UTF-8 is checked only when the body does not parse (``read_json``)
    try:
        return raw.decode(encoding).encode("utf-8")
    except LookupError:
        raise ApiError(400, "invalid_json", f"unknown charset {charset!r}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", f"the body is not {encoding}: {_SEND_UTF8}"
                       ) from None


def validation_error(exc: ValidationError) -> ApiError:
    problems = [{"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
                for err in exc.errors(include_input=False, include_url=False)]
    first = problems[0] if problems else {"field": "(body)", "problem": "invalid"}
    kind = "invalid_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else \
        "invalid_input"
    return ApiError(400, kind, f"{first['field']}: {first['problem']}", {"problems": problems})


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status,
                        content_type="application/json")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_input", f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_input", f"{name} must be between {lo} and {hi}")
    return value


_UNENCODED_PLUS = re.compile(r"(?<=[T ]\d\d:\d\d)((?::\d\d)?(?:[.,]\d+)?) (\d\d(?::?\d\d)?)$")
"""A date-time whose ``+02:00`` offset came through a URL unencoded: the ``+`` arrives as a
space (``2025-03-01T10:00:00 02:00``). A space right after the time and before two digits
means nothing else, so it is read as the ``+`` it was."""


def query_datetime(request: web.Request, name: str, *, end_of_day: bool = False
                   ) -> datetime | None:
    """A ``since``/``until`` value: an ISO date (``2025-03-01`` or ``20250301``, a UTC day)
    or date-time (without an offset: UTC). With ``end_of_day`` (an inclusive upper bound,
    compared to the millisecond) a date means the whole day: up to the next midnight, UTC,
    excluding it."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = _date_or_time(raw.strip(), end_of_day)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_input",
                       f"{name} must be an ISO date or date-time (an offset's + URL-encoded "
                       "as %2B)") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not in_window(value):
        raise ApiError(400, "invalid_input", f"{name} must lie between {window_text()}")
    return value


def _date_or_time(raw: str, end_of_day: bool) -> datetime:
    try:
        day: date | None = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is not None:
        value = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return value + timedelta(days=1, milliseconds=-1) if end_of_day else value
    text = _UNENCODED_PLUS.sub(r"\1+\2", raw)
    if not re.search(r"\d[Tt ]\d", text):  # "2025-03-01+02:00": a day is a UTC day
        raise ValueError(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def canonical_index(raw: str) -> int | None:
    """A list index in a path: ``0``, ``1``, ``12`` -- never ``-1``, ``00``, `` 0``, ``+1``
    or non-ASCII digits (``None`` for those, which callers answer with 404)."""
    if raw.isascii() and raw.isdigit() and (raw == "0" or not raw.startswith("0")) \
            and len(raw) <= 9:
        return int(raw)
    return None


_ID_CURSOR = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def query_id_cursor(request: web.Request) -> str | None:
    """The ``cursor`` of a list paged by id (customers, notifications, inboxes,
    quarantine): a ``next_cursor`` is an id (a ULID). Anything else is ``400``
    ``invalid_cursor`` -- it used to page from an arbitrary place (``cursor=abc`` answered
    the first page again, an endless loop for a client that follows ``next_cursor``)."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    if not _ID_CURSOR.match(raw):
        raise ApiError(400, "invalid_cursor", "cursor is not valid; use next_cursor of "
                       "the previous page")
    return raw


def query_seq_cursor(request: web.Request) -> int | None:
    """The ``cursor`` of a list paged by entry key (a timeline, the portal's messages): a
    ``next_cursor`` it gave; anything else is ``400 invalid_cursor``, as for the lists paged
    by id."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        return parse_seq(raw)
    except InvalidInput:
        raise ApiError(400, "invalid_cursor", "cursor is not valid; use next_cursor of the "
                       "previous page") from None


def query_list(request: web.Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query.getall(name, []):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


_STATUS: dict[type[DomainError], int] = {
    errors.InvalidInput: 400, errors.NotFound: 404, errors.Forbidden: 403,
    errors.ToneWarning: 409, errors.Conflict: 409, errors.TooLarge: 413,
}


def domain_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


@dataclass(frozen=True)
class FormFile:
    name: str
    content_type: str
    data: bytes


def refuse_declared_oversize(request: web.Request, limit: int) -> None:
    """413 before reading anything when the declared body is already over the upload limit
    (the multipart overhead gets 64 KiB of slack; ``read_form`` enforces the exact limit)."""
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise errors.TooLarge(f"upload is larger than {limit} bytes", {"limit_bytes": limit})


async def read_form(request: web.Request, limit: int
                    ) -> tuple[list[tuple[str, str]], list[FormFile]]:
    """Stream a ``multipart/form-data`` body: its text fields (in order) and its files.
    More than ``limit`` bytes in all is ``TooLarge`` (413) as soon as it is seen; a body
    that is not well-formed multipart (no boundary, no closing boundary, a NUL in a file
    name) is ``InvalidInput`` (400)."""
    try:
        return await _read_form(request, limit)
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's parser: malformed body
        raise errors.InvalidInput(f"the multipart body is malformed: {_first_line(exc)}"
                                  ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class FormTooLarge(errors.TooLarge):
    """``TooLarge`` from :func:`read_form`, with the text fields read before the limit was
    passed (a form's text comes before its files: a page can give it back)."""

    def __init__(self, limit: int, fields: list[tuple[str, str]]) -> None:
        super().__init__(f"upload is larger than {limit} bytes", {"limit_bytes": limit})
        self.fields = fields


async def _read_form(request: web.Request, limit: int
                     ) -> tuple[list[tuple[str, str]], list[FormFile]]:
    reader = await request.multipart()
    fields: list[tuple[str, str]] = []
    files: list[FormFile] = []
    total = 0
    declared_over = request.content_length is not None and \
        request.content_length > limit + 64 * 1024
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise errors.InvalidInput("nested multipart is not supported")
        if declared_over and part.filename is not None:  # the files cannot all fit
            raise FormTooLarge(limit, fields)
        chunks = []
        while chunk := await part.read_chunk(64 * 1024):
            total += len(chunk)
            if total > limit:
                raise FormTooLarge(limit, fields)
            chunks.append(chunk)
        data = b"".join(chunks)
        if part.filename:
            name = unquote(_file_name(part))  # clients percent-encode (", CR, LF, …)
            if "\x00" in name:
                raise errors.InvalidInput("a file name must not contain a NUL byte")
            files.append(FormFile(
                name=name,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                data=data))
        else:
            fields.append((part.name or "", data.decode("utf-8", "replace")))
    return fields, files


_QUOTED_FILENAME = re.compile(r'(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"', re.I)


def _file_name(part: BodyPartReader) -> str:
    """The part's file name as browsers mean it. aiohttp reads a quoted ``filename`` by
    RFC 822 rules (a backslash escapes any character), but browsers do not escape (the
    HTML standard percent-encodes ``"``, CR and LF) and old Internet Explorer sends the full
    Windows path: ``C:\\Users\\anna\\Kündigung.pdf`` would become
    ``C:UsersannaKündigung.pdf``. So, as Django does, only ``\\"`` and ``\\\\``
    (what older curl writes) count as escapes and every other backslash stays, for
    ``safe_file_name`` to cut the directories off. ``filename*=`` (RFC 5987) wins, as in
    aiohttp."""
    name = part.filename or ""
    raw = part.headers.get(CONTENT_DISPOSITION, "")
    quoted = _QUOTED_FILENAME.search(raw)
    if "\\" not in raw or "filename*" in raw.lower() or quoted is None:
        return name
    return re.sub(r'\\([\\"])', r"\1", quoted.group(1))


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
