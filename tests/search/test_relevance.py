"""A small labelled relevance set: German and English queries of an insurance broker's office,
each with the entries that must be among the first three hits (``order=relevance``).

Ranking changes are judged here, not guessed: a change that pushes a labelled entry out of
the top 3 fails with the whole list of misses. Automatic bookkeeping entries mention the
same words and must never be among them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from search.backend import SearchBackend
from search.query import SearchFilters, SearchRequest, parse
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# label: (channel, subject, body)
CORPUS: dict[str, tuple[Channel, str, str]] = {
    "kuend_hausrat": (Channel.EMAIL, "Kündigung Hausratversicherung",
                      "Hiermit kündige ich meine Hausratversicherung zum 31.12. Bitte bestätigen "
                      "Sie mir die Kündigung schriftlich."),
    "kuend_kfz": (Channel.EMAIL, "Kündigungen Kfz",
                  "Anbei die Kündigungen für beide Fahrzeuge, bitte um Bestätigung."),
    "kuend_frist": (Channel.PORTAL, "Frage zur Kündigungsfrist",
                    "Wie lange ist die Kündigungsfrist bei meinem Vertrag?"),
    "vertrag_neu": (Channel.EMAIL, "Neuer Vertrag",
                    "Der neue Vertrag für die Wohngebäudeversicherung liegt unterschrieben bei."),
    "vertraege_liste": (Channel.PORTAL, "Übersicht",
                        "Bitte senden Sie mir eine Übersicht aller meiner Verträge."),
    "beitrag_hoch": (Channel.EMAIL, "Beitragserhöhung",
                     "Warum steigt mein Beitrag zum 1. Januar um 12 Prozent?"),
    "beitraege_doppelt": (Channel.PHONE, "",
                          "Die Beiträge wurden doppelt abgebucht, bitte Lastschrift prüfen."),
    "schaden_wasser": (Channel.EMAIL, "Schadensmeldung Wasserschaden",
                       "Im Bad ist ein Rohr geplatzt, der Schaden ist gestern entstanden. Fotos "
                       "anbei."),
    "schaden_offen": (Channel.PORTAL, "",
                      "Ich habe zwei Schadensmeldungen offen, wie ist der Stand?"),
    "glas": (Channel.EMAIL, "Glasbruch", "Die Scheibe der Terrassentür ist gesprungen."),
    "adresse": (Channel.PORTAL, "Umzug", "Neue Adresse ab 1. März: Musterstraße 5."),
    "rueckruf": (Channel.PHONE, "", "Rückruf erbeten wegen Termin."),
    "termin": (Channel.NOTE, "", "Termin für die Beratung am Dienstag bestätigt."),
    "rechnung": (Channel.EMAIL, "Werkstatt", "Anbei die Rechnung der Werkstatt für die "
                 "Reparatur."),
    "mahnung": (Channel.EMAIL, "Mahnung", "Mahnung erhalten, obwohl längst bezahlt."),
    "hausrat_angebot": (Channel.EMAIL, "Angebot",
                        "Unser Angebot zur Hausratversicherung mit Fahrradschutz."),
    "police": (Channel.CHAT, "", "Bitte schicken Sie mir die Police noch einmal zu."),
    "muell": (Channel.NOTE, "", "Der Müll wurde wieder nicht abgeholt, Tonne beschädigt."),
    "mueller": (Channel.PHONE, "", "Herr Müller ruft wegen der Tonne an."),
    "en_claim": (Channel.EMAIL, "Claim for water damage",
                 "Dear team, I would like to file a claim for the water damage in my flat. "
                 "Kind regards"),
    "en_claims": (Channel.CHAT, "", "Hello, what is the status of my claims? Thanks"),
    "en_cancel": (Channel.EMAIL, "Cancellation",
                  "Dear Sir or Madam, I want to cancel my contract at the end of the year."),
    "en_contracts": (Channel.EMAIL, "Copies",
                     "Please send me copies of all my contracts. Best regards"),
    "en_invoice": (Channel.EMAIL, "Invoices", "Please find the invoices for the repairs "
                   "attached."),
    "en_meeting": (Channel.CHAT, "", "Can we move our meeting to Friday? Regards"),
    # automatic bookkeeping: the same words, never a top hit of a default search
    "sys_kuend": (Channel.NOTIFICATION, "Notification sent to the portal inbox",
                  "About: Kündigung Hausratversicherung"),
    "sys_vertrag": (Channel.NOTIFICATION, "Notification sent by e-mail", "About: Neuer Vertrag"),
    "sys_claim": (Channel.NOTIFICATION, "Notification sent by e-mail",
                  "About: Claim for water damage"),
    "sys_claims": (Channel.NOTIFICATION, "Notification failed", "About: claims\nReason: bounce"),
}

# query -> labels that must be among the first three hits
LABELLED: list[tuple[str, set[str]]] = [
    ("Kündigung", {"kuend_hausrat", "kuend_kfz"}),
    ("Kündigungen", {"kuend_kfz", "kuend_hausrat"}),
    ("Kündigungsfrist", {"kuend_frist"}),
    ("Vertrag", {"vertrag_neu", "kuend_frist"}),
    ("Verträge", {"vertraege_liste", "vertrag_neu"}),
    ("Beiträge", {"beitraege_doppelt", "beitrag_hoch"}),
    ("Beitrag", {"beitrag_hoch", "beitraege_doppelt"}),
    ("Schadensmeldung", {"schaden_wasser", "schaden_offen"}),
    ("Schadensmeldungen", {"schaden_offen", "schaden_wasser"}),
    ("Schäden", {"schaden_wasser"}),
    ("Versicherung", {"kuend_hausrat", "hausrat_angebot", "vertrag_neu"}),
    ("Rechnungen", {"rechnung"}),
    ("Termine", {"termin", "rueckruf"}),
    ("Müller", {"mueller"}),
    ("Hausratversicherung Kündigung", {"kuend_hausrat"}),
    ("claims", {"en_claim", "en_claims"}),
    ("claim", {"en_claim", "en_claims"}),
    ("cancel contract", {"en_cancel"}),
    ("contract", {"en_cancel", "en_contracts"}),
    ("invoice", {"en_invoice"}),
    ("meetings", {"en_meeting"}),
    ("water damage", {"en_claim"}),
]


def corpus() -> dict[str, Entry]:
    out = {}
    for i, (label, (channel, subject, body)) in enumerate(CORPUS.items()):
        when = T0 + timedelta(hours=i)
        out[label] = Entry(
            id=f"R{i:04d}", seq=seq_base(when) + i, office_id="OFFICE", customer_id=f"C{i % 5}",
            channel=channel, direction=Direction.INBOUND, kind=channel.value,
            visibility=Visibility.PUBLISHED, occurred_at=when, recorded_at=when,
            subject=subject, body=body)
    return out


async def top3(backend: SearchBackend, q: str, by_seq: dict[int, str]) -> list[str]:
    page = await backend.search(SearchRequest(
        query=parse(q), filters=SearchFilters(office_id="OFFICE"), order="relevance", limit=3))
    return [by_seq[h.seq] for h in page.hits]


async def test_labelled_queries_have_their_entries_in_the_top_3(
        backend: SearchBackend) -> None:
    entries = corpus()
    await backend.index(list(entries.values()))
    by_seq = {e.seq: label for label, e in entries.items()}
    misses = []
    for q, wanted in LABELLED:
        got = await top3(backend, q, by_seq)
        if not wanted <= set(got) or any(label.startswith("sys_") for label in got):
            misses.append(f"{q!r}: top 3 {got}, wanted {sorted(wanted)}")
    assert misses == []


def test_the_set_is_labelled_against_the_corpus() -> None:
    """Every label names an entry (a typo in the set would make a query pass vacuously)."""
    assert all(wanted and wanted <= CORPUS.keys() for _, wanted in LABELLED)
    assert all(not label.startswith("sys_") for _, wanted in LABELLED for label in wanted)

