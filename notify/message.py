"""An outgoing message as every transport receives it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutgoingAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    channel: str
    address: str
    """E-mail address, Telegram chat id, or the customer id for the portal inbox."""
    recipient_name: str
    sender_name: str
    """The office that sends it."""
    subject: str
    text: str
    html: str | None
    message_id: str
    """Stable per (entry, channel): ``<entry-id.channel@host>``."""
    office_id: str
    customer_id: str
    entry_id: str
    attachments: tuple[OutgoingAttachment, ...] = ()
    unsubscribe_url: str | None = None
    reply_to: str | None = None
    attachment_refs: tuple[dict[str, object], ...] = field(default_factory=tuple)
    """Name, type and size of every attachment (the portal inbox keeps these)."""
    entry_url: str | None = None
    """The entry in the customer portal (where a file a channel cannot carry is fetched)."""
    in_reply_to: str | None = None
    """The Message-ID of the customer's mail this answers (e-mail threading)."""
    references: tuple[str, ...] = ()
    reply_to_chat_message: int | None = None
    """The customer's Telegram message this answers (shown quoted above the answer)."""
    personal: bool = False
    """Written by a person (an agent's reply), not generated: sent without the headers
    that mark automatic mail (``Auto-Submitted``, ``List-Unsubscribe``, RFC 3834/8058)."""


@dataclass(frozen=True)
class Receipt:
    """A successful send: what the channel calls it (Message-ID, Telegram message id, …)."""

    reference: str
    note: str | None = None
    """Something the customer did not get although the message went out (a file that could
    not be sent); recorded with the delivery."""
