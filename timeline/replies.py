"""Who is waiting for an answer: one rule for the compose hint on a customer's page and the
office's list of customers waiting (``Store.awaiting_reply``, whose SQL follows this
module on both stores; the store contract checks they agree).

* A **message** is something a customer sent that a person should answer: an inbound
  e-mail, Telegram or portal message (not an auto-reply, a bounce or a delivery report:
  those have kinds of their own), or a **missed call** (``meta.outcome == "missed"``: the
  customer expects a call back).
* An **answer** is anything the office said to the customer afterwards: an outbound
  reply or message on any channel but the notification bookkeeping and the phone (an
  outbound call answers only when someone picked up), a published note, phone note or
  document (the customer is told about it), or an answered call in either direction.
* A customer **waits** when their newest message has no answer after it and no agent
  marked it "no reply needed" (the tag :data:`NO_REPLY`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from timeline.models import Channel, Direction, Entry, Visibility

NO_REPLY = "no_reply"
"""Tag: an agent decided this message needs no answer ("Danke, alles klar!")."""

MESSAGE_CHANNELS = (Channel.EMAIL, Channel.CHAT, Channel.PORTAL)
MESSAGE_KINDS = ("email", "message")
"""Kinds of a person's own message (e-mail; Telegram and portal messages)."""
ANSWER_KINDS = ("note", "phone_note", "document")
"""Kinds that answer once published (the customer is told about them)."""
NOT_ANSWERING_CHANNELS = (Channel.NOTIFICATION, Channel.PHONE)
"""Outbound entries on these channels are no answer by themselves: notification
bookkeeping, and calls (answered calls count through their outcome)."""


def is_message(entry: Entry) -> bool:
    """Something the customer sent that a person should answer."""
    if entry.direction is not Direction.INBOUND:
        return False
    if entry.kind == "call":
        return entry.meta.get("outcome") == "missed"
    return entry.channel in MESSAGE_CHANNELS and entry.kind in MESSAGE_KINDS


def answers(entry: Entry) -> bool:
    """Whether this entry answers every message of its customer before it."""
    if entry.kind == "call":
        return entry.meta.get("outcome") == "answered"
    if entry.direction is Direction.OUTBOUND and entry.channel not in NOT_ANSWERING_CHANNELS:
        return True
    return entry.kind in ANSWER_KINDS and entry.visibility is Visibility.PUBLISHED


def waiting_message(newest_first: Iterable[Entry]) -> Entry | None:
    """The message a customer waits to have answered, from their entries newest first
    (``None``: nothing waits, or an answer or "no reply needed" came last)."""
    for entry in newest_first:
        if answers(entry):
            return None
        if is_message(entry):
            return None if NO_REPLY in entry.tags else entry
    return None


def _values(items: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in items)  # our own constants, never input


def awaiting_reply_sql(columns: Sequence[str], *, outcome: Callable[[str], str],
                       no_reply: Callable[[str], str], office: str, since: str,
                       limit: str) -> str:
    """The query behind ``Store.awaiting_reply`` for one dialect, written from the rules
    above: ``outcome(alias)`` is the SQL of an entry's ``meta.outcome``, ``no_reply(alias)``
    whether it carries :data:`NO_REPLY`; ``office``, ``since`` (a seq) and ``limit`` are
    the dialect's placeholders. The partial index ``entries_inbound`` serves the window
    (``direction = 'inbound'`` is written out so that both planners match it)."""
    message_channels = _values(c.value for c in MESSAGE_CHANNELS)
    not_answering = _values(c.value for c in NOT_ANSWERING_CHANNELS)
    cols = ", ".join(f"e.{c}" for c in columns)
    return f"""
SELECT {cols} FROM (
    SELECT customer_id, max(seq) AS seq FROM entries
    WHERE office_id = {office} AND direction = 'inbound' AND seq >= {since}
      AND ((kind = 'call' AND {outcome("entries")} = 'missed')
           OR (kind <> 'call' AND channel IN ({message_channels})
               AND kind IN ({_values(MESSAGE_KINDS)})))
    GROUP BY customer_id) AS w
JOIN entries AS e ON e.seq = w.seq
WHERE NOT {no_reply("e")}
  AND NOT EXISTS (
    SELECT 1 FROM entries AS a
    WHERE a.customer_id = w.customer_id AND a.office_id = {office} AND a.seq > w.seq
      AND ((a.kind = 'call' AND {outcome("a")} = 'answered')
           OR (a.kind <> 'call' AND a.direction = 'outbound'
               AND a.channel NOT IN ({not_answering}))
           OR (a.kind <> 'call' AND a.kind IN ({_values(ANSWER_KINDS)})
               AND a.visibility = 'published')))
ORDER BY e.seq
LIMIT {limit}"""  # noqa: S608 -- our own constants and placeholders, never input
