"""The quoted history below a reply, as German and English mail programs write it, is told
apart from the reply's own text; mail without a history is left whole."""

from __future__ import annotations

import pytest

from connectors.email.quotes import split_quoted

OWN = "Hallo Frau Berger,\n\ndanke, das passt so.\n\nViele Grüße\nErika Mustermann"
OURS = "Sehr geehrte Frau Mustermann,\nanbei Ihre neue Police.\n\nIhr Büro Berger"

HISTORIES = {
    "outlook-de": ("Von: Büro Berger & Partner <service@berger.example>\n"
                   "Gesendet: Dienstag, 3. November 2026 10:00\n"
                   "An: Erika Mustermann <erika@example.de>\nBetreff: Ihre Police\n\n" + OURS),
    "outlook-en": ("From: Berger & Partner <service@berger.example>\n"
                   "Sent: Tuesday, November 3, 2026 10:00 AM\n"
                   "To: Erika Mustermann <erika@example.de>\nSubject: Your policy\n\n" + OURS),
    "original-message-de": ("-----Ursprüngliche Nachricht-----\nVon: service@berger.example\n"
                            "Gesendet: Dienstag, 3. November 2026 10:00\n"
                            "An: erika@example.de\nBetreff: Police\n\n" + OURS),
    "gmail-de": ("Am Di., 3. Nov. 2026 um 10:00 Uhr schrieb Büro Berger "
                 "<service@berger.example>:\n" + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "gmail-en": ("On Tue, Nov 3, 2026 at 10:00 AM Büro Berger <service@berger.example> "
                 "wrote:\n" + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "apple-mail-de": ("> Am 03.11.2026 um 10:00 schrieb Büro Berger <service@berger.example>:\n"
                      "> \n" + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "thunderbird-de": ("Am 03.11.26 um 10:00 schrieb Büro Berger:\n"
                       + "\n".join("> " + ln for ln in OURS.split("\n"))),
    # other languages (the reply parser knows only German and English)
    "gmail-fr": ("Le mar. 3 nov. 2026 à 10:00, Büro Berger <service@berger.example> a écrit :"
                 "\n\n" + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "gmail-es-wrapped": ("El mar, 3 nov 2026 a las 10:00, Büro Berger (<\n"
                         "service@berger.example>) escribió:\n\n"
                         + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "gmail-nl": ("Op di 3 nov. 2026 om 10:00 schreef Büro Berger <service@berger.example>:\n"
                 + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "gmail-pl": ("wt., 3 lis 2026 o 10:00 Büro Berger <service@berger.example> napisał(a):\n"
                 + "\n".join("> " + ln for ln in OURS.split("\n"))),
    "outlook-fr": ("De : Büro Berger & Partner <service@berger.example>\n"
                   "Envoyé : mardi 3 novembre 2026 10:00\nÀ : Erika Mustermann\n"
                   "Objet : Votre police\n\n" + OURS),
    "outlook-it": ("Da: Büro Berger & Partner <service@berger.example>\n"
                   "Inviato: martedì 3 novembre 2026 10:00\nA: Erika Mustermann\n"
                   "Oggetto: Polizza\n\n" + OURS),
    "android-ru-wrapped": ('03.11.2026 10:00 пользователь "service@berger.example" <\n'
                           "service@berger.example> написал:\n\n"
                           + "\n".join("> " + ln for ln in OURS.split("\n"))),
}


@pytest.mark.parametrize("client", sorted(HISTORIES))
def test_the_history_below_a_reply_is_told_apart(client: str) -> None:
    history = HISTORIES[client]
    found = split_quoted(f"{OWN}\n\n{history}\n")
    assert found is not None
    reply, quoted = found
    assert reply == OWN
    assert quoted == history.strip()


@pytest.mark.parametrize("text", [
    "Guten Tag,\n\nich möchte meine Adresse ändern.\nVon morgen an: Neue Straße 5.\n",
    "Sehr geehrte Damen und Herren,\nbitte senden Sie mir die Police.\nGesendet von meinem "
    "iPhone",
    "",
], ids=["no-history", "sent-from-phone", "empty"])
def test_mail_without_a_history_is_left_whole(text: str) -> None:
    assert split_quoted(text) is None


def test_a_forward_without_a_word_is_shown_whole() -> None:
    """Nothing of its own above the history: folding it away would hide everything."""
    assert split_quoted("---------- Forwarded message ---------\nFrom: X <x@example.de>\n"
                        "Subject: Police\n\nHallo\n") is None


def test_a_signature_above_the_history_stays_with_the_reply() -> None:
    """The parser gives the reply back with its signature's "-- " trimmed: the history was
    not found in the text, and nothing was folded (Sparrow, talon's fixture)."""
    own = "Hallo,\n\ndanke.\n\n-- \nErika Mustermann\nTel. 0171 1234567"
    history = ("On Tuesday, November 3, 2026 at 10:00 AM, Büro Berger wrote:\n\n"
               + "\n".join("> " + ln for ln in OURS.split("\n")))
    assert split_quoted(f"{own}\n\n\n{history}\n") == (own, history)


def test_answers_between_quoted_lines_are_not_folded_away() -> None:
    assert split_quoted("Hallo,\n\nComme je l'ai écrit :\n> Le contrat finit en mai\n"
                        "Bitte bestätigen Sie das.\n") is None


@pytest.mark.parametrize("forward", [
    "---------- Forwarded message ----------\nFrom: Werkstatt <kv@werkstatt.example>\n"
    "Subject: Kostenvoranschlag\n\n" + OURS,
    "-------- Weitergeleitete Nachricht --------\nBetreff: Kostenvoranschlag\n"
    "Von: Werkstatt <kv@werkstatt.example>\n\n" + OURS,
    "Anfang der weitergeleiteten Nachricht:\n\n> Von: Werkstatt <kv@werkstatt.example>\n"
    "> Betreff: Kostenvoranschlag\n> \n" + "\n".join("> " + ln for ln in OURS.split("\n")),
], ids=["gmail-outlook-attached", "thunderbird-de", "apple-mail-de"])
def test_a_forwarded_mail_below_a_few_words_is_shown_whole(forward: str) -> None:
    """"Zur Info" above the workshop's estimate: the estimate is what was sent, not a
    history to fold away under "Quoted history"."""
    assert split_quoted(f"Hallo Herr Berger,\n\nzur Info.\n\nErika\n\n{forward}\n") is None
