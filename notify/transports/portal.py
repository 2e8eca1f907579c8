"""The portal inbox: the item appears in the customer's inbox (unread until read). One
transaction per item, idempotent per entry — the only transport with exactly-once delivery."""

from __future__ import annotations

from typing import ClassVar

from notify.message import OutgoingMessage, Receipt
from notify.transports import Transport
from timeline.repositories import PortalInbox


class PortalInboxTransport(Transport):
    channel: ClassVar[str] = "portal"
    idempotent: ClassVar[bool] = True

    def __init__(self, store: PortalInbox) -> None:
        super().__init__()
        self.store = store

    async def deliver(self, message: OutgoingMessage) -> Receipt:
        item = await self.store.add_inbox_item(
            message.office_id, message.customer_id, message.entry_id, message.subject,
            message.text, list(message.attachment_refs))
        return Receipt(item.id)
