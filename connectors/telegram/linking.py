"""``/start <token>`` deep links, ``/start`` and ``/stop``: linking a chat to a customer and
the customer's consent to notifications over Telegram.

A link token is issued per customer (``POST /api/v1/customers/{id}/telegram-link``), stored
hashed, valid once. The Telegram identity value is the user id, which in a private chat is
also the chat id the notifier sends to."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from telegram import Message, User

from connectors.telegram.context import TelegramServices
from connectors.telegram.messages import language, sender_name, source_id
from timeline.errors import Conflict, NotFound
from timeline.ingest import JSON_CHANNEL
from timeline.models import (
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    EntryDraft,
    IdentityKind,
    Office,
    Visibility,
)

LINK_PURPOSE = "telegram_link"
WAITING_SCAN = 2000
"""Open quarantine items looked through for a chat's waiting messages when it is linked."""
CONSENT_CHANNEL = "telegram"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

REPLIES: dict[str, dict[str, str]] = {
    "linked": {
        "de": "Vielen Dank! Dieser Telegram-Chat ist jetzt mit Ihrem Kundenkonto verbunden. "
              "Wir benachrichtigen Sie hier; mit /stop können Sie das jederzeit abbestellen.",
        "en": "Thank you! This Telegram chat is now linked to your customer account. We will "
              "notify you here; send /stop at any time to opt out.",
    },
    "linked_not_chosen": {
        "de": "Vielen Dank! Dieser Telegram-Chat ist jetzt mit Ihrem Kundenkonto verbunden. "
              "Benachrichtigungen erhalten Sie derzeit auf den Wegen, die Sie in Ihren "
              "Einstellungen im Kundenportal gewählt haben – Telegram ist nicht darunter; dort "
              "können Sie es hinzufügen.",
        "en": "Thank you! This Telegram chat is now linked to your customer account. "
              "Notifications currently reach you the ways you chose in your preferences in the "
              "customer portal – Telegram is not among them; you can add it there.",
    },
    "linked_off": {
        "de": "Vielen Dank! Dieser Telegram-Chat ist jetzt mit Ihrem Kundenkonto verbunden. "
              "Automatische Benachrichtigungen haben Sie ausgeschaltet; im Kundenportal können "
              "Sie sie wieder einschalten.",
        "en": "Thank you! This Telegram chat is now linked to your customer account. You "
              "turned automatic notifications off; you can turn them on again in the customer "
              "portal.",
    },
    "link_refused": {
        "de": "Dieser Link ist leider ungültig, abgelaufen oder wurde schon verwendet. Bitte "
              "fordern Sie einen neuen Link an.",
        "en": "Sorry, this link is invalid, has expired or was already used. Please ask for a "
              "new link.",
    },
    "already_linked": {
        "de": "Dieser Telegram-Chat ist bereits mit Ihrem Kundenkonto verbunden – Sie müssen "
              "nichts weiter tun. Mit /stop können Sie die Benachrichtigungen abbestellen.",
        "en": "This Telegram chat is already linked to your customer account – there is "
              "nothing more to do. Send /stop to opt out of notifications.",
    },
    "already_linked_off": {
        "de": "Dieser Telegram-Chat ist bereits mit Ihrem Kundenkonto verbunden. "
              "Benachrichtigungen über Telegram haben Sie abbestellt; mit /start schalten Sie "
              "sie wieder ein.",
        "en": "This Telegram chat is already linked to your customer account. You opted out of "
              "notifications via Telegram; send /start to turn them back on.",
    },
    "private_only": {
        "de": "Bitte schreiben Sie mir in einem privaten Chat – in Gruppen nehme ich nichts "
              "entgegen.",
        "en": "Please write to me in a private chat – I do not take anything in groups.",
    },
    "link_burnt": {
        "de": "Dieser Link gehört in einen privaten Chat mit mir. Weil ihn hier die ganze "
              "Gruppe sehen kann, gilt er nicht mehr. Bitte fordern Sie einen neuen Link an und "
              "öffnen Sie ihn in einem privaten Chat.",
        "en": "This link belongs in a private chat with me. As everyone in this group can see "
              "it, it no longer works. Please ask for a new link and open it in a private "
              "chat.",
    },
    "resumed": {
        "de": "Sie erhalten wieder Benachrichtigungen über Telegram. Mit /stop können Sie sie "
              "abbestellen.",
        "en": "You will receive notifications via Telegram again. Send /stop to opt out.",
    },
    "resumed_not_chosen": {
        "de": "Benachrichtigungen über Telegram sind wieder erlaubt. Derzeit erhalten Sie sie "
              "aber auf den Wegen, die Sie in Ihren Einstellungen im Kundenportal gewählt "
              "haben – Telegram ist nicht darunter; dort können Sie es hinzufügen.",
        "en": "Notifications via Telegram are allowed again. They currently reach you the ways "
              "you chose in your preferences in the customer portal, though – Telegram is not "
              "among them; you can add it there.",
    },
    "resumed_off": {
        "de": "Benachrichtigungen über Telegram sind wieder erlaubt. Automatische "
              "Benachrichtigungen haben Sie aber ausgeschaltet; im Kundenportal können Sie sie "
              "wieder einschalten.",
        "en": "Notifications via Telegram are allowed again. You turned automatic "
              "notifications off, though; you can turn them on again in the customer portal.",
    },
    "welcome": {
        "de": "Willkommen! Schreiben Sie uns hier einfach Ihre Nachricht.",
        "en": "Welcome! Just write us your message here.",
    },
    "portal_link": {
        "de": "Ihr Anmeldelink für das Kundenportal (nur einmal verwendbar, {minutes} Minuten "
              "gültig): {url}",
        "en": "Your sign-in link for the customer portal (works once, for {minutes} minutes): "
              "{url}",
    },
    "portal_unknown": {
        "de": "Dieser Telegram-Chat ist noch mit keinem Kundenkonto verbunden. Öffnen Sie den "
              "Link, den Sie von uns erhalten haben, dann schicken Sie /portal noch einmal.",
        "en": "This Telegram chat is not linked to a customer account yet. Open the link we "
              "sent you, then send /portal again.",
    },
    "portal_later": {
        "de": "Für heute wurden schon genug Anmeldelinks verschickt. Bitte verwenden Sie den "
              "letzten oder versuchen Sie es später noch einmal.",
        "en": "Enough sign-in links were sent for now. Please use the last one, or try again "
              "later.",
    },
    "stopped": {
        "de": "Sie erhalten keine Benachrichtigungen mehr über Telegram. Mit /start können Sie "
              "sie wieder einschalten.",
        "en": "You will no longer receive notifications via Telegram. Send /start to turn them "
              "back on.",
    },
    "not_subscribed": {
        "de": "Sie erhalten über Telegram keine Benachrichtigungen.",
        "en": "You do not receive notifications via Telegram.",
    },
}


