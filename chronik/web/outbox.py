"""Sign-in messages (agents' links, customers' codes) over the same transports the notifier
uses: one SMTP transport and one Telegram transport per process, opened on first use and
closed with the app. They are not timeline notifications (no entry, no job): a code is
worthless a few minutes later and must never be retried into a customer's inbox.

Without SMTP (``CHRONIK_SMTP_HOST`` unset) a mail cannot go out; with
``CHRONIK_DEV_PRINT_SIGNIN=true`` (set by ``chronik demo`` only) the message is printed on
the server's console instead, so the demo works without a mail server."""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass, field

from aiohttp import web

from chronik.glue.notify import _telegram, load_settings
from notify.errors import TransportError
from notify.message import OutgoingMessage
from notify.transports import Transport
from notify.transports.email import SmtpTransport, message_host

log = logging.getLogger(__name__)


@dataclass
class Outbox:
    transports: dict[str, Transport] = field(default_factory=dict)
    print_instead: bool = False
    mail_host: str = "localhost"

    def can_send(self, channel: str) -> bool:
        return channel in self.transports or (self.print_instead and channel == "email")

    async def send(self, channel: str, address: str, recipient_name: str, sender_name: str,
                   subject: str, text: str, office_id: str, subject_id: str) -> bool:
        """True when the transport accepted the message (nothing is retried)."""
        transport = self.transports.get(channel)
        if transport is None:
            if self.print_instead:
                print(f"\n--- sign-in message to {address} ({channel}) ---\n{subject}\n\n"
                      f"{text}\n---", file=sys.stderr, flush=True)
                return True
            log.warning("sign-in message not sent: no %s transport configured", channel)
            return False
        message = OutgoingMessage(
            channel=channel, address=address, recipient_name=recipient_name,
            sender_name=sender_name, subject=subject, text=text, html=None,
            message_id=f"<signin.{secrets.token_hex(12)}@{self.mail_host}>",
            office_id=office_id, customer_id=subject_id, entry_id="-")
        try:
            await transport.send(message)
        except TransportError as exc:
            log.warning("sign-in message over %s failed: %s", channel, exc)
            return False
        return True

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.shutdown()


def build_outbox(state_print: bool) -> Outbox:
    outbox = Outbox(print_instead=state_print)
    try:
        settings = load_settings()
        smtp = settings.smtp_config()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.warning("sign-in mail is off: %s", exc)
        smtp = None
    if smtp is not None:
        outbox.transports["email"] = SmtpTransport(smtp)
        outbox.mail_host = message_host(smtp.mail_from)
    return outbox


async def attach_telegram(outbox: Outbox, state: object) -> None:
    transport, _office = _telegram(state)  # type: ignore[arg-type]
    if transport is not None:
        outbox.transports["telegram"] = transport


OUTBOX = web.AppKey("chronik_outbox", Outbox)
