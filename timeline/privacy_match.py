"""Does a raw message (a quarantined mail, Telegram update, PBX event or inbound JSON) name a
person? Used to put the quarantined messages about someone into their export and to erase
them with them.

A raw message names the person when it holds one of their identities as such:

* an **e-mail address** as a whole address (``anna@kunde.de`` is not in
  ``hanna@kunde.de``), also in the ASCII form of an internationalised domain;
* a **phone number** as one written number — digits with the separators people and PBXs put
  between them (``0171 9876543``, ``+49 (0)171-987 65 43``, ``0049171…``) — in its E.164,
  international (``00``) or national form; never digits collected across the whole message
  (``Vertrag 0171, Rate 98, Summe 76543`` is not the number 0171 9876543) or out of a longer
  run of letters and digits (base64);
* a **Telegram chat id** as the id of a JSON object (``"id": 424242``, the ``chat`` and
  ``from`` of an update) or the ``sender`` of an inbound message.

A message about someone else must neither be handed out in this person's export nor erased
with them: an identity another customer has too (a family's one landline) does not single the
person out, so it is not looked for."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import phonenumbers

from timeline.identity import ascii_address
from timeline.models import Customer, IdentityKind

_MIN_DIGITS = 6
_PHONE_RUN = re.compile(rb"(?<![A-Za-z0-9+])\+?\d(?:[ \t\-/.()]{1,3}\d|\d)*(?![A-Za-z0-9])")
"""One written number: digits and the separators between their groups, not part of a
longer run of letters and digits."""
_DIGITS = re.compile(rb"\d+")
_TRUNK_ZERO = re.compile(rb"\(\s*0\s*\)")
"""``+49 (0)171 …``: the national trunk prefix written into an international number."""


@dataclass(frozen=True)
class Needles:
    """What in a raw message names one person (with the records merged into them)."""

    emails: tuple[re.Pattern[bytes], ...] = ()
    phones: frozenset[bytes] = frozenset()
    telegram: tuple[re.Pattern[bytes], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones or self.telegram)


def _email_pattern(address: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![\w.+\-])" + re.escape(address.casefold().encode("utf-8"))
                      + rb"(?![\w\-]|\.\w)")


def phone_forms(value: str, raw: str | None = None) -> set[bytes]:
    """The digit strings one stored number (E.164) is written as: ``491719876543``,
    ``00491719876543`` and the national ``01719876543`` (and how it was typed in, ``raw``)."""
    full = re.sub(r"\D", "", value)
    forms = {full, "00" + full}
    try:
        number = phonenumbers.parse("+" + full)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms.add(re.sub(r"\D", "", national))
    if raw:
        forms.add(re.sub(r"\D", "", raw))
    return {f.encode("ascii") for f in forms if len(f) >= _MIN_DIGITS}


def needles(people: Iterable[Customer],
            shared: Collection[tuple[IdentityKind, str]] = ()) -> Needles:
    """``shared``: identities another customer has too (two people with one phone number):
    a message naming one of them may be the other's, so it does not name this person."""
    emails: dict[str, re.Pattern[bytes]] = {}
    phones: set[bytes] = set()
    telegram: dict[str, re.Pattern[bytes]] = {}
    for ident in [i for c in people for i in c.identities]:
        if (ident.kind, ident.value) in shared:
            continue
        if ident.kind is IdentityKind.EMAIL:
            for form in (ident.value, ascii_address(ident.value)):
                emails.setdefault(form.casefold(), _email_pattern(form))
        elif ident.kind is IdentityKind.PHONE:
            phones |= phone_forms(ident.value, ident.raw)
        elif ident.kind is IdentityKind.TELEGRAM and ident.value.lstrip("-").isdigit():
            value = re.escape(ident.value.encode("ascii"))
            telegram.setdefault(ident.value, re.compile(
                rb'"(?:id|sender|chat_id|user_id)"\s*:\s*"?' + value + rb'(?![0-9])'))
    return Needles(emails=tuple(emails.values()), phones=frozenset(phones),
                   telegram=tuple(telegram.values()))


def _run_has(run: bytes, forms: frozenset[bytes]) -> bool:
    """Whether the written number ``run`` is, or holds as whole digit groups, one of
    ``forms`` (``0171 9876543 / 0172 1111111`` holds both numbers)."""
    for text in {run, _TRUNK_ZERO.sub(b"", run)}:
        groups = _DIGITS.findall(text)
        digits = b"".join(groups)
        bounds = {0}
        at = 0
        for group in groups:
            at += len(group)
            bounds.add(at)
        for form in forms:
            start = digits.find(form)
            while start >= 0:
                if start in bounds and start + len(form) in bounds:
                    return True
                start = digits.find(form, start + 1)
    return False


def names_person(raw: bytes, found: Needles) -> bool:
    folded = raw.lower()
    if any(p.search(folded) for p in found.emails):
        return True
    if any(p.search(raw) for p in found.telegram):
        return True
    if found.phones:
        return any(_run_has(m.group(), found.phones) for m in _PHONE_RUN.finditer(raw))
    return False
