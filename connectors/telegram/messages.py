"""Translate a Telegram ``Message`` into our ``InboundMessage``.

Pure except for :func:`download`, which fetches files through the bot (``getFile`` plus the
file URL). Photos arrive in several sizes; only the largest is kept."""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    Bot,
    Message,
    MessageEntity,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    User,
)
from telegram import error as tg_error
from telegram.constants import ChatType

from connectors.telegram.errors import TelegramUnavailable, scrub, translate
from timeline.ingest import InboundAttachment, InboundMessage
from timeline.models import Channel, IdentityKind
from timeline.optout import says_stop

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""What the Bot API lets a bot download (``getFile`` refuses bigger files)."""

COMMANDS = frozenset({"start", "stop", "portal", "login", "anmelden"})
REPLY_EXCERPT = 100
"""Characters of the message a reply answers that its entry shows."""



@dataclass(frozen=True)
class FileRef:
    """One file of a message, before it is downloaded."""

    file_id: str
    name: str
    content_type: str | None
    size: int | None


@dataclass(frozen=True)
class Missing:
    """A file that could not be downloaded for good (too big, gone)."""

    name: str
    reason: str


def chat_of(data: dict[str, Any]) -> int | None:
    """The chat id of a raw update (``None`` for updates without a message)."""
    for key in ("message", "edited_message"):
        message = data.get(key)
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat = message["chat"].get("id")
            if isinstance(chat, int) and not isinstance(chat, bool):
                return chat
    return None


_HALF_PAIR = re.compile("[\ud800-\udfff]")


def _whole(value: Any) -> Any:
    """``value`` with half surrogate pairs in its strings (keys, values, items; recursively)
    replaced by U+FFFD."""
    if isinstance(value, str):
        return _HALF_PAIR.sub("\ufffd", value) if _HALF_PAIR.search(value) else value
    if isinstance(value, dict):
        return {_whole(k): _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def update_data(raw: bytes) -> Any:
    """A stored update as PTB reads it. JSON may spell half of a surrogate pair
    (``"\\ud83d"``: the first half of an emoji, as a broken client may send it), which is
    no character and cannot be stored as UTF-8: it becomes U+FFFD (the rest of the message
    lands as sent, instead of failing it as "unstorable")."""
    return _whole(json.loads(raw))


def raw_update(item: Any) -> bytes:
    """One update of a ``getUpdates`` answer, to be stored: as Telegram sent it (UTF-8), or,
    where it holds half of a surrogate pair, as JSON's ``\\u`` escapes (what UTF-8 cannot
    hold; a failure here would stop polling: the batch is never confirmed)."""
    try:
        return json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(item).encode("ascii")


def ids_of(body: bytes) -> tuple[int, int | None]:
    """``update_id`` and chat id of a raw update; raises for anything that is not one."""
    data = json.loads(body)
    update_id = data["update_id"]
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise TypeError("update_id is not a number")
    return update_id, chat_of(data)


def source_id(message: Message) -> str:
    """Our idempotency key: chat id and message id (an edit keeps both)."""
    return f"{message.chat.id}:{message.message_id}"


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def sender_name(user: User) -> str:
    return " ".join(p.strip() for p in (user.first_name, user.last_name or "") if p.strip())


def language(user: User | None) -> str:
    """``de`` or ``en`` for the replies, from the user's Telegram language."""
    code = (user.language_code if user else None) or "de"
    return "de" if code.lower().startswith("de") else "en"


def command(message: Message) -> tuple[str, str] | None:
    """``("start", "token")`` for ``/start token`` (also ``/start@our_bot``); else ``None``.
    A forwarded message is never a command: it is what someone else wrote."""
    if message.forward_origin is not None:
        return None
    text = (message.text or "").strip()
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name = head[1:].partition("@")[0].lower()
    if name not in COMMANDS:
        return None
    return name, rest.strip()


def stop_word(message: Message) -> bool:
    """Whether the message says nothing but "STOP" (``timeline.optout``); never a forwarded
    one."""
    if message.forward_origin is not None:
        return False
    return says_stop(message.text or "")  # for a known customer's chat: ``/stop``


def text_of(message: Message) -> str:
    """The text or caption, with the address of every link hidden behind a word
    ("click *here*") written after it: ``here (https://…)``."""
    if message.text is not None:
        return _with_links(message.text, message.entities)
    if message.caption is not None:
        return _with_links(message.caption, message.caption_entities)
    return ""


