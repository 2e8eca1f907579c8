"""(Data, no tests.) A labelled set of an insurance broker office's entries and queries as
agents and integrators type them (review of search phrasing; written fresh, not from the
other sets; run by ``test_review_phrasing_relevance``).

``CORPUS``: key -> (subject, body, kind, language or None). ``QUERIES``: (query, top3, never)
-- every key of ``top3`` must be among the first three hits in relevance order, no key of
``never`` may be a hit at all; ``None`` for top3: the query must answer a clear
``QueryError`` (400 bad_query). ``TYPOS``: queries that find nothing but must suggest.
"""

from __future__ import annotations

CORPUS: dict[str, tuple[str, str, str, str | None]] = {
    "kfz_schaden": ("Schadensmeldung Kfz-Haftpflicht",
                    "Herr Jürgen Müller-Lüdenscheidt meldet einen Auffahrunfall vom "
                    "03.02.2025 auf der A3. Policennummer HV-2024-00123. Gegner hat "
                    "Schuld anerkannt.", "phone_note", None),
    "kfz_gutachten": ("Gutachten eingegangen",
                      "Das Gutachten zum Schaden HV-2024-00123 liegt vor, Reparaturkosten "
                      "4.380,00 €. Bitte an die Versicherung weiterleiten.", "email", None),
    "kfz_other_policy": ("Kfz-Versicherung Angebot",
                         "Angebot für Kfz-Versicherung, Policennummer HV-2023-00456, "
                         "Typklasse 17, Regionalklasse 5.", "note", None),
    "hausrat_kuend": ("Kündigung Hausratversicherung",
                      "Sehr geehrte Damen und Herren, hiermit kündige ich meine "
                      "Hausratversicherung, Vertrag Nr. 4711/22, fristgerecht zum "
                      "31.12.2025. Mit freundlichen Grüßen, Sabine Weiß", "email", None),
    "hausrat_bestaet": ("Bestätigung Ihrer Kündigung",
                        "Wir bestätigen die Kündigung Ihres Vertrags 4711/22 zum 31.12.2025.",
                        "reply", None),
    "hausrat_tarif": ("Hausrat neue Wohnung",
                      "Kundin fragt nach Hausrat-Tarif für die neue Wohnung in der "
                      "Weißenburger Straße 12, 70173 Stuttgart. Wohnfläche 85 qm.",
                      "phone_note", None),
    "bu_antrag": ("Antrag Berufsunfähigkeitsversicherung",
                  "Antrag BU von Frau Renée Weiss eingegangen, Gesundheitsfragen "
                  "unvollständig. Rückfrage beim Hausarzt nötig.", "note", None),
    "bu_leistung": ("BU-Leistungsfall",
                    "Herr Özdemir beantragt Leistungen aus der Berufsunfähigkeitsrente, "
                    "Attest vom Orthopäden liegt bei.", "email", None),
    "beitrag_erh": ("Beitragserhöhung 2026",
                    "Ihre Beiträge zur Wohngebäudeversicherung steigen zum 01.01.2026 um "
                    "12,50 EUR monatlich. Police WG-778899.", "email", None),
    "beitrag_widerspr": ("Widerspruch",
                         "Kunde widerspricht der Erhöhung des Beitrags, droht mit "
                         "Sonderkündigung. Rückruf vereinbart.", "phone_note", None),
    "lastschrift_rueck": ("Rücklastschrift",
                          "Lastschrift zurückgegeben, IBAN DE89 3704 0044 0532 0130 00, "
                          "Gebühr 3,00 €. Kunde informiert.", "note", None),
    "lastschrift_mandat": ("SEPA-Mandat",
                           "Neues SEPA-Lastschriftmandat erteilt, IBAN "
                           "DE02120300000000202051, Kontoinhaber Thomas Groß.",
                           "email", None),
    "email_unterlagen": ("Unterlagen",
                         "Bitte die Unterlagen an erika.mustermann@example.de senden, "
                         "nicht an die alte Adresse.", "note", None),
    "email_other": ("Kontakt",
                    "Neue E-Mail-Adresse: max.mustermann@example.com", "note", None),
    "phone_rueckruf": ("Rückruf",
                       "Rückruf erbeten unter 0171 / 123 45 67 wegen Glasschaden am "
                       "Fahrzeug.", "call", None),
    "weiss_glas": ("Glasbruch",
                   "Herr Weiß hat angerufen wegen Glasbruch im Wohnzimmer.", "phone_note",
                   None),
    "strasse": ("Adressänderung",
                "Neue Anschrift: Hauptstrasse 5, 80331 München.", "note", None),
    "gross_kfz": ("Fahrzeugwechsel",
                  "Herr Groß meldet Fahrzeugwechsel, neues Kennzeichen M-AB 1234.",
                  "phone_note", None),
    "en_cancel": ("Cancellation",
                  "The customer cancelled the household contents policy on 2 March. "
                  "Cancellation confirmed by letter.", "note", "en"),
    "en_cancel_req": ("Motor policy",
                      "Dear Sir or Madam, we would like to cancel our motor insurance. "
                      "Please advise about the notice period. Kind regards, John Smith",
                      "email", None),
    "en_claim": ("Your claim CL-88412",
                 "Dear Mr Smith, we have received your claim regarding the car accident. "
                 "Our claims team will contact you shortly.", "reply", None),
    "en_claimed": ("Water damage",
                   "The tenant claimed water damage in the kitchen; the insurer rejected "
                   "the claim.", "note", "en"),
    "en_premium": ("Premium increase",
                   "Your premium will increase by 8% from January. You may cancel within "
                   "one month of receiving this notice.", "email", None),
    "en_direct_debit": ("Direct debit returned",
                        "The direct debit for March was returned by the bank. Please check "
                        "your account details.", "email", None),
    "haftpflicht_priv": ("Privathaftpflicht",
                         "Schaden durch Sohn beim Nachbarn, Privathaftpflicht prüfen. "
                         "Schadenhöhe ca. 250 €.", "phone_note", None),
    "rechtsschutz": ("Rechtsschutz",
                     "Kunde fragt, ob die Rechtsschutzversicherung den Arbeitsrechtsstreit "
                     "übernimmt.", "phone_note", None),
    "kuendigung_kfz": ("Kündigung Kfz",
                       "Kündigung der Kfz-Versicherung wegen Verkauf des Fahrzeugs, "
                       "Abmeldebescheinigung folgt.", "email", None),
    "kuendigt_leben": ("Lebensversicherung",
                       "Kunde hat die Lebensversicherung gekündigt, Rückkaufswert "
                       "12.345,67 € wird überwiesen.", "note", None),
    "mahnung": ("Mahnung",
                "Zweite Mahnung wegen offener Beiträge für Vertrag KV-2022/0815, "
                "Betrag 218,40 €.", "email", None),
    "unfall_fahrrad": ("Fahrradunfall",
                       "Unfall mit dem Fahrrad, Krankenhausaufenthalt 3 Tage, "
                       "Unfallversicherung informieren.", "phone_note", None),
    "einbruch": ("Einbruch",
                 "Einbruchdiebstahl in der Nacht zum 14.05., Polizei-Aktenzeichen "
                 "ST/0815/2025, Schmuck und Laptop entwendet.", "phone_note", None),
    "termin": ("Termin",
               "Beratungstermin am 12.06. um 14:30 Uhr zur Altersvorsorge vereinbart.",
               "note", None),
    "sepa_fehler": ("IBAN falsch",
                    "Kunde hat falsche IBAN angegeben, korrekt ist DE44 5001 0517 5407 3249 "
                    "31.", "phone_note", None),
    "francois": ("Neukunde",
                 "Neukunde François Dupont-Lefèvre, Kfz und Hausrat gewünscht.", "note", None),
    "schroeder": ("Rückfrage",
                  "Frau Schröder fragt, warum die Lastschrift doppelt abgebucht wurde.",
                  "phone_note", None),
    "stornierung": ("Storno",
                    "Stornierung des Antrags auf Zahnzusatzversicherung, Kunde hat "
                    "anderes Angebot.", "note", None),
    "vollmacht": ("Maklervollmacht",
                  "Maklervollmacht unterschrieben zurück, bitte in Akte.", "document", None),
    "kasko": ("Teilkasko",
              "Wildschaden gemeldet, Teilkasko greift, Selbstbeteiligung 150 €.",
              "phone_note", None),
    "gebaeude": ("Sturmschaden",
                 "Sturmschaden am Dach, Wohngebäudeversicherung, Dachdecker-Angebot "
                 "über 2.100 € liegt vor.", "email", None),
    "zahnarzt": ("Zahnbehandlung",
                 "Heil- und Kostenplan für Zahnersatz eingereicht, Erstattung 70 %.",
                 "email", None),
    "umzug_en": ("Moving house",
                 "We are moving to Munich next month; please update our address for all "
                 "contracts.", "email", None),
    "hr_number": ("Handelsregister",
                  "Firma eingetragen unter HRB 123456, Amtsgericht München.", "note", None),
    "internal_remark": ("Intern",
                        "Kunde sehr schwierig, ruft täglich an wegen Hausrat.", "note", None),
    "leer": ("Rückruf",
             "Bitte zurückrufen.", "call", None),
    "reise": ("Reiserücktritt",
              "Reiserücktrittsversicherung: Stornokosten 1.200 € wegen Krankheit.",
              "email", None),
    "berufshaft": ("Berufshaftpflicht",
                   "Architektin benötigt Berufshaftpflicht, Honorarvolumen 300.000 €.",
                   "note", None),
    "kuendigungsfrist": ("Frage Kündigungsfrist",
                         "Welche Kündigungsfrist gilt für meine Hausratversicherung? "
                         "Gruß, K. Meier", "message", None),
    "vertraege": ("Verträge",
                  "Übersicht aller Verträge des Kunden angefordert: Kfz, Hausrat, BU.",
                  "email", None),
    "mietvertrag": ("Mietvertrag",
                    "Kopie Mietvertrag für Hausrat-Antrag erhalten.", "document", None),
    "online_banking": ("Onlinebanking",
                       "Kunde kann im Online-Banking die Lastschrift nicht zurückgeben.",
                       "phone_note", None),
    "euro_amount": ("Erstattung",
                    "Erstattung von 1.234,56 € auf Konto überwiesen.", "note", None),
    "claim_number": ("Schadennummer",
                     "Schadennummer 2025-SN-004711 vergeben, Sachbearbeiter Hr. Brandt.",
                     "note", None),
    "policy_slash": ("Police",
                     "Police 12/345678-9 wurde neu ausgestellt.", "document", None),
    "dates": ("Fristen",
              "Frist bis 15.03.2026 zur Einreichung der Unterlagen.", "note", None),
    "tel_plus": ("Signatur",
                 "Mit freundlichen Grüßen\nAnna Becker\nTel. +49 (0)30 2345678", "email",
                 None),
    "cancellation_en_notice": ("Notice of cancellation",
                               "Please treat this e-mail as notice of cancellation of "
                               "policy HV-2024-00999.", "email", None),
    "en_invoice": ("Invoice",
                   "Please find attached the invoice for the annual premium.", "email",
                   None),
    "kuendigung_en_de": ("Kündigungsbestätigung",
                         "Die Kündigung Ihrer Kfz-Haftpflicht wurde bestätigt.", "reply",
                         None),
    "accents": ("Café",
                "Schaden im Café Crème, Inhaberin Zoë Noël.", "phone_note", None),
    "hyphen_name": ("Anruf",
                    "Anruf von Frau Meyer-Hoffmann wegen Beitragsrückstand.", "call", None),
}

