"""A local stand-in for the Telegram Bot API, for tests.

The machine running the tests has no internet, and mocking python-telegram-bot (PTB) would only
prove that our code calls our mock.  Instead this module runs a small aiohttp server on
``127.0.0.1`` (random port, inside the test's event loop) that speaks the Bot API wire protocol
for the methods Chronik uses, so the *real* PTB library can be pointed at it::

    async with BotApiStandIn() as tg:
        app = (
            ApplicationBuilder()
            .token(tg.token)
            .base_url(tg.base_url)            # "http://127.0.0.1:PORT/bot"  (PTB appends the token)
            .base_file_url(tg.base_file_url)  # "http://127.0.0.1:PORT/file/bot"
            .build()
        )
        tg.push_text(4711, "Hallo")           # what a user does in the Telegram app
        ...
        sent = await tg.wait_sent(1)          # what the bot sent

What is modelled after the real API (https://core.telegram.org/bots/api):

* Envelope ``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code", "description"
  [, "parameters"]}``; method names are case-insensitive; GET or POST with query string,
  ``application/x-www-form-urlencoded``, ``multipart/form-data`` (PTB uses these two; every
  non-string value is JSON-encoded inside the form) or ``application/json``.
* Wrong token: 401 ``Unauthorized`` (404 ``Not Found`` for a malformed token, like Telegram);
  unknown method: 404 ``Not Found``.
* ``getUpdates`` with ``offset`` (confirming updates < offset; negative offsets), ``limit`` and
  long polling (``timeout``); a second concurrent ``getUpdates`` terminates the first one with
  409, and ``getUpdates`` while a webhook is set is a 409 as well.
* Webhooks: after ``setWebhook`` pending and new updates are POSTed to the URL with
  ``X-Telegram-Bot-Api-Secret-Token``, up to ``max_connections`` (default 40) at the same time,
  so they may arrive out of order (``webhook_order="reversed"`` makes that certain: each batch
  is delivered newest first, one after the other); an update
  is retried until the webhook answers 2xx, and dropped after ``webhook_max_attempts`` failed
  attempts (Telegram "gives up after a reasonable amount of attempts"; see ``dropped_updates``);
  ``getWebhookInfo`` reports ``pending_update_count`` and the last error.
* Webhook URLs: with ``cloud_webhook_rules=True`` ``setWebhook`` refuses what Telegram's cloud
  refuses (not HTTPS; a port other than 80, 88, 443, 8443; a private or reserved IP address;
  ``max_connections`` over 100). Without it the stand-in behaves like a local Bot API server,
  which takes any URL (and so can call a test server on ``http://127.0.0.1:PORT``).
* Uploads over 50 MB are refused with 413 ``Request Entity Too Large``; ``getFile`` refuses
  files over 20 MB ("file is too big").
* Failures: ``fail_next`` makes the next ``send*`` (or a named method, e.g. ``getFile``) calls
  fail with 429 (``retry_after``), 5xx or any status; ``fail_downloads`` does that for file
  downloads; ``stall_next`` carries a call out but answers late (a client with a shorter
  timeout never learns that it worked) and ``drop_next`` carries it out and closes the
  connection without an answer (each may skip ``after`` calls first, to hit e.g. the second
  part of a long text); ``revoke_token`` makes the token 401 ``Unauthorized`` from now on.
* ``sendMessage``/``sendPhoto``/``sendDocument`` validate chat, text/caption length (after entity
  parsing), ``parse_mode`` (HTML / MarkdownV2 / Markdown are really parsed - an unescaped ``.`` in
  MarkdownV2 is a 400 like on Telegram), ``reply_markup`` and ``reply_parameters``.
* Messages: ``message_id`` counts per chat and is shared by both directions (as in private
  chats); inbound texts get ``bot_command``/``url``/``email``/``mention``/``hashtag`` entities
  (PTB's ``CommandHandler`` needs the ``bot_command`` entity); entity offsets are UTF-16 units.
* What users send besides text and files: forwarded messages (``forward_origin``), replies
  (``reply_to_message`` and a selected ``quote``), words linked to an address (``text_link``
  entities), shared contacts (``contact.user_id`` naming the account, the sender's own for
  their own contact), live locations that move by ``edited_message``, and the user's
  ``language_code`` (left out as Telegram does when the app does not tell);
  ``push_raw_update`` queues anything else as given.
* A group that became a supergroup (``migrate_chat``): sends to the old id are refused with
  ``migrate_to_chat_id``.
* Photos arrive as several ``PhotoSize`` objects, smallest first, like on Telegram.  The stand-in
  cannot scale images: only the LAST (largest) size downloads as the original bytes, the smaller
  ones download as a placeholder, so code that wrongly takes ``photo[0]`` is caught.

Deliberate simplifications: one bot; chats are private chats unless ``chat_id < 0``; no
``allowed_updates`` filtering; the webhook URL rules only with ``cloud_webhook_rules=True``
(``require_https_webhook=True`` checks HTTPS alone); ``push_*`` must be called from the event
loop's thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import html
import ipaddress
import json
import mimetypes
import re
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_CALLBACK_DATA = 64
WEBHOOK_PORTS = (80, 88, 443, 8443)

_BOT_FIRST_NAME = "Chronik Test Bot"
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

# Photo sizes Telegram generates ("s", "m", "x" in Telegram's terms); the original comes last.
_THUMBNAIL_SIDES = (90, 320, 800)
# Dimensions assumed for pushed photo bytes that are not a recognisable image.
_DEFAULT_PHOTO_SIZE = (1280, 960)

_INLINE_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)

# Parameters that the Bot API expects as JSON-serialised objects when sent as form fields.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "allowed_updates",
    }
)


class _ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


def _bad_request(what: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {what}")


def _entity_error(what: str) -> _ApiError:
    return _bad_request(f"can't parse entities: {what}")


@dataclass
class _Upload:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Chat:
    info: JSONDict
    next_message_id: int = 1
    messages: dict[int, JSONDict] = field(default_factory=dict)


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    ip_address: str | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Failure:
    status: int
    retry_after: int
    description: str | None
    method: str | None = None
    """``None``: any ``send*`` call; else this method (canonical spelling)."""
    after: int = 0
    """Matching calls that still succeed before this one fails."""

    def applies(self, method: str) -> bool:
        return method.startswith("send") if self.method is None else method == self.method


@dataclass
class _LostAnswer:
    """A call that is carried out, but whose answer comes late (``seconds``) or never
    (``seconds is None``: the connection is closed)."""

    method: str
    seconds: float | None
    after: int = 0


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    """Length in UTF-16 code units - the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _image_size(data: bytes) -> tuple[str, int, int] | None:
    """(extension, width, height) of a PNG/JPEG/GIF/WebP/BMP image, None for anything else."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return ".png", width, height
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return ".gif", width, height
        if data.startswith(b"BM") and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return ".bmp", abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                width = 1 + int.from_bytes(data[24:27], "little")
                height = 1 + int.from_bytes(data[27:30], "little")
                return ".webp", width, height
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return ".webp", width & 0x3FFF, height & 0x3FFF
            if chunk == b"VP8L":
                b = data[21:25]
                width = 1 + (((b[1] & 0x3F) << 8) | b[0])
                height = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
                return ".webp", width, height
            return None
        if data.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                if marker == 0xFF:  # fill byte
                    i += 1
                    continue
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                (length,) = struct.unpack(">H", data[i + 2 : i + 4])
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                    return ".jpg", width, height
                i += 2 + length
            return None
    except (struct.error, IndexError):
        return None
    return None


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _bad_request(f'field "{what}" must be of type Integer')
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request(f'field "{what}" must be of type Integer') from None


def _opt_int(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return _as_int(value, name)


def _opt_float(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad_request(f'field "{name}" must be of type Number') from None


def _opt_bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _opt_json(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad_request(f"can't parse {name} JSON object") from None
    return value


def _opt_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------
# entity parsing: HTML, MarkdownV2, Markdown (legacy) and automatic entities of inbound text
# --------------------------------------------------------------------------------------------


class _TextBuilder:
    """Collects plain text and entities, tracking UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[JSONDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += _u16(text)

    def entity(self, etype: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": etype, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[JSONDict]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


_HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_HTML_ATTR_RE = re.compile(r"""([A-Za-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


@dataclass
class _OpenTag:
    tag: str
    etype: str
    start: int
    attrs: dict[str, str]
    language: str | None = None


def _parse_html(src: str) -> tuple[str, list[JSONDict]]:
    out = _TextBuilder()
    stack: list[_OpenTag] = []

    def byte_offset(index: int) -> int:
        return len(src[:index].encode())

    i = 0
    while i < len(src):
        char = src[i]
        if char == "&":
            match = _HTML_ENTITY_RE.match(src, i)
            if match:
                out.add(html.unescape(match.group(0)))
                i = match.end()
            else:
                out.add("&")
                i += 1
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        end = src.find(">", i)
        if end == -1:
            raise _entity_error(f"Unclosed start tag at byte offset {byte_offset(i)}")
        body = src[i + 1 : end]
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not stack:
                raise _entity_error(f"Unexpected end tag at byte offset {byte_offset(i)}")
            top = stack.pop()
            if name != top.tag:
                raise _entity_error(
                    f"Unmatched end tag at byte offset {byte_offset(i)}, "
                    f'expected "</{top.tag}>", found "</{name}>"'
                )
            if top.etype == "text_link":
                if top.attrs.get("href"):
                    out.entity("text_link", top.start, url=top.attrs["href"])
            elif top.etype == "custom_emoji":
                out.entity("custom_emoji", top.start, custom_emoji_id=top.attrs.get("emoji-id"))
            elif top.etype == "code" and stack and stack[-1].etype == "pre":
                css = top.attrs.get("class", "")
                if css.startswith("language-"):
                    stack[-1].language = css.removeprefix("language-")
                else:
                    out.entity("code", top.start)
            elif top.etype == "pre":
                extra = {"language": top.language} if top.language else {}
                out.entity("pre", top.start, **extra)
            elif top.etype == "blockquote" and "expandable" in top.attrs:
                out.entity("expandable_blockquote", top.start)
            else:
                out.entity(top.etype, top.start)
        else:
            match = re.match(r"[A-Za-z][A-Za-z0-9-]*", body)
            name = match.group(0).lower() if match else ""
            if name not in _HTML_TAGS:
                raise _entity_error(
                    f'Unsupported start tag "{name}" at byte offset {byte_offset(i)}'
                )
            rest = body[len(name) :]
            attrs = {
                key.lower(): html.unescape(next(v for v in values if v is not None))
                for key, *values in _HTML_ATTR_RE.findall(rest)
            }
            if re.search(r"(^|\s)expandable(\s|/?$)", rest):
                attrs.setdefault("expandable", "")
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise _entity_error(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(i)}'
                )
            stack.append(_OpenTag(name, _HTML_TAGS[name], out.pos, attrs))
        i = end + 1
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD_ENTITY_NAMES: dict[str, str] = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}


def _parse_markdown_v2(src: str) -> tuple[str, list[JSONDict]]:
    out = _TextBuilder()
    stack: list[tuple[str, int, int]] = []  # (entity type, utf-16 start, index in src)
    quote_start: int | None = None
    n = len(src)

    def byte_offset(index: int) -> int:
        return len(src[:index].encode())

    def unclosed(etype: str, index: int) -> _ApiError:
        return _entity_error(
            f"Can't find end of {_MD_ENTITY_NAMES[etype]} entity at byte offset "
            f"{byte_offset(index)}"
        )

    def scan_until(start: int, terminator: str, etype: str, opened_at: int) -> tuple[str, int]:
        """Raw content up to an unescaped terminator; returns (content, index after it)."""
        chars: list[str] = []
        j = start
        while j < n:
            if src[j] == "\\" and j + 1 < n and 0 < ord(src[j + 1]) <= 126:
                chars.append(src[j + 1])
                j += 2
                continue
            if src.startswith(terminator, j):
                return "".join(chars), j + len(terminator)
            chars.append(src[j])
            j += 1
        raise unclosed(etype, opened_at)

    i = 0
    while i < n:
        char = src[i]
        line_start = i == 0 or src[i - 1] == "\n"
        if char == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            out.add(src[i + 1])
            i += 2
            continue
        if char == "\n" and quote_start is not None and not src.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if char not in _MDV2_RESERVED:
            out.add(char)
            i += 1
            continue
        if char == ">" and line_start:
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if char == "`":
            start = out.pos
            if src.startswith("```", i):
                j = i + 3
                newline = src.find("\n", j)
                language = None
                header = src[j:newline] if newline != -1 else ""
                if newline != -1 and not re.search(r"[\s`]", header):
                    language = header or None
                    j = newline + 1
                content, i_next = scan_until(j, "```", "pre", i)
                out.add(content)
                out.entity("pre", start, **({"language": language} if language else {}))
            else:
                content, i_next = scan_until(i + 1, "`", "code", i)
                out.add(content)
                out.entity("code", start)
            i = i_next
            continue
        if char in "*_~|":
            if char == "|":
                if not src.startswith("||", i):
                    raise _entity_error(
                        "Character '|' is reserved and must be escaped with the preceding '\\'"
                    )
                etype, width = "spoiler", 2
            elif char == "_":
                if src.startswith("__", i) and not (stack and stack[-1][0] == "italic"):
                    etype, width = "underline", 2
                else:
                    etype, width = "italic", 1
            elif char == "*":
                etype, width = "bold", 1
            else:
                etype, width = "strikethrough", 1
            open_types = [entry[0] for entry in stack]
            if etype not in open_types:
                stack.append((etype, out.pos, i))
            elif open_types[-1] == etype:
                _, start, _ = stack.pop()
                out.entity(etype, start)
            else:
                raise unclosed(stack[-1][0], stack[-1][2])
            i += width
            continue
        if char == "[" or (char == "!" and src.startswith("![", i)):
            etype = "text_link" if char == "[" else "custom_emoji"
            stack.append((etype, out.pos, i))
            i += 1 if char == "[" else 2
            continue
        if char == "]" and stack and stack[-1][0] in ("text_link", "custom_emoji"):
            etype, start, opened_at = stack.pop()
            if not src.startswith("(", i + 1):
                raise unclosed(etype, opened_at)
            url, i = scan_until(i + 2, ")", etype, opened_at)
            if etype == "text_link":
                out.entity("text_link", start, url=url)
            else:
                emoji_id = url.removeprefix("tg://emoji?id=")
                out.entity("custom_emoji", start, custom_emoji_id=emoji_id)
            continue
        if char == "]" and any(entry[0] in ("text_link", "custom_emoji") for entry in stack):
            raise unclosed(stack[-1][0], stack[-1][2])
        raise _entity_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )
    if stack:
        raise unclosed(stack[-1][0], stack[-1][2])
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def _parse_markdown_legacy(src: str) -> tuple[str, list[JSONDict]]:
    out = _TextBuilder()

    def unclosed(index: int) -> _ApiError:
        return _entity_error(
            f"Can't find end of the entity starting at byte offset {len(src[:index].encode())}"
        )

    i = 0
    n = len(src)
    while i < n:
        char = src[i]
        if char == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
        elif char in "_*":
            end = src.find(char, i + 1)
            if end == -1:
                raise unclosed(i)
            start = out.pos
            out.add(src[i + 1 : end])
            out.entity("bold" if char == "*" else "italic", start)
            i = end + 1
        elif char == "`":
            start = out.pos
            if src.startswith("```", i):
                end = src.find("```", i + 3)
                if end == -1:
                    raise unclosed(i)
                content = src[i + 3 : end]
                language = None
                first, sep, remainder = content.partition("\n")
                if sep and first and not re.search(r"\s", first):
                    language, content = first, remainder
                out.add(content)
                out.entity("pre", start, **({"language": language} if language else {}))
                i = end + 3
            else:
                end = src.find("`", i + 1)
                if end == -1:
                    raise unclosed(i)
                out.add(src[i + 1 : end])
                out.entity("code", start)
                i = end + 1
        elif char == "[":
            end = src.find("]", i + 1)
            if end == -1:
                raise unclosed(i)
            if src.startswith("(", end + 1):
                close = src.find(")", end + 2)
                if close == -1:
                    raise unclosed(i)
                start = out.pos
                out.add(src[i + 1 : end])
                out.entity("text_link", start, url=src[end + 2 : close])
                i = close + 1
            else:
                out.add(src[i : end + 1])
                i = end + 1
        else:
            out.add(char)
            i += 1
    return out.result()


_AUTO_ENTITY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]'}]")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")),
)


def _auto_entities(text: str) -> list[JSONDict]:
    """Entities Telegram's clients/server attach to a plain text message."""
    spans: list[tuple[int, int, str]] = []
    for etype, pattern in _AUTO_ENTITY_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < s_end and s_start < end for s_start, s_end, _ in spans):
                continue
            spans.append((start, end, etype))
    spans.sort()
    return [
        {"type": etype, "offset": _u16(text[:start]), "length": _u16(text[start:end])}
        for start, end, etype in spans
    ]


# --------------------------------------------------------------------------------------------
# the stand-in
# --------------------------------------------------------------------------------------------

ApiHandler = Callable[[JSONDict, dict[str, _Upload]], Awaitable[Any]]


class BotApiStandIn:
    """Local HTTP server speaking the Telegram Bot API, for the real python-telegram-bot.

    Attributes:
        sent: every message the bot successfully sent, in order.  Each entry holds the request
            parameters (JSON ones decoded) plus ``method``, ``chat_id`` (int), ``message_id``,
            ``message`` (the Message object returned to the bot), ``text``/``caption`` as sent
            (with markup), ``parse_mode``, ``reply_markup`` (dict or None) and for files
            ``document``/``photo`` = ``{"file_name", "mime_type", "data", "file_id"}``.
        calls: names of all Bot API methods called, in order (canonical spelling; unknown
            methods as requested).
        requests: ``(method, params)`` for every call to a known method.
        webhook_deliveries: every webhook POST attempt: ``{"update_id", "status", "error"}``.
        downloads: file paths requested from the file download route.
        dropped_updates: updates the webhook delivery gave up on (never delivered).
    """

    _METHODS: ClassVar[tuple[str, ...]] = (
        "getMe",
        "logOut",
        "close",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "getFile",
    )

    def __init__(
        self,
        token: str = "123456:TEST-token",
        bot_username: str = "chronik_test_bot",
        *,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 10.0,
        webhook_max_attempts: int | None = 10,
        webhook_order: str = "in-order",
        require_https_webhook: bool = False,
        cloud_webhook_rules: bool = False,
    ) -> None:
        if webhook_order not in ("in-order", "reversed"):
            raise ValueError("webhook_order is 'in-order' or 'reversed'")
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0]) if _TOKEN_RE.match(token) else 1
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.require_https_webhook = require_https_webhook
        self.cloud_webhook_rules = cloud_webhook_rules
        self.webhook_max_attempts = webhook_max_attempts
        self.webhook_order = webhook_order

        self.sent: list[JSONDict] = []
        self.calls: list[str] = []
        self.requests: list[tuple[str, JSONDict]] = []
        self.webhook_deliveries: list[JSONDict] = []
        self.downloads: list[str] = []
        self.dropped_updates: list[JSONDict] = []

        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

        self._chats: dict[int, _Chat] = {}
        self._blocked: set[int] = set()
        self._migrated: dict[int, int] = {}
        self._failures: list[_Failure] = []
        self._download_failures: list[_Failure] = []
        self._lost_answers: list[_LostAnswer] = []
        self._attempts: dict[int, int] = {}  # webhook delivery attempts per update_id
        self._in_flight: set[int] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._pending: list[JSONDict] = []
        self._next_update_id = 1000
        self._poll_generation = 0
        self._webhook: _Webhook | None = None
        self._files_by_id: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_counter = 0
        self._changed = asyncio.Event()  # replaced on every notification
        self._handlers: dict[str, tuple[str, ApiHandler]] = {
            name.lower(): (name, getattr(self, f"_api_{name}")) for name in self._METHODS
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("BotApiStandIn already started")
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        self._closing = False
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._webhook_worker(), name="standin-webhook-worker")

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # lets long polls and the webhook worker return now
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for task in list(self._deliveries):
            task.cancel()
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (only after :meth:`start`)."""
        if self._url is None:
            raise RuntimeError("BotApiStandIn not started")
        return self._url

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url()`` / ``Bot(base_url=)``; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url()`` / ``Bot(base_file_url=)``."""
        return f"{self.url}/file/bot"

    @property
    def webhook_url(self) -> str | None:
        return self._webhook.url if self._webhook else None

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed (getUpdates) or delivered (webhook)."""
        return copy.deepcopy(self._pending)

    def messages(self, chat_id: int) -> list[JSONDict]:
        """All messages of a chat (both directions, latest edit), by message_id."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [copy.deepcopy(chat.messages[k]) for k in sorted(chat.messages)]

    # ---------------------------------------------------------------- test controls

    def add_chat(
        self,
        chat_id: int,
        *,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
    ) -> JSONDict:
        """Make a chat known (as if the user had started the bot); returns the Chat object."""
        return copy.deepcopy(self._chat(chat_id, first_name, last_name, username).info)

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: sends to the chat answer 403."""
        if chat_id not in self._chats:
            self.add_chat(chat_id)
        self._blocked.add(chat_id)

    def migrate_chat(self, chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup (new id ``-100…``): sends to the old id answer 400
        ``group chat was upgraded to a supergroup chat`` with ``migrate_to_chat_id``."""
        if chat_id >= 0 or not str(new_chat_id).startswith("-100"):
            raise ValueError("only a group (chat_id < 0) moves, to a supergroup (-100…)")
        if chat_id not in self._chats:
            self._chat(chat_id, "Erika", None, None)
        self._chat(new_chat_id, "Erika", None, None)
        self._migrated[chat_id] = new_chat_id

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def revoke_token(self) -> str:
        """The owner revoked the bot's token in @BotFather: every call with the old token now
        answers 401 ``Unauthorized``. Returns the new token."""
        head = self.token.partition(":")[0]
        self.token = f"{head}:REVOKED-{hashlib.sha256(self.token.encode()).hexdigest()[:12]}"
        return self.token

    def fail_next(
        self,
        n: int,
        *,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``n`` send* calls (or calls of ``method``, e.g. ``"getFile"``) fail with
        ``status``, without any effect - after ``after`` such calls that still succeed.

        429 carries ``parameters.retry_after``; 502 answers with nginx's HTML page (as
        Telegram's front end does), other statuses with a JSON error envelope.
        """
        self._failures.extend(
            _Failure(status, retry_after, description, method, after if i == 0 else 0)
            for i in range(n)
        )

    def fail_downloads(self, n: int, *, status: int = 502, retry_after: int = 1) -> None:
        """The next ``n`` file downloads fail with ``status`` (429, 5xx, 404 ...)."""
        self._download_failures.extend(
            _Failure(status, retry_after, None, None) for _ in range(n)
        )

    def stall_next(
        self, n: int, seconds: float, *, method: str = "sendMessage", after: int = 0
    ) -> None:
        """The next ``n`` calls of ``method`` (after ``after`` normal ones) are carried out
        (a message is sent), but the answer comes only after ``seconds``: a client that
        times out earlier cannot know."""
        self._lost_answers.extend(
            _LostAnswer(method, seconds, after if i == 0 else 0) for i in range(n)
        )

    def drop_next(self, n: int, *, method: str = "sendMessage", after: int = 0) -> None:
        """The next ``n`` calls of ``method`` (after ``after`` normal ones) are carried out,
        then the connection is closed without an answer (a proxy or the network lost it)."""
        self._lost_answers.extend(
            _LostAnswer(method, None, after if i == 0 else 0) for i in range(n)
        )

    async def wait_sent(self, n: int, timeout: float = 5.0) -> list[JSONDict]:  # noqa: ASYNC109
        """Wait until at least ``n`` messages were sent; returns (a copy of) all of ``sent``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.sent) < n:
            remaining = deadline - loop.time()
            if remaining <= 0:
                summary = [
                    (s["method"], s["chat_id"], s.get("text", s.get("caption"))) for s in self.sent
                ]
                raise TimeoutError(
                    f"expected {n} sent message(s) within {timeout}s, got {len(self.sent)}: "
                    f"{summary}; calls: {self.calls[-20:]}"
                )
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return list(self.sent)

    # ---------------------------------------------------------------- inbound simulation

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
        language_code: str | None = "de",
        entities: list[JSONDict] | None = None,
        forward_origin: JSONDict | None = None,
        reply_to: int | None = None,
        quote: str | None = None,
    ) -> JSONDict:
        """The user sends ``text``; queues a ``message`` update and returns the Message.

        ``entities``: formatting the user's app added besides the detected ones (e.g.
        ``{"type": "text_link", "offset": 0, "length": 4, "url": …}`` for a word linked to an
        address). ``forward_origin``: the user forwards a message someone else wrote
        (``{"type": "user", "sender_user": {…}}``, ``{"type": "hidden_user",
        "sender_user_name": …}``, ``{"type": "channel", "chat": {…}, "message_id": …}``);
        its ``date`` is filled in when missing, and its text keeps its entities (a forwarded
        ``/stop`` still carries its ``bot_command``). ``reply_to``: the id of a message of
        this chat (the user's or the bot's) the user answers; Telegram includes that message
        (without its own ``reply_to_message``), and ``quote`` the part of its text the user
        selected to quote."""
        original = None
        if reply_to is not None:
            chat = self._chats.get(chat_id)
            original = chat.messages.get(reply_to) if chat else None
            if original is None:
                raise ValueError(f"no message {reply_to} in chat {chat_id}")
        message = self._inbound_message(chat_id, user_id, first_name, last_name, username,
                                        language_code)
        if original is not None:
            quoted = copy.deepcopy(original)
            quoted.pop("reply_to_message", None)
            message["reply_to_message"] = quoted
            if quote is not None:
                replied = original.get("text") or original.get("caption") or ""
                at = replied.find(quote)
                if not quote or at < 0:
                    raise ValueError("a quote is a part of the replied message's text")
                message["quote"] = {"text": quote, "position": _u16(replied[:at]),
                                    "is_manual": True}
        message["text"] = text
        found = sorted([*_auto_entities(text), *(entities or [])],
                       key=lambda e: (e["offset"], -e["length"]))
        if found:
            message["entities"] = found
        if forward_origin is not None:
            message["forward_origin"] = {"date": message["date"] - 60, **forward_origin}
        return self._push_update("message", message)

    def push_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
    ) -> JSONDict:
        """The user shares a location; with ``live_period`` (60-86400 seconds, or 0x7FFFFFFF
        for "until I stop") a live location, which moves by edits (``push_location_move``)."""
        message = self._inbound_message(chat_id, None, first_name, last_name, None)
        location: JSONDict = {"latitude": latitude, "longitude": longitude}
        if live_period is not None:
            location["live_period"] = live_period
            location["heading"] = 1
        message["location"] = location
        return self._push_update("message", message)

    def push_contact(
        self,
        chat_id: int,
        phone_number: str,
        first_name: str,
        last_name: str | None = None,
        *,
        contact_user_id: int | None = None,
    ) -> JSONDict:
        """The user shares a contact. ``contact_user_id``: the Telegram account the number
        belongs to, which Telegram fills in (the sender's own id when they share their own
        contact, whose number then comes as digits without ``+``)."""
        message = self._inbound_message(chat_id, None, "Erika", "Mustermann", None)
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        contact["vcard"] = (f"BEGIN:VCARD\nVERSION:3.0\nFN:{first_name} {last_name or ''}\n"
                            f"TEL;MOBILE:{phone_number}\nEND:VCARD")
        message["contact"] = contact
        return self._push_update("message", message)

    def push_location_move(
        self, chat_id: int, message_id: int, latitude: float, longitude: float
    ) -> JSONDict:
        """A live location moved: Telegram sends the message again as ``edited_message``
        with the new position and ``edit_date``."""
        chat = self._chats.get(chat_id)
        original = chat.messages.get(message_id) if chat else None
        if chat is None or original is None or "live_period" not in original.get(
            "location", {}
        ):
            raise ValueError(f"no live location {message_id} in chat {chat_id}")
        moved = copy.deepcopy(original)
        moved["location"].update(latitude=latitude, longitude=longitude)
        moved["edit_date"] = max(int(time.time()), original["date"])
        chat.messages[message_id] = copy.deepcopy(moved)
        return self._push_update("edited_message", moved)

    def push_photo(
        self,
        chat_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
        media_group_id: str | None = None,
    ) -> JSONDict:
        """The user sends a photo; ``message.photo[-1]`` downloads as ``data``. With
        ``media_group_id`` it is one of an album (Telegram sends one message per photo)."""
        message = self._inbound_message(chat_id, user_id, first_name, last_name, username)
        message["photo"] = self._photo_sizes(data, require_image=False)
        self._set_caption(message, caption)
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        return self._push_update("message", message)

    def push_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
    ) -> JSONDict:
        message = self._inbound_message(chat_id, user_id, first_name, last_name, username)
        stored = self._store_file("document", data, file_name=file_name, mime_type=mime_type)
        message["document"] = self._document_object(stored)
        self._set_caption(message, caption)
        return self._push_update("message", message)

    def push_animation(
        self,
        chat_id: int,
        data: bytes,
        file_name: str = "animation.gif.mp4",
        caption: str | None = None,
    ) -> JSONDict:
        """The user sends a GIF (Telegram converts it to a silent MP4): the message carries
        ``animation`` and, "for backward compatibility", the same file as ``document``."""
        message = self._inbound_message(chat_id, None, "Erika", "Mustermann", None)
        stored = self._store_file("document", data, file_name=file_name, mime_type="video/mp4")
        message["animation"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 320,
            "height": 240,
            "duration": 2,
            "file_name": file_name,
            "mime_type": "video/mp4",
            "file_size": len(data),
        }
        message["document"] = self._document_object(stored)
        self._set_caption(message, caption)
        return self._push_update("message", message)

    def push_voice(
        self,
        chat_id: int,
        data: bytes,
        duration: int = 3,
        *,
        user_id: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
    ) -> JSONDict:
        message = self._inbound_message(chat_id, user_id, first_name, last_name, username)
        stored = self._store_file("voice", data, mime_type="audio/ogg")
        message["voice"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self._push_update("message", message)

    def push_edit(
        self,
        chat_id: int,
        message_id: int,
        new_text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Erika",
        last_name: str | None = "Mustermann",
        username: str | None = None,
    ) -> JSONDict:
        """The user edits an earlier message (text, or the caption of a media message)."""
        chat = self._chats.get(chat_id)
        original = chat.messages.get(message_id) if chat else None
        if chat is None or original is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        if original["from"].get("is_bot"):
            raise ValueError(f"message {message_id} in chat {chat_id} was sent by the bot")
        if user_id is not None and user_id != original["from"]["id"]:
            raise ValueError("only the author can edit a message")
        self._chat(chat_id, first_name, last_name, username)
        edited = copy.deepcopy(original)
        edited.pop("reply_to_message", None)
        edited["edit_date"] = max(int(time.time()), original["date"])
        if "text" in edited or not any(k in edited for k in ("photo", "document", "voice")):
            edited["text"] = new_text
            edited.pop("entities", None)
            if entities := _auto_entities(new_text):
                edited["entities"] = entities
        else:
            self._set_caption(edited, new_text)
        chat.messages[message_id] = copy.deepcopy(edited)
        return self._push_update("edited_message", edited)

    def push_raw_update(self, fields: JSONDict) -> JSONDict:
        """Queue an update exactly as given, with the next ``update_id`` (for what the
        helpers above do not build: an update of a newer Bot API version, one a client
        library cannot parse). Returns the update."""
        update = {"update_id": self._next_update_id, **copy.deepcopy(fields)}
        self._next_update_id += 1
        self._pending.append(update)
        self._notify()
        return copy.deepcopy(update)

    # ---------------------------------------------------------------- model internals

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _chat(
        self, chat_id: int, first_name: str, last_name: str | None, username: str | None
    ) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat_id > 0:
            info: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if last_name is not None:
                info["last_name"] = last_name
            if username is not None:
                info["username"] = username
        else:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            info = {"id": chat_id, "type": kind, "title": "Chronik Test Group"}
        if chat is None:
            chat = self._chats[chat_id] = _Chat(info)
        else:
            chat.info = info
        return chat

    def _inbound_message(
        self,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None = "de",
    ) -> JSONDict:
        sender_id = chat_id if user_id is None else user_id
        if chat_id > 0 and sender_id != chat_id:
            raise ValueError("in a private chat chat_id equals the user's id; use chat_id < 0")
        if sender_id <= 0:
            raise ValueError("user ids are positive")
        chat = self._chat(chat_id, first_name, last_name, username)
        user: JSONDict = {"id": sender_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:  # Telegram leaves it out when the app does not tell
            user["language_code"] = language_code
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return {
            "message_id": message_id,
            "from": user,
            "chat": copy.deepcopy(chat.info),
            "date": int(time.time()),
        }

    def _push_update(self, kind: str, message: JSONDict) -> JSONDict:
        chat = self._chats[message["chat"]["id"]]
        if kind == "message":
            chat.messages[message["message_id"]] = copy.deepcopy(message)
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(message)}
        self._next_update_id += 1
        self._pending.append(update)
        self._notify()
        return copy.deepcopy(message)

    def _bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": _BOT_FIRST_NAME,
            "username": self.bot_username,
        }

    def _set_caption(self, message: JSONDict, caption: str | None) -> None:
        message.pop("caption", None)
        message.pop("caption_entities", None)
        if caption:
            message["caption"] = caption
            if entities := _auto_entities(caption):
                message["caption_entities"] = entities

    def _store_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        extension: str | None = None,
        salt: str = "",
    ) -> _StoredFile:
        self._file_counter += 1
        number = self._file_counter
        prefix = {"photo": "AgAC", "document": "BQAC", "voice": "AwAC"}.get(kind, "AAMC")
        digest = hashlib.sha256(f"{self.token}:{kind}:{number}".encode()).digest()
        file_id = prefix + base64.urlsafe_b64encode(digest[:42]).decode().rstrip("=")
        unique = hashlib.sha256(kind.encode() + salt.encode() + data).digest()
        file_unique_id = "AgAD" + base64.urlsafe_b64encode(unique[:9]).decode()
        if extension is None:
            if kind == "voice":
                extension = ".oga"
            elif file_name and "." in file_name:
                extension = "." + file_name.rsplit(".", 1)[-1]
            else:
                extension = (mimetypes.guess_extension(mime_type) if mime_type else None) or ""
        folder = {"photo": "photos", "document": "documents", "voice": "voice"}.get(
            kind, "thumbnails"
        )
        stored = _StoredFile(
            file_id=file_id,
            file_unique_id=file_unique_id,
            data=data,
            file_path=f"{folder}/file_{number}{extension}",
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files_by_id[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    @staticmethod
    def _document_object(stored: _StoredFile) -> JSONDict:
        document: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name is not None:
            document["file_name"] = stored.file_name
        if stored.mime_type is not None:
            document["mime_type"] = stored.mime_type
        document["file_size"] = len(stored.data)
        return document

    def _photo_sizes(self, data: bytes, *, require_image: bool) -> list[JSONDict]:
        detected = _image_size(data)
        if detected is None:
            if require_image:
                raise _bad_request("IMAGE_PROCESS_FAILED")
            extension, width, height = ".jpg", *_DEFAULT_PHOTO_SIZE
        else:
            extension, width, height = detected
        if require_image and (
            width + height > 10000
            or min(width, height) == 0
            or max(width, height) / min(width, height) > 20
        ):
            raise _bad_request("PHOTO_INVALID_DIMENSIONS")
        sizes: list[JSONDict] = []
        longest = max(width, height)
        for side in _THUMBNAIL_SIDES:
            if side >= longest:
                break
            scale = side / longest
            t_width, t_height = max(1, round(width * scale)), max(1, round(height * scale))
            placeholder = (
                f"chronik-standin thumbnail {t_width}x{t_height} of ".encode()
                + hashlib.sha256(data).hexdigest().encode()
            )
            stored = self._store_file(
                "photo", placeholder, extension=".jpg", salt=f"{t_width}x{t_height}"
            )
            sizes.append(self._photo_size(stored, t_width, t_height))
        stored = self._store_file("photo", data, extension=extension, salt="original")
        sizes.append(self._photo_size(stored, width, height))
        return sizes

    @staticmethod
    def _photo_size(stored: _StoredFile, width: int, height: int) -> JSONDict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "width": width,
            "height": height,
        }

    # ---------------------------------------------------------------- HTTP layer

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, dict[str, _Upload]]:
        params: JSONDict = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if not request.body_exists:
            return params, uploads
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad_request("JSON object expected")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    with value.file:  # closed now: a dropped answer skips aiohttp's cleanup
                        uploads[key] = _Upload(
                            value.file.read(), value.filename, value.content_type
                        )
                else:
                    params[key] = value if isinstance(value, str) else bytes(value).decode()
        return params, uploads

    def _check_token(self, token: str) -> None:
        if token != self.token:
            if _TOKEN_RE.match(token):
                raise _ApiError(401, "Unauthorized")
            raise _ApiError(404, "Not Found")

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        entry = self._handlers.get(method.lower())
        self.calls.append(entry[0] if entry else method)
        try:
            self._check_token(request.match_info["token"])
            if entry is None:
                raise _ApiError(404, "Not Found")
            name, handler = entry
            params, uploads = await self._read_params(request)
            self.requests.append((name, copy.deepcopy(params)))
            failure = next((f for f in self._failures if f.applies(name)), None)
            if failure is not None and failure.after:
                failure.after -= 1
            elif failure is not None:
                self._failures.remove(failure)
                return self._failure_response(failure)
            result = await handler(params, uploads)
        except _ApiError as exc:
            return exc.response()
        lost = next((x for x in self._lost_answers if x.method == name), None)
        if lost is not None and lost.after:
            lost.after -= 1
        elif lost is not None:
            self._lost_answers.remove(lost)
            if lost.seconds is None:
                assert request.transport is not None
                request.transport.close()
                raise asyncio.CancelledError  # aiohttp ends the request: no answer at all
            await asyncio.sleep(lost.seconds)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _failure_response(failure: _Failure) -> web.Response:
        if failure.status == 429:
            description = failure.description or (
                f"Too Many Requests: retry after {failure.retry_after}"
            )
            return _ApiError(429, description, {"retry_after": failure.retry_after}).response()
        if failure.status == 502 and failure.description is None:
            page = (
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0"
                "</center>\r\n</body>\r\n</html>\r\n"
            )
            return web.Response(status=502, text=page, content_type="text/html")
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        description = failure.description or reasons.get(failure.status, "Error")
        return _ApiError(failure.status, description).response()

    async def _handle_download(self, request: web.Request) -> web.Response:
        try:
            self._check_token(request.match_info["token"])
        except _ApiError as exc:
            return exc.response()
        self.downloads.append(request.match_info["path"])
        if self._download_failures:
            return self._failure_response(self._download_failures.pop(0))
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return _ApiError(404, "Not Found").response()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return _ApiError(404, "Not Found").response()

    # ---------------------------------------------------------------- Bot API methods

    async def _api_getMe(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_logOut(self, params: JSONDict, uploads: dict[str, _Upload]) -> bool:
        return True

    async def _api_close(self, params: JSONDict, uploads: dict[str, _Upload]) -> bool:
        return True

    async def _api_getUpdates(
        self, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = max(_opt_float(params, "timeout") or 0.0, 0.0)
        if offset is not None and offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset is not None and offset < 0:
            self._pending = self._pending[offset:]

        # A newer getUpdates request terminates a waiting older one (as on Telegram).
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing and self._webhook is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        if self._webhook is not None or self._closing:
            return []
        return copy.deepcopy(self._pending[:limit])

    async def _api_setWebhook(self, params: JSONDict, uploads: dict[str, _Upload]) -> bool:
        url = _opt_str(params, "url") or ""
        if _opt_bool(params, "drop_pending_updates"):
            self._pending.clear()
        if not url:
            self._webhook = None
            self._notify()
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if (self.require_https_webhook or self.cloud_webhook_rules) and parts.scheme != "https":
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if self.cloud_webhook_rules:
            try:
                port = parts.port or 443
            except ValueError:
                raise _bad_request("bad webhook: Wrong port number specified in the URL") from None
            if port not in WEBHOOK_PORTS:
                raise _bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )
            host = parts.hostname or ""
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                address = None
            if host == "localhost" or (address is not None and not address.is_global):
                raise _bad_request(f"bad webhook: IP address {host} is reserved")
        secret = _opt_str(params, "secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(secret):
            raise _bad_request("secret token contains unallowed characters")
        max_connections = _opt_int(params, "max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise _bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = _opt_json(params, "allowed_updates")
        self._webhook = _Webhook(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            allowed_updates=allowed if isinstance(allowed, list) else None,
            ip_address=_opt_str(params, "ip_address"),
        )
        self._notify()
        return True

    async def _api_deleteWebhook(self, params: JSONDict, uploads: dict[str, _Upload]) -> bool:
        if _opt_bool(params, "drop_pending_updates"):
            self._pending.clear()
        self._webhook = None
        self._notify()
        return True

    async def _api_getWebhookInfo(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook is not None:
            info["max_connections"] = self._webhook.max_connections
            if self._webhook.ip_address:
                info["ip_address"] = self._webhook.ip_address
            if self._webhook.allowed_updates is not None:
                info["allowed_updates"] = self._webhook.allowed_updates
            if self._webhook.last_error_date is not None:
                info["last_error_date"] = self._webhook.last_error_date
                info["last_error_message"] = self._webhook.last_error_message
        return info

    async def _api_getFile(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        file_id = _opt_str(params, "file_id")
        if not file_id:
            raise _bad_request("file_id is empty")
        stored = self._files_by_id.get(file_id)
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _api_sendMessage(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        text = _opt_str(params, "text")
        if text is None or not text.strip():
            raise _bad_request("message text is empty")
        chat = self._target_chat(chat_id)
        plain, entities = self._formatted(text, params, "entities")
        if not plain.strip():
            raise _bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        message = self._outbound_message(chat, params)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        return self._record_sent("sendMessage", chat, params, message, {"text": text})

    async def _api_sendDocument(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        chat = self._target_chat(chat_id)
        upload, existing = self._input_file(params, uploads, "document")
        caption_fields = self._caption(params)
        message = self._outbound_message(chat, params)
        if existing is not None:
            stored = existing
        else:
            assert upload is not None
            file_name = upload.filename or "file"
            mime_type = (
                mimetypes.guess_type(file_name, strict=False)[0]
                or upload.content_type
                or "application/octet-stream"
            )
            stored = self._store_file(
                "document", upload.data, file_name=file_name, mime_type=mime_type
            )
        message["document"] = self._document_object(stored)
        message.update(caption_fields)
        file_info = {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "data": stored.data,
            "file_id": stored.file_id,
        }
        return self._record_sent(
            "sendDocument",
            chat,
            params,
            message,
            {"document": file_info, "caption": _opt_str(params, "caption")},
        )

    async def _api_sendPhoto(self, params: JSONDict, uploads: dict[str, _Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        chat = self._target_chat(chat_id)
        upload, existing = self._input_file(params, uploads, "photo")
        caption_fields = self._caption(params)
        data = existing.data if existing is not None else upload.data if upload else b""
        sizes = self._photo_sizes(data, require_image=True)
        message = self._outbound_message(chat, params)
        message["photo"] = sizes
        message.update(caption_fields)
        file_info = {
            "file_name": upload.filename if upload else None,
            "mime_type": upload.content_type if upload else None,
            "data": data,
            "file_id": sizes[-1]["file_id"],
        }
        return self._record_sent(
            "sendPhoto",
            chat,
            params,
            message,
            {"photo": file_info, "caption": _opt_str(params, "caption")},
        )

    # ---------------------------------------------------------------- send* helpers

    def _chat_id(self, params: JSONDict) -> int | str:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value))
        except ValueError:
            return str(value)  # "@channelusername" - no such chat here

    def _target_chat(self, chat_id: int | str) -> _Chat:
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request("chat not found")
        if chat_id in self._migrated:
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": self._migrated[chat_id]})
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _formatted(
        self, text: str, params: JSONDict, entities_param: str
    ) -> tuple[str, list[JSONDict]]:
        parse_mode = _opt_str(params, "parse_mode")
        if parse_mode:
            parser = {
                "html": _parse_html,
                "markdownv2": _parse_markdown_v2,
                "markdown": _parse_markdown_legacy,
            }.get(parse_mode.lower())
            if parser is None:
                raise _bad_request("unsupported parse_mode")
            return parser(text)
        entities = _opt_json(params, entities_param)
        if entities is not None and not isinstance(entities, list):
            raise _bad_request(f"can't parse {entities_param} JSON object")
        return text, entities or []

    def _caption(self, params: JSONDict) -> JSONDict:
        caption = _opt_str(params, "caption")
        if not caption:
            return {}
        plain, entities = self._formatted(caption, params, "caption_entities")
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        fields: JSONDict = {"caption": plain}
        if entities:
            fields["caption_entities"] = entities
        return fields

    def _input_file(
        self, params: JSONDict, uploads: dict[str, _Upload], name: str
    ) -> tuple[_Upload | None, _StoredFile | None]:
        upload = uploads.get(name)
        value = params.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
        if upload is not None:
            if not upload.data:
                raise _bad_request("file must be non-empty")
            if len(upload.data) > MAX_UPLOAD_SIZE:
                raise _ApiError(413, "Request Entity Too Large")
            return upload, None
        if not value:
            raise _bad_request(f"there is no {name} in the request")
        stored = self._files_by_id.get(str(value))
        if stored is not None:
            return None, stored
        if str(value).startswith(("http://", "https://")):
            raise _bad_request("failed to get HTTP URL content")
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _reply_markup(self, params: JSONDict) -> JSONDict | None:
        try:
            markup = _opt_json(params, "reply_markup")
        except _ApiError:
            raise _bad_request("can't parse reply keyboard markup JSON object") from None
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of '
                    "Arrays"
                )
            for button in (b for row in rows for b in row):
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad_request("can't parse inline keyboard button: Text is empty")
                if len(_INLINE_BUTTON_ACTIONS & button.keys()) != 1:
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and urlsplit(str(url)).scheme not in ("http", "https", "tg"):
                    raise _bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
        elif not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _outbound_message(self, chat: _Chat, params: JSONDict) -> JSONDict:
        """Validates the common send* parameters and builds (but not yet stores) the Message."""
        markup = self._reply_markup(params)
        reply = _opt_json(params, "reply_parameters")
        if reply is not None and not isinstance(reply, dict):
            raise _bad_request("can't parse reply parameters JSON object")
        reply_to: int | None
        if reply:
            reply_to = _as_int(reply.get("message_id"), "message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        else:
            reply_to = _opt_int(params, "reply_to_message_id")
            allow_missing = _opt_bool(params, "allow_sending_without_reply")
        message: JSONDict = {
            "message_id": chat.next_message_id,
            "from": self._bot_user(),
            "chat": copy.deepcopy(chat.info),
            "date": int(time.time()),
        }
        if reply_to is not None:
            original = chat.messages.get(reply_to)
            if original is not None:
                quoted = copy.deepcopy(original)
                quoted.pop("reply_to_message", None)
                message["reply_to_message"] = quoted
            elif not allow_missing:
                raise _bad_request("message to be replied not found")
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        return message

    def _record_sent(
        self,
        method: str,
        chat: _Chat,
        params: JSONDict,
        message: JSONDict,
        extra: JSONDict,
    ) -> JSONDict:
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = copy.deepcopy(message)
        record: JSONDict = {}
        for key, value in params.items():
            record[key] = _opt_json(params, key) if key in _JSON_PARAMS else value
        record.update(
            method=method,
            chat_id=chat.info["id"],
            message_id=message["message_id"],
            parse_mode=_opt_str(params, "parse_mode"),
            reply_markup=self._reply_markup(params),
            message=copy.deepcopy(message),
            **extra,
        )
        self.sent.append(record)
        self._notify()
        return message

    # ---------------------------------------------------------------- webhook delivery

    async def _webhook_worker(self) -> None:
        """Hands pending updates to delivery tasks, at most ``max_connections`` at a time."""
        while not self._closing:
            webhook = self._webhook
            ready = [u for u in self._pending if u["update_id"] not in self._in_flight]
            if (
                webhook is None
                or not ready
                or self._session is None
                or len(self._in_flight) >= webhook.max_connections
            ):
                await self._changed.wait()
                continue
            batch = ready[: webhook.max_connections - len(self._in_flight)]
            for update in batch:
                self._in_flight.add(update["update_id"])
            if self.webhook_order == "reversed":  # newest first, one after the other
                jobs = [self._deliver_all(webhook, batch[::-1])]
            else:
                jobs = [self._deliver(webhook, update) for update in batch]
            for job in jobs:
                task = asyncio.create_task(job)
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def _deliver_all(self, webhook: _Webhook, updates: list[JSONDict]) -> None:
        for update in updates:
            await self._deliver(webhook, update)

    async def _deliver(self, webhook: _Webhook, update: JSONDict) -> None:
        """One POST of one update; on failure it waits and is retried, or dropped after
        ``webhook_max_attempts`` attempts."""
        update_id = update["update_id"]
        try:
            assert self._session is not None
            headers = {"Content-Type": "application/json"}
            if webhook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(
                    webhook.url,
                    data=json.dumps(update),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ) as response:
                    await response.read()
                    status = response.status
                    if not 200 <= status <= 299:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except TimeoutError:
                error = "Read timeout expired"
            except (aiohttp.ClientError, OSError) as exc:
                error = f"Connection failed: {exc}"
            self.webhook_deliveries.append(
                {"update_id": update_id, "status": status, "error": error}
            )
            if error is None:
                self._forget(update)
            else:
                webhook.last_error_date = int(time.time())
                webhook.last_error_message = error
                attempts = self._attempts[update_id] = self._attempts.get(update_id, 0) + 1
                if self.webhook_max_attempts is not None and attempts >= self.webhook_max_attempts:
                    self._forget(update)
                    self.dropped_updates.append(copy.deepcopy(update))
                else:
                    await asyncio.sleep(self.webhook_retry_delay)
        finally:
            self._in_flight.discard(update_id)
            self._notify()

    def _forget(self, update: JSONDict) -> None:
        self._attempts.pop(update["update_id"], None)
        for i, pending in enumerate(self._pending):
            if pending is update:
                del self._pending[i]
                break
