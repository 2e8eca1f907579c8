"""Who wrote a mail that a machine sent in their name: a mailing-list post whose ``From``
the list rewrote (:func:`list_author`), a web form's mail sent from a no-reply address
(:func:`form_author`).

Since DMARC, lists send a post "from" themselves: Mailman's ``From: Erika Mustermann via
Forum <forum@lists.example.org>`` with the author in ``Reply-To`` (or ``Cc``), Google
Groups' ``From: 'Erika Mustermann' via Kunden <kunden@googlegroups.com>`` with
``X-Original-Sender``, Sympa and others with ``X-Original-From``. Taken as it stands, the list
would be the sender: every post of every member would land on one "customer" named after the
first poster. :func:`list_author` finds the person who wrote it.

Pure (no storage); used by :mod:`.parse`. Only a ``From`` that is the list's own address
(``List-Post``, ``List-Id``, or Mailman's and Google's "… via …" name on a mail with list
headers) is replaced, and only by an author the message names.
"""

from __future__ import annotations

import re
from email.message import Message

from .decode import addresses, header_values
from .structure import raw_values

__all__ = ["form_author", "list_author"]

_LIST_HEADERS = ("list-id", "list-post", "mailing-list", "x-mailman-version", "list-unsubscribe")
_VIA = re.compile(r"^\s*['\"]?(.*?)['\"]?\s+(?:via|über)\s+\S.*$", re.IGNORECASE)
_LIST_ID = re.compile(r"<([^<>@\s]+)>|^\s*([^<>@\s]+)\s*$")
_MAILTO = re.compile(r"<mailto:([^>?]+)", re.IGNORECASE)


def _list_addresses(msg: Message, hint: str | None) -> set[str]:
    """The list's own addresses: its posting address, and the address its List-Id names
    (``forum.lists.example.org`` for ``forum@lists.example.org``)."""
    found: set[str] = set()
    for value in header_values(msg, "list-post", hint):
        found.update(a.strip().lower() for a in _MAILTO.findall(value))
    for value in header_values(msg, "list-id", hint):
        match = _LIST_ID.search(value.strip())
        ident = (match.group(1) or match.group(2)) if match else ""
        local, dot, domain = ident.partition(".")
        if dot and local and "." in domain:
            found.add(f"{local}@{domain}".lower())
    for value in header_values(msg, "mailing-list", hint):  # Google: "list x@googlegroups.com"
        found.update(a.lower() for a in re.findall(r"list\s+(\S+@\S+?);?(?:\s|$)", value))
    return found


def list_author(msg: Message, display: str, address: str, hint: str | None
                ) -> tuple[str, str, str] | None:
    """``(display name, address, header)`` of the author of a list post whose ``From``
    (``display``, ``address``) the list rewrote to its own address; ``None`` for any other
    mail (most: one header lookup per list header)."""
    if not any(raw_values(msg, name) for name in _LIST_HEADERS):  # most mail: cheap
        return None
    lists = _list_addresses(msg, hint)
    rewritten = address.lower() in lists
    if not rewritten and _VIA.match(display) is None:  # (groups.io: "Name via groups.io"
        return None  # <name=example.de@groups.io>, an address of the list's own per author)
    lists.add(address.lower())
    for name in ("x-original-from", "x-original-sender"):
        for value in header_values(msg, name, hint):
            for shown, found in addresses(value, hint):
                if "@" in found and found.lower() not in lists:
                    return shown or _before_via(display), found, name.title()
    if not rewritten:
        return None
    for name in ("reply-to", "cc"):  # Mailman: the author in Reply-To, or in Cc
        for value in header_values(msg, name, hint):
            for shown, found in addresses(value, hint):
                if "@" in found and found.lower() not in lists and \
                        _names(display, shown, found):
                    return shown or _before_via(display), found, name.title()
    return None


def _before_via(display: str) -> str:
    via = _VIA.match(display)
    return via.group(1).strip() if via is not None else ""


def _names(display: str, shown: str, found: str) -> bool:
    """Whether the list's name for the post (``Erika Mustermann via Forum``, in the list's
    language: ``über``, ``par``, Korean and Turkish put the list first) names this person:
    by name, by address, or as Mailman's ``local---`` for an address used as a name."""
    said = display.strip().strip("'\"").casefold()
    names = [f"{found.partition('@')[0].casefold()}---", found.casefold()]
    if shown.strip():
        names.append(shown.strip().strip("'\"").casefold())
    return any(said.startswith(n + " ") or said.startswith(f"'{n}' ")
               or said.endswith(" " + n) for n in names)


_NO_REPLY = re.compile(
    r"^(?:no[._-]?reply|do[._-]?not[._-]?reply|dont[._-]?reply|keine[._-]?antwort"
    r"|nicht[._-]?antworten|wordpress|www-?data|formmail|kontaktformular|contact[._-]?form"
    r"|webform|formular)(?:[+._-][^@]*)?@", re.IGNORECASE)


def form_author(msg: Message, address: str, hint: str | None) -> tuple[str, str] | None:
    """``(display name, address)`` of the person a web form's mail is from: sent from a
    no-reply address (``noreply@``, ``wordpress@``, ``www-data@``, …) with the person who
    filled in the form as the one ``Reply-To`` address; ``None`` for any other mail.

    Taken as it stands, the form would be the sender: every enquiry of every visitor on one
    "customer" named "Website"."""
    if not _NO_REPLY.match(address):
        return None
    found = [(shown, a) for value in header_values(msg, "reply-to", hint)
             for shown, a in addresses(value, hint) if "@" in a]
    if len({a.lower() for _, a in found}) != 1 or found[0][1].lower() == address.lower() \
            or _NO_REPLY.match(found[0][1]):
        return None
    return found[0]