def new_link_token() -> str:
    """32 URL-safe characters: fits Telegram's ``start`` parameter (64 of ``A-Za-z0-9_-``)."""
    return secrets.token_urlsafe(24)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_source_id(digest: str) -> str:
    """The source id of the timeline note a link token made: it finds the note again when
    the same link is opened once more (the token itself is gone then)."""
    return f"telegram-link:{digest[:40]}"


@dataclass(frozen=True)
class Outcome:
    reply: str
    """A key of ``REPLIES``."""
    customers: tuple[str, ...] = ()
    values: tuple[tuple[str, str], ...] = ()
    """What the reply's ``{placeholders}`` are filled with."""


class Commands:
    """The commands of one office's bot."""

    def __init__(self, services: TelegramServices, office: Office) -> None:
        self.services = services
        self.office = office

    async def start(self, message: Message, token: str) -> Outcome:
        if token:
            return await self._link(message, token)
        customers = await self._customers_of(message)
        if not customers:
            return Outcome("welcome")
        for i, customer in enumerate(customers):
            await self._consent(message, customer, True, i)
        return Outcome("resumed" + await self._unheard(customers),
                       tuple(c.id for c in customers))

    async def portal(self, message: Message) -> Outcome:
        """``/portal``: a one-time sign-in link to the customer portal, into this chat (a
        customer we reach on Telegram only has no e-mail address to sign in with, and the
        chat is theirs: the link token proved it). Only for a chat linked to a customer;
        as many links as the portal's sign-in allows."""
        customers = await self._customers_of(message)
        make = self.services.portal_link
        if not customers or make is None:
            return Outcome("portal_unknown")
        link = await make(customers[0], language(message.from_user))
        if link is None:
            return Outcome("portal_later", (customers[0].id,))
        url, minutes = link
        return Outcome("portal_link", (customers[0].id,),
                       (("url", url), ("minutes", str(minutes))))

    async def stop(self, message: Message) -> Outcome:
        customers = await self._customers_of(message)
        if not customers:
            return Outcome("not_subscribed")
        for i, customer in enumerate(customers):
            await self._consent(message, customer, False, i)
        return Outcome("stopped", tuple(c.id for c in customers))

    async def stop_by_word(self, message: Message) -> Outcome | None:
        """A message of a known customer's chat that only says "STOP" (``stop_word``):
        the same as ``/stop``. From a chat no customer has it is an ordinary message
        (None): nothing to opt out of, and it may be the start of a conversation."""
        outcome = await self.stop(message)  # records nothing when no customer has the chat
        return None if outcome.reply == "not_subscribed" else outcome

    async def in_group(self, message: Message, token: str) -> Outcome:
        """``/start`` or ``/stop`` in a group: the bot works in private chats only. A link
        token posted there is spent at once -- everyone in the group could use it -- and
        the customer's timeline says so."""
        if not token or not _TOKEN.match(token):
            return Outcome("private_only")
        found = await self.services.store.resolve_customer_token(
            hash_link_token(token), LINK_PURPOSE, consume=True)
        if found is None or found[0] != self.office.id:
            return Outcome("private_only")
        customer = await self.services.store.get_customer(self.office.id, found[1])
        if customer is not None:
            title = message.chat.effective_name or str(message.chat.id)
            await self._record(
                message, customer, "telegram_link_spent",
                "Telegram link sent in a group chat: no longer valid",
                f"The customer's Telegram link was sent in the group chat \"{title}\", "
                "where every member could see it; the link was made invalid and nothing "
                "was linked. The customer needs a new link.", 0, {})
        return Outcome("link_burnt", (found[1],))

    # ------------------------------------------------------------------ internals
    async def _link(self, message: Message, token: str) -> Outcome:
        store = self.services.store
        if not _TOKEN.match(token):
            return Outcome("link_refused")
        digest = hash_link_token(token)
        found = await store.resolve_customer_token(digest, LINK_PURPOSE)
        if found is None or found[0] != self.office.id:
            return await self._refused(message, digest)
        customer = await store.get_customer(self.office.id, found[1])
        if customer is None or customer.status is CustomerStatus.MERGED:
            return Outcome("link_refused")
        if await store.resolve_customer_token(digest, LINK_PURPOSE, consume=True) is None:
            return await self._refused(message, digest)  # used meanwhile
        user = _user(message)
        before = [c.id for c in await self._customers_of(message) if c.id != customer.id]
        # the link token, used from this chat, proves the chat is the customer's
        await self.services.timeline.add_identity(self.office, customer.id,
                                                  IdentityKind.TELEGRAM, str(user.id),
                                                  proven=True)
        await store.record_consent(self.office.id, customer.id, CONSENT_CHANNEL, True,
                                   actor="customer", route="telegram_start")
        body = (f"The customer linked the Telegram chat of {sender_name(user) or 'a user'} "
                f"(user id {user.id}) with a link token; notifications over Telegram are on.")
        meta: dict[str, Any] = {}
        waiting = await self._assign_waiting(message, customer)
        if waiting:
            body += (f" {waiting} earlier message(s) from this chat waited in the quarantine "
                     "(unknown sender) and are on this record now.")
            meta["assigned_from_quarantine"] = waiting
        if before:
            body += (" Messages from this chat so far are on other customer records "
                     f"({', '.join(before)}); merge them if they are the same person.")
            meta["other_customers"] = before
        await self._record(message, customer, "telegram_linked", "Telegram chat linked",
                           body, 0, meta, sid=link_source_id(digest))
        return Outcome("linked" + await self._unheard([customer]), (customer.id,))

    async def _assign_waiting(self, message: Message, customer: Customer) -> int:
        """The chat's messages that wait in the quarantine as from an unknown sender
        (``CHRONIK_UNKNOWN_SENDER=unassigned``) go to the customer the chat is now proven
        to be; returns how many. Looks through the office's first :data:`WAITING_SCAN`
        open items."""
        prefix = f"telegram:{message.chat.id}:"
        ingest = self.services.ingest
        assigned = 0
        after: str | None = None
        for _ in range(WAITING_SCAN // 100):
            items = await self.services.store.list_quarantine(self.office.id, limit=100,
                                                              after_id=after)
            for item in items:
                if item.channel != JSON_CHANNEL or not item.origin.startswith(prefix):
                    continue
                try:
                    done = await ingest.reprocess(self.office, item.id, customer.id)
                except (Conflict, NotFound):  # handled meanwhile by an admin
                    continue
                assigned += done.status == "processed"
            if len(items) < 100:
                break
            after = items[-1].id
        return assigned

    async def _unheard(self, customers: list[Customer]) -> str:
        """Why notifications will not come here although Telegram is allowed now (a suffix
        of the reply's key): ``_off`` -- the customer wants no automatic notifications;
        ``_not_chosen`` -- their chosen channels leave Telegram out. ``""``: they will (for
        at least one of the chat's customers). The bot promises nothing it will not keep."""
        reasons = []
        for customer in customers:
            prefs = await self.services.store.get_preferences(self.office.id, customer.id)
            if not prefs.automatic_notifications:
                reasons.append("_off")
            elif prefs.channels and CONSENT_CHANNEL not in prefs.channels:
                reasons.append("_not_chosen")
            else:
                return ""
        return reasons[0] if reasons else ""

    async def _refused(self, message: Message, digest: str) -> Outcome:
        """A link that cannot link (any more). Opened again from the chat it linked -- a
        second tap on the link in the mail, which Telegram sends as ``/start <token>``
        again --, it says so instead of calling the link invalid."""
        note = await self.services.store.find_entry_by_source(
            self.office.id, link_source_id(digest), Channel.CHAT)
        telegram = note.meta.get("telegram") if note is not None else None
        if note is None or not isinstance(telegram, dict) or \
                telegram.get("user_id") != _user(message).id:
            return Outcome("link_refused")
        if note.customer_id not in {c.id for c in await self._customers_of(message)}:
            return Outcome("link_refused")  # unlinked since
        consent = (await self.services.store.consents(self.office.id, note.customer_id)
                   ).get(CONSENT_CHANNEL)
        off = consent is not None and not consent.granted
        return Outcome("already_linked_off" if off else "already_linked")

    async def _consent(self, message: Message, customer: Customer, granted: bool,
                       index: int) -> None:
        route = "telegram_start" if granted else "telegram_stop"
        await self.services.store.record_consent(self.office.id, customer.id, CONSENT_CHANNEL,
                                                 granted, actor="customer", route=route)
        if granted:
            subject = "Telegram notifications turned on by the customer (/start)"
        else:
            said = (message.text or "").strip()
            how = "/stop" if said.startswith("/") else f'"{said}"'
            subject = f"Telegram notifications turned off by the customer ({how})"
        await self._record(message, customer, "telegram_consent", subject, "", index,
                           {"consent": {"channel": CONSENT_CHANNEL, "granted": granted,
                                        "route": route}})

    async def _customers_of(self, message: Message) -> list[Customer]:
        found = await self.services.store.find_customers(
            self.office.id, IdentityKind.TELEGRAM, str(_user(message).id))
        return [c for c in found if c.status is not CustomerStatus.MERGED]

    async def _record(self, message: Message, customer: Customer, kind: str, subject: str,
                      body: str, index: int, meta: dict[str, Any], *, sid: str | None = None
                      ) -> None:
        """An internal timeline entry; its source id makes a redelivered command a no-op."""
        if sid is None:
            sid = source_id(message) if index == 0 else f"{source_id(message)}/{customer.id}"
        meta["telegram"] = {"chat_id": message.chat.id, "message_id": message.message_id,
                            "user_id": _user(message).id}
        await self.services.timeline.append(EntryDraft(
            office_id=self.office.id, customer_id=customer.id, channel=Channel.CHAT,
            direction=Direction.INTERNAL, kind=kind, visibility=Visibility.INTERNAL,
            occurred_at=message.date, subject=subject, body=body, source_id=sid, meta=meta))


def _user(message: Message) -> User:
    user = message.from_user
    assert user is not None
    return user
