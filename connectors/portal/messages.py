"""A message a customer writes in the portal -> an inbound ``portal`` entry.

It is published (it is the customer's own text) and asks the notifier for a receipt copy
(``notify``: "I want a copy of what I sent")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from timeline.errors import InvalidInput
from timeline.ids import new_ulid
from timeline.ingest import InboundAttachment, InboundMessage
from timeline.models import Channel, Customer, Direction, IdentityKind, Visibility, utcnow

MAX_SUBJECT = 1000
MAX_BODY = 100_000
MAX_KEY = 200


@dataclass(frozen=True)
class PortalFile:
    name: str
    content_type: str
    data: bytes


def portal_message(customer: Customer, subject: str, body: str,
                   files: Sequence[PortalFile] = (), idempotency_key: str | None = None,
                   in_reply_to: str | None = None) -> InboundMessage:
    """Validate and translate; the customer comes from the session, never from the body.
    ``in_reply_to``: the id of the customer's own published item this message answers
    (checked by the caller), kept as ``meta.in_reply_to`` like an agent's reply's."""
    subject, body = subject.strip(), body.strip()
    if not (subject or body or files):
        raise InvalidInput("a portal message needs a subject, a body or a file")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"subject is longer than {MAX_SUBJECT} characters")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"body is longer than {MAX_BODY} characters")
    key = (idempotency_key or "").strip()
    if len(key) > MAX_KEY:
        raise InvalidInput(f"Idempotency-Key is longer than {MAX_KEY} characters")
    source = f"portal:{customer.id}:{key}" if key else f"portal:{customer.id}:{new_ulid()}"
    return InboundMessage(
        office_id=customer.office_id, channel=Channel.PORTAL, source_id=source,
        sender_kind=IdentityKind.PORTAL, sender=customer.id, sender_name=customer.name,
        occurred_at=utcnow(), kind="message", direction=Direction.INBOUND,
        visibility=Visibility.PUBLISHED, notify=True, subject=subject, body=body,
        attachments=tuple(InboundAttachment(name=f.name[:300] or "file",
                                            content_type=f.content_type, data=f.data)
                          for f in files),
        customer_id=customer.id,
        meta={"portal": True, **({"in_reply_to": in_reply_to} if in_reply_to else {})})