def _with_links(text: str, entities: tuple[MessageEntity, ...]) -> str:
    links = sorted((e for e in entities if e.type == MessageEntity.TEXT_LINK and e.url),
                   key=lambda e: e.offset)
    if not links:
        return text
    units = text.encode("utf-16-le")  # entity offsets count UTF-16 code units
    out: list[str] = []
    at = 0
    try:
        for link in links:
            start, end = link.offset * 2, (link.offset + link.length) * 2
            if start < at or end > len(units):
                continue  # overlapping or out of range: Telegram never sends that
            label = units[start:end].decode("utf-16-le")
            out.append(units[at:end].decode("utf-16-le"))
            if str(link.url).rstrip("/") != label.strip().rstrip("/"):
                out.append(f" ({link.url})")
            at = end
        out.append(units[at:].decode("utf-16-le"))
    except UnicodeDecodeError:  # an offset inside a character: keep the text as sent
        return text
    return "".join(out)


def forwarded_from(message: Message) -> str | None:
    """Who wrote a forwarded message (``None``: the sender wrote it)."""
    origin = message.forward_origin
    if origin is None:
        return None
    name = ""
    if isinstance(origin, MessageOriginUser):
        name = sender_name(origin.sender_user)
    elif isinstance(origin, MessageOriginHiddenUser):
        name = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        name = origin.sender_chat.effective_name or ""
    elif isinstance(origin, MessageOriginChannel):
        name = origin.chat.effective_name or ""
    return name.strip() or "unknown"


def file_refs(message: Message) -> list[FileRef]:
    mid = message.message_id
    refs: list[FileRef] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        refs.append(FileRef(largest.file_id, f"photo-{mid}", None, largest.file_size))
    if message.document:
        d = message.document
        refs.append(FileRef(d.file_id, d.file_name or f"document-{mid}", d.mime_type,
                            d.file_size))
    if message.voice:
        v = message.voice
        refs.append(FileRef(v.file_id, f"voice-{mid}.ogg", v.mime_type or "audio/ogg",
                            v.file_size))
    if message.audio:
        a = message.audio
        refs.append(FileRef(a.file_id, a.file_name or f"audio-{mid}", a.mime_type, a.file_size))
    if message.video:
        vi = message.video
        refs.append(FileRef(vi.file_id, vi.file_name or f"video-{mid}.mp4",
                            vi.mime_type or "video/mp4", vi.file_size))
    if message.video_note:
        n = message.video_note
        refs.append(FileRef(n.file_id, f"video-note-{mid}.mp4", "video/mp4", n.file_size))
    if message.animation and not message.document:
        # Telegram sends an animation (a GIF) also as ``document``, the same file: once
        an = message.animation
        refs.append(FileRef(an.file_id, an.file_name or f"animation-{mid}.mp4",
                            an.mime_type, an.file_size))
    return refs


def own_phone(message: Message) -> str | None:
    """The sender's own phone number, when they shared their own contact: Telegram names
    the account a shared number belongs to (``contact.user_id``), so a contact whose
    account is the sender's carries the number of their Telegram account (digits, often
    without ``+``) -- given as ``+<digits>``."""
    contact, user = message.contact, message.from_user
    if contact is None or user is None or contact.user_id != user.id:
        return None
    digits = re.sub(r"\D", "", contact.phone_number or "")
    return f"+{digits}" if 8 <= len(digits) <= 15 else None


def extras(message: Message) -> list[str]:
    """Content that is neither text nor a file, written out for the timeline."""
    lines: list[str] = []
    if message.location and not message.venue:
        loc = message.location
        lines.append(f"[Location: {loc.latitude:.6f}, {loc.longitude:.6f}]")
    if message.venue:
        venue = message.venue
        lines.append(f"[Venue: {venue.title}, {venue.address}]")
    if message.contact:
        c = message.contact
        name = " ".join(p for p in (c.first_name, c.last_name or "") if p)
        own = own_phone(message)
        lines.append(f"[Contact: {name}, {own} (their own number)]" if own
                     else f"[Contact: {name}, {c.phone_number}]")
    if message.sticker:
        lines.append(f"[Sticker {message.sticker.emoji or ''}]".replace(" ]", "]"))
    return lines


async def download(bot: Bot, ref: FileRef, token: str) -> InboundAttachment | Missing:
    """Fetch one file. A file the API will never hand out (too big, unknown) is ``Missing``;
    anything that may work later raises :class:`TelegramUnavailable` (network, timeouts,
    flood control, Telegram's 5xx, an expired download link) or
    :class:`~connectors.telegram.errors.TelegramTokenRejected`, so that the whole update is
    retried."""
    if ref.size is not None and ref.size > MAX_DOWNLOAD_BYTES:
        return Missing(ref.name, "the file is larger than the Bot API lets bots download")
    try:
        tg_file = await bot.get_file(ref.file_id)
    except tg_error.BadRequest as exc:  # "file is too big", "invalid file_id"
        return Missing(ref.name, scrub(exc.message, token))
    except tg_error.TelegramError as exc:
        raise translate(exc, token) from None
    try:
        data = bytes(await tg_file.download_as_bytearray())
    except tg_error.InvalidToken:  # PTB's name for a 404 on the file path
        raise TelegramUnavailable("the file's download link did not work (links expire after "
                                  "an hour); the file is asked for again") from None
    except tg_error.TelegramError as exc:
        error = translate(exc, token)
        raise (error if isinstance(error, TelegramUnavailable)
               else TelegramUnavailable(f"downloading the file failed: {error}")) from None
    name = ref.name
    suffix = PurePosixPath(urlsplit(tg_file.file_path or "").path).suffix
    if suffix and not PurePosixPath(name).suffix:
        name += ".jpg" if suffix.lower() == ".jpeg" else suffix.lower()
    content_type = (ref.content_type or mimetypes.guess_type(name, strict=False)[0]
                    or "application/octet-stream")
    return InboundAttachment(name=name, content_type=content_type, data=data)


