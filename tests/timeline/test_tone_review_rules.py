"""The rules a fresh review set (``test_tone_review_corpus.py``) asked for, each pinned with
the sentences that motivated it: what must warn and the look-alike that must not. A family
that regresses fails here by name, however well the corpus as a whole still scores."""

from __future__ import annotations

import unicodedata

import pytest

from timeline import disclosure, tone


def hits(text: str) -> list[str]:
    return [h.text for h in tone.check(text)]


def markers(text: str) -> list[str]:
    return [h.text for h in disclosure.check(text) if h.kind == "internal_marker"]


def warns(texts: list[str]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("text", texts)


# ------------------------------------------------------------------ negation
@warns([
    "Der Kunde ist nicht dumm, er hat die Klausel genau gelesen.",
    "Der Kunde ist überhaupt kein Querulant, seine Fragen sind berechtigt.",
    "Er ist kein Betrüger, die Rechnungen sind echt.",
    "Sie ist alles andere als dumm.",
    "The customer is not stupid at all, she read the policy carefully.",
    "He is no troublemaker; his questions are fair.",
    "The customer is not a fraudster; the invoices are genuine.",
    "The customer isn't stupid; the form is confusing.",
    "He's no liar, the receipts match.",
    "She is by no means a troublemaker.",
])
def test_a_negated_word_is_no_warning(text: str) -> None:
    assert hits(text) == []


@warns([
    "Der Kunde ist nicht nur dumm, sondern auch faul.",  # "nicht nur" widens
    "Kein Wunder, der Idiot hat wieder nicht bezahlt.",  # the negation ends at the comma
    "Nicht schon wieder dieser Idiot.",
    "Der Kunde ist nicht ganz dicht.",  # the negation is part of the insult
    "Hat nicht alle Tassen im Schrank.",
    "The customer is not only rude but a liar.",
])
def test_a_negation_that_does_not_negate_the_insult_still_warns(text: str) -> None:
    assert hits(text)


# ------------------------------------------------------------------ the customer's own words
@warns([
    "Kunde sagt, der Handwerker sei ein Betrüger.",
    "Kundin meint, ihr Nachbar sei ein Idiot, weil er den Zaun beschädigt hat.",
    'Kunde: "Der Gutachter ist inkompetent!"',
    'Zitat Kunde: "Das ist eine Frechheit!"',
    "Kunde findet das Schreiben der Versicherung unverschämt.",
    "Kunde fragt: Bin ich blöd, oder steht das nicht im Vertrag?",
    "Customer says the mechanic is an idiot who overcharged him.",
    'Customer complained: "Your hotline is useless!"',
    "Der Handwerker hat Pfusch abgeliefert, sagt der Kunde.",
    "Kunde hat sich über den Spinner im Bus beschwert.",
    "Der Unfallgegner beleidigte den Kunden als Idioten, Anzeige wegen Beleidigung.",
    "The neighbour called him an idiot; he wants legal advice.",
])
def test_the_customers_own_words_are_no_warning(text: str) -> None:
    assert hits(text) == []


@warns([
    "Kollege sagt, der Kunde sei ein Idiot.",  # not the customer speaking
    "Kunde: Totalversager.",  # a label, not a quotation
    "Kunde meint, er sei im Recht. So ein Idiot.",  # the report ended with the sentence
    "She is so stupid.",
    "Customer called again, total moron.",  # "called" on the phone
])
def test_an_agents_own_words_next_to_a_report_still_warn(text: str) -> None:
    assert hits(text)


# ------------------------------------------------------------------ words about things too
@warns([
    "Verkalkter Opa, alles dreimal erklären.", "Der Rentner ist halt verkalkt.",
    "Gestörter Typ.", "Kunde ist komplett gestört.", "Der ist nicht ganz dicht.",
    "Der Kunde ist fett und faul.", "Die Kundin ist ne richtige Hexe.",
    "Der Kunde ist eine Zumutung.", "Crazy old lady again.", "She is insane.",
    "Useless customer.", "The customer is an absolute nightmare.", "Customer is mental.",
    "The guy's a total tool.", "This guy is a clown 🤡", "What a clown.",
])
def test_a_word_said_of_a_person_warns(text: str) -> None:
    assert hits(text)


@warns([
    "Verkalkter Boiler, Austausch nötig.", "Das Fenster ist nicht ganz dicht.",
    "Faule Holzbalken im Dachstuhl, Gutachter kommt.", "Das Holz ist faul, Austausch nötig.",
    "Gestörte Nachtruhe durch Baulärm, Mietminderung.",
    "Senile dementia diagnosed, daughter has power of attorney.",
    "Verrückte Möbel nach dem Umzug zurückgestellt.",
    "Der dicke Ordner mit den Belegen ist angekommen.",
    "Die Hexe aus dem Puppentheater wurde beschädigt.",
    "The clown costume was stolen from the car.",
    "The crazy weather last week caused the flooding.",
    "Dumb phone without internet, so please send letters.",
    "Lazy eye since childhood, no impact on driving.",
    "The useless part was replaced under warranty.",
    "The engine made an insane noise before it died.",
    "Customer's mental health has improved.", "The tool is broken.",
    "I know this has been an absolute nightmare for you.",
])
def test_the_same_word_about_a_thing_is_no_warning(text: str) -> None:
    assert hits(text) == []


# ------------------------------------------------------------------ crimes against the customer
@warns([
    "Der Betrüger hat sich als Bankmitarbeiter ausgegeben, Anzeige ist erstattet.",
    "Ein Betrüger hat die Kreditkarte des Kunden missbraucht, die Bank erstattet.",
    "Die Betrüger haben das Konto des Kunden leergeräumt, Polizei ermittelt.",
    "The scammer pretended to be from the tax office.",
    "Fraudster used the customer's card, bank refunded.",
])
def test_the_fraudster_in_a_claim_is_no_warning(text: str) -> None:
    assert hits(text) == []


@warns(["Der Kunde ist ein Betrüger, das sieht doch jeder.", "The customer is a fraudster.",
        "He is a fraud.", "Versicherungsbetrüger, sage ich"])
def test_calling_the_customer_a_fraudster_warns(text: str) -> None:
    assert hits(text)


# ------------------------------------------------------------------ harmless idioms
@warns(["Der Schaden ist dumm gelaufen, aber gedeckt.", "Dumb luck: the tree missed the house.",
        "Schaden durch einen dummen Zufall: Ast fiel aufs Auto.",
        "Ein blöder Fehler der Werkstatt."])
def test_an_idiom_about_bad_luck_is_no_warning(text: str) -> None:
    assert hits(text) == []


# ------------------------------------------------------------------ slurs, groups, age
@warns([
    "Der Kanake hat angerufen.", "Der Polacke will Kulanz.", "Die Zigeuner-Familie schon wieder.",
    "Die Schwuchtel aus der Hauptstraße hat angerufen.", "Typisch Türke, handelt um jeden Euro.",
    "Typisch Ossi, jammert nur.", "Typisch Frau, versteht nichts von Technik.",
    "Typisch Asylant, will alles umsonst.", "Der ist doch voll behindert.",
    "Typical foreigner, can't read a form.", "Gypsy family again.", "Stupid foreigner.",
    "Typical Karen behaviour.", "Der Opa ist doch senil, versteht eh nix.",
])
def test_slurs_and_group_insults_warn(text: str) -> None:
    assert hits(text)


@warns([
    "Kunde ist Türke und spricht gut Deutsch.", "Der Kunde ist gebürtiger Pole.",
    "Schwerbehindert (GdB 80), Nachweis liegt vor.", "Der Asylantrag des Kunden wurde bewilligt.",
    "Typischer Auffahrunfall, Gegner hat Schuld eingeräumt.", "Die Kundin ist Witwe.",
    "The customer is from Poland and works as a nurse.", "Der Kunde ist 84 Jahre alt und Rentner.",
])
def test_origin_age_and_disability_as_facts_are_no_warning(text: str) -> None:
    assert hits(text) == []


# ------------------------------------------------------------------ idioms in their personal form
@pytest.mark.parametrize(("insult", "literal"), [
    ("Hat nicht alle Tassen im Schrank.",
     "Nach dem Umzug sind nicht alle Tassen im Schrank heil geblieben."),
    ("Der hat doch nicht alle Latten am Zaun.", "Nach dem Sturm fehlen Latten am Zaun."),
    ("Bei dem ist eine Schraube locker.", "Am Scharnier ist eine Schraube locker."),
    ("Kunde hat echt einen Knall.", "Kunde hat einen Knall gehört, dann war der Reifen platt."),
    ("Der hat sie nicht mehr alle.", "Die Kundin hat alle Belege geschickt."),
])
def test_an_idiom_warns_only_about_a_person(insult: str, literal: str) -> None:
    assert hits(insult)
    assert hits(literal) == []


# ------------------------------------------------------------------ spelling
@warns(["Dauernörgler.", "Dauernoergler.", "Dauerquerulant.", "Quer-\nulant.",
        "Sozial-\nschmarotzer.", "DIESER IDIOT HAT SCHON WIEDER ANGERUFEN", "Kunde ist bloed.",
        "Knalltuete.", "Staenkerer vom Dienst.", "Kunde ist ein A-loch.", "the client is an idoit"])
def test_spellings_of_an_insult_warn(text: str) -> None:
    assert hits(text)


def test_a_word_broken_at_a_line_end_is_shown_as_written() -> None:
    assert hits("Ein echter Quer-\nulant.") == ["Quer-\nulant"]
    assert hits("Schaden-\nmeldung liegt vor.") == []
    assert hits("Dauerauftrag eingerichtet.") == []


# ------------------------------------------------------------------ emoji
@warns(["Der Kunde ist ein 🤡", "Unser Lieblingskunde mal wieder 🙄", "Kunde 🖕"])
def test_mocking_emoji_warn(text: str) -> None:
    assert tone.check(text)


def test_an_emoji_hit_names_the_emoji_and_a_friendly_one_is_fine() -> None:
    assert [(h.pattern, h.text) for h in tone.check("Kunde ruft wieder an 🙄")] == [("🙄", "🙄")]
    assert tone.check("Vielen Dank für Ihre Geduld! 😊") == []


# ------------------------------------------------------------------ internal markers
@warns([
    "Intern: Provision prüfen", "(intern) Rückruf durch Teamleitung.", "interne Notiz",
    "Internal note: check his previous claims.", "For internal use only.",
    "Internally we agreed on a discount", "INTERN - nicht versenden",
])
def test_internal_as_a_label_is_a_marker(text: str) -> None:
    assert markers(text)


@warns([
    "The customer's daughter is an intern at the hospital.", "Your intern application is attached.",
    "Internal bleeding after the accident, hospital report attached.",
    "Die interne Festplatte des Laptops ist beschädigt.",
    "Interner Wasserschaden hinter der Wand, Leitung undicht.",
    "The internal door was damaged by water.",
    "Wir leiten Ihre Nachricht intern an die Schadenabteilung weiter.",
])
def test_internal_as_an_adjective_or_a_trainee_is_no_marker(text: str) -> None:
    assert markers(text) == []


@warns([
    "Ihre Daten behandeln wir selbstverständlich vertraulich.",
    "Your data will be treated as confidential.",
    "Ihre Angaben werden streng vertraulich behandelt.",
    "Ihre Zugangsdaten sind vertraulich, geben Sie sie nicht weiter.",
    "Please do not share your password with anyone.",
    "Please do not forward emails from unknown senders; they may be phishing.",
])
def test_an_assurance_to_the_customer_is_no_marker(text: str) -> None:
    assert markers(text) == []


@warns(["Das ist vertraulich.", "Bitte vertraulich behandeln: Vorschaden 2019.",
        "Vertraulich: Bonitätsauskunft negativ.", "Confidential, don't share.",
        "Strictly confidential - reserve raised to 20k."])
def test_confidential_as_a_label_is_a_marker(text: str) -> None:
    assert markers(text)


@pytest.mark.parametrize(("marked", "ordinary"), [
    ("Unter uns: der Kunde ist schon das dritte Mal auffällig.",
     "Der Wasserschaden kam aus der Wohnung unter uns."),
    ("Das bleibt unter uns.", "Unter uns wohnt ein Rentnerpaar."),
    ("Between us, the claim will be paid anyway.",
     "The wall between us and the neighbours is damaged."),
    ("Ganz im Vertrauen: die Kulanz ist nur ausnahmsweise.",
     "Vielen Dank für Ihr Vertrauen."),
    ("Bitte nicht dem Kunden erzählen.", "Der Schaden ist nicht dem Kunden zuzurechnen."),
])
def test_words_that_mark_a_text_internal_only_as_a_clause_of_their_own(
        marked: str, ordinary: str) -> None:
    assert markers(marked)
    assert markers(ordinary) == []


@warns([
    "Dem VN bitte nichts sagen.", "Der Kundin nichts davon erzählen.",
    "Nicht an den Mandanten weitergeben.", "Kunde soll davon nichts wissen.",
    "Nicht weitersagen!", "Keep this to yourself.", "NOT FOR DISTRIBUTION",
    "Psst: Provision erhöht.", "Don't pass this on to the customer.",
    "Nicht zur Weitergabe an den Kunden.", "Hausintern: Kulanz genehmigt.",
    "unter uns pastorentöchtern: der zahlt nie", "Between you and I, the payout is low.",
])
def test_more_ways_of_saying_keep_it_from_the_customer(text: str) -> None:
    assert markers(text)


# ------------------------------------------------------------------ round four
@warns(["Kunde ist ein Arschl0ch.", "Der Kunde ist ein Vollid1ot.",
        "Die Kundin ist so unfassbar nervig.", "The customer is a dumb blonde.",
        "Der Kunde ist primitiv.", "Annoying customer."])
def test_digits_for_letters_and_piled_up_adverbs_still_warn(text: str) -> None:
    assert hits(text)


@warns([
    "Der Kunde wurde im Internet als Idiot beschimpft und will Rechtsschutz.",
    "He was called an idiot by the other driver.",
    "Der Kunde war primitiv untergebracht auf der Baustelle.",  # said of the lodging
    "We are sorry the wait was annoying.", "The annoying noise came from the fridge.",
    "Ein nerviges Brummen aus dem Kühlschrank.", "Eine unverschämte Rechnung, sagt die Kundin.",
    "Parkplatz A4 ist belegt, Termin 10:30.",
])
def test_an_insult_suffered_and_an_annoying_thing_are_no_warning(text: str) -> None:
    assert hits(text) == []


@pytest.mark.parametrize(("marked", "ordinary"), [
    ("Nur für den Dienstgebrauch.", "Der Dienstwagen des Kunden wurde beschädigt."),
    ("Do not show this to the client.", "Please do not show your PIN to anyone."),
    ("For our eyes only.", "Eye test booked for Monday."),
    ("Hinter vorgehaltener Hand: der Gutachter ist raus.", "Die Hand ist gebrochen."),
    ("Unter uns gesagt, der Gutachter ist kulant.",
     "Unter uns gesagt wurde nichts, das Protokoll ist vollständig."),
])
def test_round_four_markers(marked: str, ordinary: str) -> None:
    assert markers(marked)
    assert markers(ordinary) == []


# ------------------------------------------------------------------ decomposed umlauts
def test_text_in_decomposed_form_keeps_its_context_rules() -> None:
    """macOS and some mail clients send "ö" as "o" + a combining mark; a "½" folds to three
    words. Either once turned the context rules off for the whole text."""
    nfd = unicodedata.normalize("NFD", "Der Kunde ist blöd.")
    assert hits(nfd) == [unicodedata.normalize("NFD", "blöd")]
    assert hits("Verkalkter Boiler, ½ Jahr alt.") == []
    shy = unicodedata.normalize("NFD", "Die Kundin ist nicht dümmlich, nur schüchtern.")
    assert hits(shy) == []
    assert markers(unicodedata.normalize("NFD", "Nur für den internen Gebrauch")) != []
    assert markers(unicodedata.normalize("NFD", "Die Wohnung über uns ist betroffen.")) == []


# ------------------------------------------------------------------ round five
@warns([
    "Der Kunde ist ein Betrüger, die Polizei ermittelt schon.",
    "Customer is a fraudster, police report attached.",
    "Kunde ist ein Lügner, Klage droht trotzdem.", "Der Kunde lügt doch, wie immer.",
])
def test_an_accusation_said_of_the_customer_warns_in_a_crime_or_court_note_too(text: str) -> None:
    assert hits(text)


@warns([
    "Der Zeuge hat vor Gericht gelogen, sagt der Anwalt.",
    "Die Gegenseite hat im Prozess nachweislich gelogen.",
    "The witness lied in court according to the lawyer.",
    "The defendant is a liar, the court found.",
])
def test_the_other_side_lying_in_a_lawsuit_is_no_warning(text: str) -> None:
    assert hits(text) == []


@pytest.mark.parametrize(("name", "insult"), [
    ("Familie Dumm hat den Vertrag unterschrieben.", "Die Familie ist dumm."),
    ("The customer, Mr Fool, called about his policy.", "The customer is a fool."),
    ("Sehr geehrte Frau Dumm, anbei die Police.", "Die Frau ist dumm."),
])
def test_a_surname_after_a_title_is_no_insult(name: str, insult: str) -> None:
    assert hits(name) == []
    assert hits(insult)


def test_keep_it_on_the_down_low_is_a_marker() -> None:
    assert markers("Keep it on the down-low: fee waived.")
    assert markers("The price went down low in March.") == []


# ------------------------------------------------------------------ new words, everyday readings
@warns([
    "Der Blender ist beim Umzug kaputtgegangen.", "Brat- und Kochtöpfe beim Brand beschädigt.",
    "There is a chink in the window frame letting in rain.",
    "The dyke broke and the field flooded.",
    "Degenerative disc disease, claim under the disability policy.",
    "He is in real pain after the fall.", "Low IQ (65) according to the report; guardian informed.",
    "Er ist doch behindert, deshalb der Parkausweis.",
    "Er ist so behindert, dass er nicht arbeiten kann.",
    "Der Keller ist nass, er stinkt nach Schimmel.", "Die Lampe im Flur ist nicht die hellste.",
    "Der Kunde ist Clown von Beruf.", "Der Kunde hat eine Nussallergie.",
])
def test_new_words_keep_their_everyday_reading(text: str) -> None:
    assert hits(text) == []


@warns(["Der Kerl ist ein Blender.", "Entitled brat.", "Der Kunde ist nicht der Hellste.",
        "Low IQ customer.", "He is a degenerate."])
def test_new_words_warn_about_a_person(text: str) -> None:
    assert hits(text)


@pytest.mark.parametrize("text", ["Please do not show up without an appointment.",
                                  "Die Tür öffnet nicht nach außen."])
def test_ordinary_instructions_are_no_marker(text: str) -> None:
    assert markers(text) == []


# ------------------------------------------------------------------ sarcasm, age, gender
@warns([
    "Der Kunde ist ein Idiooooot!", "stuuupid customer", "Der ist doooof.",
    "Der Kunde ist ja sooo schlau.", "Unser Lieblingskunde hat wieder angerufen.",
    'Der "nette" Herr hat wieder angerufen.', "Our 'helpful' customer sent nothing again.",
    "Unser Einstein hat das Formular falsch ausgefüllt.", "What a genius, he lost the form again.",
    "Herr Neunmalklug weiß wieder alles besser.", "Die Oma ist total tüdelig.",
    "Das Weib hat schon wieder angerufen.", "Der Kunde ist ein Macho.", "Silly cow.",
])
def test_sarcasm_and_age_and_gender_insults_warn(text: str) -> None:
    assert hits(text)


@warns([
    "Schifffahrt-Versicherung verlängert, Kaffeeernte versichert.", "Sooo, der Vertrag ist fertig.",
    'Sie erhalten den Tarif "Komfort" Plus.', "Vielen Dank, Sie waren sehr geduldig!",
    "Der Macho-Stil des Autos gefällt dem Kunden.", "Herr Weiberg hat angerufen.",
    "Das Genie-Magazin wurde abonniert.",
])
def test_their_look_alikes_are_no_warning(text: str) -> None:
    assert hits(text) == []


def test_a_stretched_word_is_shown_as_written() -> None:
    assert hits("Der Kunde ist ein Idiooooot!") == ["Idiooooot"]


# ------------------------------------------------------------------ round six
@warns(["Kunde ist ein Dorftrottel.", "Dummdödel.", "Der Kunde ist ein Vollheini.",
        "Assi-Familie, Zahlungsmoral null.", "Penner-Typ am Telefon.", "Die Idioten-Familie.",
        "Kunde ist so ein Opfer.", "The customer is a racist.", "The client is a cheat."])
def test_insults_at_the_end_of_a_compound_and_in_front_of_people_warn(text: str) -> None:
    assert hits(text)


@warns(["Das neue Portal ist idiotensicher.", "Der Loser-Button im Spiel ist kaputt.",
        "Psycho-Test bestanden, Führerschein zurück.", "Idioten-Test (MPU) bestanden.",
        "Die Kundin war Opfer eines Einbruchs.", "Racist graffiti on the garage door.",
        "Cheat sheet for the claim form attached.", "Peinlicher Fehler unsererseits.",
        "Herr Krämer hat angerufen."])
def test_a_thing_named_with_an_insult_is_no_warning(text: str) -> None:
    assert hits(text) == []


@pytest.mark.parametrize(("marked", "ordinary"), [
    ("Vertraulicher Hinweis: Vorschaden.", "Der vertrauliche Bericht Ihres Arztes liegt vor."),
    ("Kunde weiß davon nichts, bitte so lassen.", "Bitte senden Sie uns die Unterlagen."),
    ("Do NOT send this to the policyholder.", "We will send this to you by post."),
    ("Just between the two of us: the adjuster is strict.", "Between the two garages."),
])
def test_round_six_markers(marked: str, ordinary: str) -> None:
    assert markers(marked)
    assert markers(ordinary) == []


@warns(["Der Gutachter ist inkompetent, so der Kunde.", "Laut Kundin ist der Vermieter ein Idiot.",
        "According to the customer the plumber is a moron."])
def test_an_attribution_to_the_customer_is_no_warning(text: str) -> None:
    assert hits(text) == []


def test_so_is_an_attribution_only_after_the_words() -> None:
    assert hits("So ein Idiot, der Kunde.")
    assert hits("She is so stupid.")