# (query, must be in the top 3, must not be a hit at all); top3 None: a clear 400.
Query = tuple[str, tuple[str, ...] | None, tuple[str, ...]]
QUERIES: list[Query] = [
    # umlauts typed without them, lower case
    ("kuendigung hausrat", ("hausrat_kuend",), ()),
    ("kundigung hausratversicherung", ("hausrat_kuend",), ()),
    ("beitragserhoehung", ("beitrag_erh",), ()),
    ("schroeder lastschrift", ("schroeder",), ()),
    ("schroder", ("schroeder",), ()),
    # word forms and compounds
    ("Kündigungen Kfz", ("kuendigung_kfz",), ()),
    ("gekündigt lebensversicherung", ("kuendigt_leben",), ()),
    ("Versicherung Sturm", ("gebaeude",), ()),
    ("Hausrat Kündigung", ("hausrat_kuend",), ()),
    ("beitrag erhöhung", ("beitrag_erh",), ()),
    ("Verträge Übersicht", ("vertraege",), ()),
    ("Vertrag kopie miete", ("mietvertrag",), ()),
    ("Haftpflicht Sohn", ("haftpflicht_priv",), ()),
    ("Unfall Fahrrad", ("unfall_fahrrad",), ()),
    ("Einbruch Schmuck", ("einbruch",), ()),
    # quoted phrases, exclusions, OR, prefixes
    ('"Kfz-Haftpflicht"', ("kfz_schaden", "kuendigung_en_de"), ()),
    ('"neue Wohnung"', ("hausrat_tarif",), ()),
    ("schaden -kfz", ("haftpflicht_priv",),
     ("kfz_schaden", "kfz_other_policy", "kuendigung_kfz")),
    ("kündigung -hausrat", ("kuendigung_kfz",), ("hausrat_kuend",)),
    ("Teilkasko OR Rechtsschutz", ("kasko", "rechtsschutz"), ()),
    ("Kündig*", (), ("kasko", "weiss_glas")),
    ("lastschr*", (), ("kasko",)),
    ("Berufsunf*", ("bu_leistung",), ()),
    # reference numbers typed every way
    ("HV-2024-00123", ("kfz_schaden", "kfz_gutachten"), ("kfz_other_policy",)),
    ("HV 2024 00123", ("kfz_schaden", "kfz_gutachten"), ("kfz_other_policy",)),
    ("hv202400123", ("kfz_schaden", "kfz_gutachten"), ("kfz_other_policy",)),
    ("HV2024-00123", ("kfz_schaden", "kfz_gutachten"), ("kfz_other_policy",)),
    ("4711/22", ("hausrat_kuend", "hausrat_bestaet"), ()),
    ("Vertrag Nr. 4711/22", ("hausrat_kuend",), ()),
    ("4711-22", ("hausrat_kuend", "hausrat_bestaet"), ()),
    ("KV-2022/0815", ("mahnung",), ()),
    ("kv 2022 0815", ("mahnung",), ()),
    ("ST/0815/2025", ("einbruch",), ()),
    ("2025-SN-004711", ("claim_number",), ()),
    ("2025SN004711", ("claim_number",), ()),
    ("12/345678-9", ("policy_slash",), ()),
    ("CL-88412", ("en_claim",), ()),
    ("CL88412", ("en_claim",), ()),
    # IBAN, e-mail, phone, amounts
    ("DE89 3704 0044 0532 0130 00", ("lastschrift_rueck",), ()),
    ("DE89370400440532013000", ("lastschrift_rueck",), ()),
    ("DE02 1203 0000 0000 2020 51", ("lastschrift_mandat",), ()),
    ("de44500105175407324931", ("sepa_fehler",), ()),
    ("erika.mustermann@example.de", ("email_unterlagen",), ("email_other",)),
    ("mustermann@example", ("email_unterlagen", "email_other"), ()),
    ("+49 171 1234567", ("phone_rueckruf",), ()),
    ("01711234567", ("phone_rueckruf",), ()),
    ("030 2345678", ("tel_plus",), ()),
    ("1.234,56", ("euro_amount",), ()),
    ("4.380,00 €", ("kfz_gutachten",), ()),
    ("31.12.2025", ("hausrat_kuend", "hausrat_bestaet"), ()),
    # names: umlauts, ß, accents, hyphens
    ("Mueller-Luedenscheidt", ("kfz_schaden",), ()),
    ("muller ludenscheidt", ("kfz_schaden",), ()),
    ("Weiss", ("weiss_glas", "bu_antrag", "hausrat_kuend"), ()),
    ("Weiß Glasbruch", ("weiss_glas",), ()),
    ("Strasse", ("strasse", "hausrat_tarif"), ()),
    ("Hauptstraße", ("strasse",), ()),
    ("Gross", ("gross_kfz", "lastschrift_mandat"), ()),
    ("Francois Dupont Lefevre", ("francois",), ()),
    ("renee weiss", ("bu_antrag",), ()),
    ("Ozdemir", ("bu_leistung",), ()),
    ("Meyer Hoffmann", ("hyphen_name",), ()),
    ("zoe noel cafe", ("accents",), ()),
    # English forms
    ("cancellation", ("en_cancel", "cancellation_en_notice"), ()),
    ("cancelled household", ("en_cancel",), ()),
    ("cancel motor insurance", ("en_cancel_req",), ()),
    ("claims", ("en_claim", "en_claimed"), ()),
    ("claimed water damage", ("en_claimed",), ()),
    ("premium increases", ("en_premium",), ()),
    ("direct debits returned", ("en_direct_debit",), ()),
    ("Email", ("email_other",), ()),
    ("online banking lastschrift", ("online_banking",), ()),
    # across languages
    ("cancellation Kfz-Haftpflicht", ("kuendigung_en_de",), ()),
    ("Kündigung household", ("en_cancel",), ()),
    ("claim car accident", ("en_claim",), ()),
    ("Lastschrift returned", ("en_direct_debit",), ()),
    # odd input: special characters, emoji, stop words, long
    ("kündigung:", (), ("kasko",)),
    ("(hausrat)", ("hausrat_tarif",), ()),
    ("glasbruch^2", (), ()),
    ("hausrat\\", ("hausrat_tarif",), ()),
    ("🚗 unfall fahrrad", ("unfall_fahrrad",), ()),
    ("Fahrzeugwechsel 👍", ("gross_kfz",), ()),
    ("der die das", (), ()),
    ("the and of", (), ()),
    ("Kunde Hausrat Kündigung Vertrag 4711/22 Bestätigung bitte zum 31.12.2025 Ende",
     (), ()),
    ('"', None, ()),
    ("*", None, ()),
    ("(", None, ()),
    (":", None, ()),
    ("^", None, ()),
    ("\\", None, ()),
    ("🚗", None, ()),
    ("   ", None, ()),
    ("", None, ()),
    ("x" * 600, None, ()),
    ('"unclosed phrase', None, ()),
    ("OR", None, ()),
    ("hausrat OR", None, ()),
    ("-hausrat", None, ()),
    ("a*", None, ()),
    ("k*ndigung", (), ()),
    ("hausrat AND OR kfz", (), ()),
    ('""', None, ()),
    ("Kündigung\x00Hausrat", ("hausrat_kuend",), ()),
    # verbs and their nouns, linking s, dates, more numbers
    ("Kündigung Lebensversicherung", ("kuendigt_leben",), ()),
    ("Wildschaden melden", ("kasko",), ()),
    ("erhöht Beitrag", ("beitrag_widerspr",), ()),
    ("storniert Zahnzusatz", ("stornierung",), ()),
    ("Einreichung Zahnersatz", ("zahnarzt",), ()),
    ("Schadenmeldung Kfz", ("kfz_schaden",), ()),
    ("Hausratsversicherung kündigen", ("hausrat_kuend",), ()),
    ("3.2.25", ("kfz_schaden",), ()),
    ("2025-12-31", ("hausrat_kuend", "hausrat_bestaet"), ()),
    ("15. März 2026", ("dates",), ()),
    ("Unfall 3. Februar 2025", ("kfz_schaden",), ()),
    ("KV20220815", ("mahnung",), ()),
    ("123456789", ("policy_slash",), ()),
    ("Reparaturkosten", ("kfz_gutachten",), ()),
    ("Straße", ("strasse", "hausrat_tarif"), ()),
    ("damage claim", ("en_claimed",), ()),
    ("invoice Prämie", ("en_invoice",), ()),
    ("Rechnung premium", ("en_invoice",), ()),
    ("contract overview", ("vertraege",), ()),
]

# typed with typing errors: no hits, but "did you mean" suggests the intended word
TYPOS: list[tuple[str, str]] = [
    ("Kündigng", "Kündigung"),
    ("Hausratversicherng", "Hausratversicherung"),
    ("lastschirft", "Lastschrift"),
    ("Beitragserhohnug", "Beitragserhöhung"),
    ("Glasbrcuh", "Glasbruch"),
    ("cancelation", "Cancellation"),
]