def replied(message: Message) -> dict[str, Any] | None:
    """What a reply answers (``meta.telegram.reply_to``): the message's id, whether the bot
    sent it (a notification, an answer) and an excerpt of its text -- of the part the
    customer quoted, when they quoted one."""
    parent = message.reply_to_message
    if parent is None:
        return None
    quoted = message.quote.text if message.quote is not None else ""
    text = " ".join((quoted or parent.text or parent.caption or "").split())
    if len(text) > REPLY_EXCERPT:
        text = text[:REPLY_EXCERPT - 1].rstrip() + "…"
    return {"message_id": parent.message_id,
            "from_bot": bool(parent.from_user is not None and parent.from_user.is_bot),
            "text": text}


def body_of(message: Message, missing: list[Missing], *, files: bool,
            reply_to: dict[str, Any] | None = None) -> str:
    """The entry's text: who wrote it if it was forwarded, the text or caption, what is
    neither text nor file (a location, a contact, a sticker), the files that could not be
    fetched, and what it answers. An edit gives the same for the edited message (``files``:
    the entry has files, so an empty text is no message of an unknown kind; ``reply_to``:
    what the entry answers when the edit does not say)."""
    origin = forwarded_from(message)
    parts = [f"[Forwarded from {origin}]" if origin else "", text_of(message),
             *extras(message)]
    parts += [f"[Attachment not received: {m.name} ({m.reason})]" for m in missing]
    if not (files or missing or any(parts)):
        parts.append("[A Telegram message of a kind Chronik does not show]")
    answered = replied(message) or reply_to
    if answered is not None:
        excerpt = str(answered.get("text") or "")
        parts.append(f'[Reply to: "{excerpt}"]' if excerpt else "[Reply to an earlier message]")
    return "\n".join(p for p in parts if p)


def reply_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    """What an entry answers (``meta.telegram.reply_to``), if anything."""
    telegram = meta.get("telegram")
    answered = telegram.get("reply_to") if isinstance(telegram, dict) else None
    return answered if isinstance(answered, dict) else None


def missing_of(meta: dict[str, Any]) -> list[Missing]:
    """The files an entry notes as not received (``meta.telegram.missing_attachments``)."""
    telegram = meta.get("telegram")
    noted = telegram.get("missing_attachments") if isinstance(telegram, dict) else None
    return [Missing(str(m.get("name", "")), str(m.get("reason", "")))
            for m in (noted if isinstance(noted, list) else []) if isinstance(m, dict)]


def to_inbound(office_id: str, message: Message, attachments: list[InboundAttachment],
               missing: list[Missing], *, customer_id: str | None = None,
               edited: bool = False) -> InboundMessage:
    user = message.from_user
    assert user is not None
    telegram: dict[str, Any] = {"chat_id": message.chat.id, "message_id": message.message_id,
                                "user_id": user.id}
    if user.username:
        telegram["username"] = user.username
    if missing:
        telegram["missing_attachments"] = [{"name": m.name, "reason": m.reason}
                                           for m in missing]
    if edited:
        telegram["edited"] = True
    if message.media_group_id:  # one of several photos/files sent at once (an album)
        telegram["media_group_id"] = message.media_group_id
    origin = forwarded_from(message)
    if origin:
        telegram["forwarded_from"] = origin
    answered = replied(message)
    in_reply_to = None
    if answered is not None:
        telegram["reply_to"] = answered
        if not answered["from_bot"]:  # the customer's own message: its entry, if stored
            in_reply_to = f"{message.chat.id}:{answered['message_id']}"
    return InboundMessage(
        office_id=office_id, channel=Channel.CHAT, source_id=source_id(message),
        sender_kind=IdentityKind.TELEGRAM, sender=str(user.id), sender_name=sender_name(user),
        occurred_at=message.date, kind="message",
        body=body_of(message, missing, files=bool(attachments)),
        attachments=tuple(attachments), in_reply_to=in_reply_to,
        customer_id=customer_id, meta={"telegram": telegram})
