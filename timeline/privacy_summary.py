"""``summary.html`` of a data export: readable, in the customer's language (de/en), one
self-contained file — inline CSS, no script, nothing loaded from anywhere, every value
HTML-escaped."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from timeline.models import Entry, Office
from timeline.privacy_models import PersonalData, RetainedEntry

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "title": "Ihre bei uns gespeicherten Daten",
        "intro": "Diese Übersicht zeigt alle Daten, die {office} über Sie gespeichert hat "
                 "(Art. 15 DSGVO). Vollständig und maschinenlesbar stehen sie in data.json; "
                 "Dateien liegen im Ordner attachments.",
        "person": "Person", "name": "Name", "created": "Angelegt am",
        "identities": "Kontaktdaten", "preferences": "Einstellungen",
        "language": "Sprache", "channels": "Bevorzugte Kanäle",
        "auto": "Automatische Benachrichtigungen", "yes": "ja", "no": "nein",
        "consents": "Einwilligungen (Verlauf)", "granted": "erteilt", "withdrawn": "widerrufen",
        "entries": "Verlauf", "date": "Datum", "channel": "Kanal", "kind": "Art",
        "subject": "Betreff", "text": "Text", "files": "Dateien", "internal": "intern",
        "counts": "Umfang", "notifications": "Benachrichtigungen", "status": "Status",
        "retained": "Gesetzlich aufzubewahren", "until": "bis",
    },
    "en": {
        "title": "The data we hold about you",
        "intro": "This summary shows all data {office} holds about you (Art. 15 GDPR). "
                 "The complete, machine-readable copy is data.json; files are in the "
                 "attachments folder.",
        "person": "Person", "name": "Name", "created": "Created",
        "identities": "Contact details", "preferences": "Preferences",
        "language": "Language", "channels": "Preferred channels",
        "auto": "Automatic notifications", "yes": "yes", "no": "no",
        "consents": "Consent history", "granted": "granted", "withdrawn": "withdrawn",
        "entries": "History", "date": "Date", "channel": "Channel", "kind": "Kind",
        "subject": "Subject", "text": "Text", "files": "Files", "internal": "internal",
        "counts": "Scope", "notifications": "Notifications", "status": "Status",
        "retained": "Kept by law", "until": "until",
    },
}
_CSS = ("body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}"
        "table{border-collapse:collapse;width:100%;margin-bottom:1.5em}"
        "th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}.internal{background:#fff7e0}"
        "pre{white-space:pre-wrap;margin:0;font-family:inherit}")
_BODY_CHARS = 4000


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _row(cells: list[str], header: bool = False, cls: str = "") -> str:
    tag = "th" if header else "td"
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


Describe = Callable[[Entry, str], tuple[str, str] | None]
"""Subject and body of a system-written entry in a language (merge notes, preference
changes, notification records: stored in English, with their facts in ``meta``), or None
for the stored text."""
Label = Callable[[str, str], str | None]
"""A stored code in a language (``kind.phone_note`` -> "Telefonnotiz", ``identity.email``,
``channel.chat``, ``delivery.sent``, ``via.portal``, ``admin.erase.count.entries``), or
None to show the code itself."""


def _labeller(label: Label | None, lang: str) -> Callable[[str, str], str]:
    def said(prefix: str, code: str) -> str:
        return (label(f"{prefix}.{code}", lang) if label is not None else None) or code
    return said


def _entry_row(entry: Entry, t: dict[str, str], lang: str, describe: Describe | None,
               said: Callable[[str, str], str]) -> str:
    system = describe(entry, lang) if describe is not None else None
    subject, text = system if system is not None else (entry.subject, entry.body)
    body = text if len(text) <= _BODY_CHARS else text[:_BODY_CHARS] + " …"
    kind = said("kind", entry.kind) + (f" ({t['internal']})"
                                       if entry.visibility.value == "internal" else "")
    files = "<br>".join(_e(a.name) for a in entry.attachments)
    return _row([_e(entry.occurred_at.strftime("%Y-%m-%d %H:%M")),
                 _e(said("channel", entry.channel.value)),
                 _e(kind), _e(subject), f"<pre>{_e(body)}</pre>", files],
                cls="internal" if entry.visibility.value == "internal" else "")


def summary_html(office: Office, data: PersonalData, retained: list[RetainedEntry],
                 counts: dict[str, int], describe: Describe | None = None,
                 label: Label | None = None) -> str:
    lang = data.preferences.language if data.preferences.language in _TEXT else "en"
    t = _TEXT[lang]
    said = _labeller(label, lang)
    c = data.customer
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{_e(t['title'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(t['title'])}</h1><p>{_e(t['intro'].format(office=office.name))}</p>",
        f"<h2>{_e(t['person'])}</h2><table>",
        _row([_e(t["name"]), _e(c.name)]),
        _row([_e(t["created"]), _e(c.created_at.date().isoformat())]),
        "</table>",
        f"<h2>{_e(t['identities'])}</h2><table>",
        *(_row([_e(said("identity", i.kind.value)), _e(i.raw or i.value)])
          for x in (c, *data.merged_in) for i in x.identities),
        "</table>",
        f"<h2>{_e(t['preferences'])}</h2><table>",
        _row([_e(t["language"]), _e(data.preferences.language)]),
        _row([_e(t["channels"]), _e(", ".join(said("via", ch) for ch in
                                             data.preferences.channels) or "–")]),
        _row([_e(t["auto"]),
              _e(t["yes"] if data.preferences.automatic_notifications else t["no"])]),
        "</table>",
        f"<h2>{_e(t['consents'])}</h2><table>",
        *(_row([_e(x.at.strftime("%Y-%m-%d %H:%M")), _e(said("via", x.channel)),
                _e(t["granted"] if x.granted else t["withdrawn"]), _e(x.route)])
          for x in data.consents),
        "</table>",
        f"<h2>{_e(t['entries'])}</h2><table>",
        _row([_e(t[k]) for k in ("date", "channel", "kind", "subject", "text", "files")],
             header=True),
        *(_entry_row(e, t, lang, describe, said) for e in reversed(data.entries)),
        "</table>",
        f"<h2>{_e(t['notifications'])}</h2><table>",
        *(_row([_e(j["created_at"][:16].replace("T", " ")),
                _e(said("via", j["channel"]) if j.get("channel") else "–"),
                _e(said("delivery", j["status"]))]) for j in data.notify_jobs),
        "</table>",
    ]
    if retained:
        parts += [f"<h2>{_e(t['retained'])}</h2><table>",
                  *(_row([_e(said("kind", r.kind)),
                          _e(f"{t['until']} {r.until.date().isoformat()}"),
                          _e(r.reason)]) for r in retained), "</table>"]
    parts += [f"<h2>{_e(t['counts'])}</h2><table>",
              *(_row([_e(said("admin.erase.count", k)), _e(v)]) for k, v in counts.items()),
              "</table></body></html>"]
    return "\n".join(parts)
