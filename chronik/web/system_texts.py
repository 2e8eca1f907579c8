"""What the system wrote, in the reader's language.

Notes the system writes on a timeline (merges, preference changes) are stored in English --
the API, search and export read that text -- and say the same in ``meta.system``
(``{"key": …, …}``); pages render them from there with ``messages/system.json``. Entries
written before ``meta.system`` existed, or whose ``meta.system`` is not understood, show their
stored text. Quarantine reasons are stored as ``code: detail`` (the connectors' convention):
the code is named in the reader's language, the detail is shown as it was said."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chronik.web.i18n import catalog, gettext
from timeline.models import Entry

PREFERENCE_ROUTES = ("agent", "portal", "unsubscribe_link")
CHANNELS = ("email", "telegram", "portal")


@dataclass(frozen=True)
class SystemText:
    subject: str
    body: str


def entry_text(entry: Entry, lang: str) -> SystemText | None:
    """The subject and body of a system-written entry in ``lang``; None: show the stored
    text (no ``meta.system``, or one this version does not know)."""
    system = entry.meta.get("system")
    if not isinstance(system, dict):
        return None
    try:
        return _render(system, lang)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # malformed: the stored English text is still right


def _render(system: Mapping[str, Any], lang: str) -> SystemText | None:
    def t(key: str, **kwargs: Any) -> str:
        return gettext(lang, key, **kwargs)

    key = system["key"]
    if key in ("merged", "merged_away"):
        body = t("system.merge.body", source=_name(system["source"]),
                 target=_name(system["target"]), agent=_name(system["agent"]),
                 entries=int(system["entries"]), identities=int(system["identities"]))
        return SystemText(t(f"system.{key}.subject"), body)
    if key == "merge_undone":
        if system.get("source") and system.get("target"):
            body = t("system.merge_undone.body", source=_name(system["source"]),
                     target=_name(system["target"]), agent=_name(system["agent"]))
        else:
            body = t("system.merge_undone.body_unnamed", agent=_name(system["agent"]))
        return SystemText(t("system.merge_undone.subject"), body)
    if key == "preferences":
        by = system.get("by")
        subject = t(f"system.prefs.by_{by}" if by in PREFERENCE_ROUTES
                    else "system.prefs.by_agent")
        lines = [_preference_line(change, t) for change in system["changes"]]
        return SystemText(subject, "\n".join(lines))
    return None


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a name is a string")
    return value


def _channel(value: object, t: Any) -> str:
    return str(t(f"system.channel.{value}")) if value in CHANNELS else str(value)


def _preference_line(change: Mapping[str, Any], t: Any) -> str:
    what, old, new = change["what"], change.get("old"), change.get("new")

    def channels(value: Any) -> str:
        return ", ".join(_channel(c, t) for c in value) or str(t("system.prefs.automatic"))

    def quiet(value: Mapping[str, str] | None) -> str:
        if value is None:
            return str(t("system.prefs.none"))
        return f"{value['start']}–{value['end']} {value['timezone']}"

    def digest(value: Mapping[str, str] | None) -> str:
        if value is None:
            return str(t("system.prefs.digest_off"))
        return str(t("system.prefs.digest_at", at=value["at"], timezone=value["timezone"]))

    def language(value: object) -> str:
        return str(t(f"system.lang.{value}")) if value in ("de", "en") else str(value)

    if what == "channels":
        return str(t("system.prefs.channels", old=channels(old), new=channels(new)))
    if what == "automatic_notifications":
        return str(t("system.prefs.automatic_on" if new else "system.prefs.automatic_off"))
    if what == "quiet_hours":
        return str(t("system.prefs.quiet_hours", old=quiet(old), new=quiet(new)))
    if what == "language":
        return str(t("system.prefs.language", old=language(old), new=language(new)))
    if what == "daily_digest":
        return str(t("system.prefs.digest", old=digest(old), new=digest(new)))
    if what == "consent":
        return str(t("system.prefs.consent_given" if new else "system.prefs.consent_withdrawn",
                     channel=_channel(change["channel"], t)))
    raise ValueError(f"unknown preference change {what!r}")


# ---------------------------------------------------------------- nobody notified
_SKIP_KEYS = {"failed": "recipients.failed", "no_consent": "recipients.no_consent",
              "not_configured": "recipients.not_configured",
              "no_address": "recipients.no_address",
              "undeliverable": "recipients.undeliverable"}


def why_nobody(opted_out: bool, skips: Iterable[tuple[str, str]], lang: str) -> str:
    """Why nobody is (or was) notified, from the notifier's reason codes
    (``notify.evaluate.Plan``: opted out, or per channel a ``Skip`` code)."""
    if opted_out:
        return gettext(lang, "recipients.opted_out")
    reasons = [gettext(lang, _SKIP_KEYS[code], channel=gettext(lang, f"via.{channel}"))
               if code in _SKIP_KEYS and channel in CHANNELS else f"{channel}: {code}"
               for code, channel in skips]
    return "; ".join(reasons) or gettext(lang, "recipients.no_channel")


def stored_why(value: object, lang: str) -> str | None:
    """A suppressed notification's reason from its stored codes (``meta.notification.why``,
    ``meta.delivery.why``: ``{"opted_out": bool, "skips": [{"code", "channel"}]}``); None
    when there are none (older entries: their stored English reason is shown)."""
    if not isinstance(value, dict) or not isinstance(value.get("skips", []), list):
        return None
    skips = [(str(s.get("code")), str(s.get("channel"))) for s in value.get("skips", [])
             if isinstance(s, dict)]
    return why_nobody(bool(value.get("opted_out")), skips, lang)


# ---------------------------------------------------------------- quarantine reasons
@dataclass(frozen=True)
class Reason:
    """A quarantine reason for a page: ``label`` in the reader's language (None: the code
    is unknown, ``detail`` is then the whole stored reason) and the detail as stored."""

    label: str | None
    detail: str


_CODE = re.compile(r"^[a-z_]+(?: [a-z]+)?$")
"""A reason's code: ``unknown_sender``, ``unparseable``; older ones have a space
(``unattributable sender``, ``unparseable update``)."""
_GAVE_UP = re.compile(r"^gave up after (\d+) attempts$")
_DETAIL = {  # details written as English prose by the connectors: the part that is data
    "own_mail": re.compile(r"own address (\S+);"),
    "spam": re.compile(r"^marked by a mail server \((.*)\); the sender is no customer$",
                       re.DOTALL),
    "bulk": re.compile(r"^(.*); the sender is no customer$", re.DOTALL),
    "auto_reply": re.compile(r"^(.*); the sender is no customer$", re.DOTALL),
}
_NO_RECIPIENT = "no recipient found"


def quarantine_reason(reason: str, lang: str) -> Reason:
    """``reason`` (``code: detail``, as the connectors and the ingest service store it) with
    its code named in ``lang``."""
    if reason == "still unparseable":
        return Reason(gettext(lang, "system.quarantine.still_unparseable"), "")
    if reason.startswith("duplicate of "):
        return Reason(gettext(lang, "system.quarantine.duplicate"),
                      reason.removeprefix("duplicate of "))
    head, _, detail = reason.partition(":")
    detail = detail.strip()
    gave_up = _GAVE_UP.match(head)
    if gave_up is not None:
        return Reason(gettext(lang, "system.quarantine.gave_up", n=int(gave_up.group(1))),
                      detail)
    key = "system.quarantine." + head.replace(" ", "_")
    if not _CODE.match(head) or key not in catalog():
        return Reason(None, reason)
    pattern = _DETAIL.get(head)
    if pattern is not None:
        data = pattern.search(detail)
        detail = data.group(1) if data else detail
    if head.startswith("unattributed_") and detail == _NO_RECIPIENT:
        detail = gettext(lang, "system.quarantine.no_recipient")
    return Reason(gettext(lang, key), detail)
