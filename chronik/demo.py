"""Demo data: one insurance broker's office with a few realistic customers and histories."""

from __future__ import annotations

from datetime import datetime, timedelta

from chronik.api.base import hash_token
from chronik.state import AppState
from chronik.web.auth import hash_password
from timeline.models import (
    Channel,
    Direction,
    EntryDraft,
    IdentityKind,
    Role,
    Visibility,
    utcnow,
)
from timeline.service import EntryRequest, UploadedFile

DEMO_TOKEN = "chk_demo_admin"  # noqa: S105  (demo data only; printed on start)
DEMO_AGENT_TOKEN = "chk_demo_agent"  # noqa: S105
DEMO_PASSWORD = "chronik-demo"  # noqa: S105  (demo data only; printed on start)
DEMO_ADMIN_EMAIL = "anna@berger-partner.example"
DEMO_AGENT_EMAIL = "tom@berger-partner.example"

_PDF = (  # a one-page letter with a text layer: its words are searchable
    b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\n'
    b'endobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\n'
    b'endobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /R'
    b'esources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>\n'
    b'endobj\n4 0 obj\n<< /Length 299 >>\nstream\nBT /F1 12 Tf 14 TL 72 770 Td ('
    b'Berger & Partner Versicherungsmakler) Tj T* (K\xfcndigungsbest\xe4tigung) Tj'
    b' T* (Hausratversicherung Nr. HR-20391, Erika Mustermann) Tj T* (Die Ve'
    b'rsicherung endet zum 31.12. Die Glasbruchdeckung) Tj T* (entf\xe4llt mit '
    b'dem Vertrag; der Beitrag wird anteilig erstattet.) Tj T* ET\n'
    b'endstream\nendobj\n5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Hel'
    b'vetica /Encoding /WinAnsiEncoding >>\nendobj\n'
    b'xref\n0 6\n0000000000 65535 f \n0000000015 00000 n \n'
    b'0000000064 00000 n \n0000000121 00000 n \n0000000247 00000 n \n'
    b'0000000597 00000 n \ntrailer\n<< /Size 6 /Root 1 0 R >>\n'
    b'startxref\n694\n%%EOF\n'
)


async def seed_demo(state: AppState) -> str:
    """Create the demo office once; return the admin's API token."""
    if await state.store.agent_for_token(hash_token(DEMO_TOKEN)) is not None:
        return DEMO_TOKEN
    store, tl = state.store, state.timeline
    office = await store.create_office("Versicherungsbüro Berger & Partner", "DE")
    admin = await store.create_agent(office.id, "Anna Berger", Role.ADMIN, hash_token(DEMO_TOKEN))
    tom = await store.create_agent(office.id, "Tom Weber", Role.AGENT,
                                   hash_token(DEMO_AGENT_TOKEN))
    password = await hash_password(DEMO_PASSWORD)
    await store.set_agent_login(admin.id, email=DEMO_ADMIN_EMAIL, password_hash=password)
    await store.set_agent_login(tom.id, email=DEMO_AGENT_EMAIL, password_hash=password)
    now = utcnow()

    def ago(days: float, hours: float = 0) -> datetime:
        return now - timedelta(days=days, hours=hours)

    async def add(customer_id: str, channel: Channel, direction: Direction, kind: str,
                  when: datetime, subject: str, body: str, *, source: str | None = None,
                  meta: dict[str, object] | None = None,
                  visibility: Visibility = Visibility.PUBLISHED, html: str | None = None,
                  tags: tuple[str, ...] = ()) -> None:
        await tl.append(EntryDraft(
            office_id=office.id, customer_id=customer_id, channel=channel, direction=direction,
            kind=kind, visibility=visibility, occurred_at=when, subject=subject, body=body,
            source_id=source, meta=meta or {}, html=html, tags=tags))

    erika = await tl.create_customer(office, "Erika Mustermann", [
        (IdentityKind.EMAIL, "erika.mustermann@example.de"),
        (IdentityKind.PHONE, "0171 1234567")])
    await add(erika.id, Channel.EMAIL, Direction.INBOUND, "email", ago(40),
              "Kündigung Hausratversicherung",
              "Sehr geehrte Frau Berger,\n\nhiermit kündige ich meine Hausratversicherung "
              "(Vertrag HR-20391) fristgerecht zum 31.12. Bitte bestätigen Sie mir die "
              "Kündigung schriftlich.\n\nMit freundlichen Grüßen\nErika Mustermann",
              source="<demo-1@example.de>", meta={"from": "erika.mustermann@example.de"})
    await add(erika.id, Channel.PHONE, Direction.INBOUND, "call", ago(39, 3),
              "Anruf von +491711234567", "", source="demo-call-1",
              meta={"from": "+491711234567", "duration_seconds": 312, "outcome": "answered",
                    "answered_by": "Anna Berger"}, visibility=Visibility.INTERNAL)
    await tl.record(admin, office, erika.id, EntryRequest(
        kind="phone_note", subject="Rückruf wegen Kündigung",
        body="Frau Mustermann zieht nach Hamburg. Wir bieten ihr eine neue Hausrat-Police mit "
             "Glasbruch an; Angebot folgt per E-Mail.", occurred_at=ago(39, 2)))
    await tl.record(admin, office, erika.id, EntryRequest(
        kind="note", subject="Intern: Provision",
        body="Provisionsrückforderung prüfen, bevor die Kündigung bestätigt wird.",
        visibility=Visibility.INTERNAL, occurred_at=ago(39, 1)))
    await tl.record(admin, office, erika.id, EntryRequest(
        kind="document", subject="Kündigungsbestätigung HR-20391",
        body="Bestätigung der Kündigung zum 31.12.", occurred_at=ago(38),
        files=(UploadedFile("Kuendigungsbestaetigung.pdf", "application/pdf", _PDF),)))
    await add(erika.id, Channel.PORTAL, Direction.INBOUND, "message", ago(2),
              "Angebot Hausrat Hamburg",
              "Danke für das Angebot! Gilt der Glasbruchschutz auch für das Ceranfeld?",
              source="demo-portal-1")

    await tl.record(admin, office, erika.id, EntryRequest(
        kind="note", subject="Anrede", tags=("pinned",), visibility=Visibility.INTERNAL,
        body="Möchte mit „Frau Dr. Mustermann“ angesprochen werden; ruft meist mittags an. "
             "Tochter Lena studiert in Hamburg.", occurred_at=ago(60)))

    max_ = await tl.create_customer(office, "Max Müller", [
        (IdentityKind.EMAIL, "max.mueller@example.com"),
        (IdentityKind.PHONE, "+49 30 1234567")])
    await add(max_.id, Channel.EMAIL, Direction.INBOUND, "email", ago(12), "Schadenmeldung KFZ",
              "Guten Tag, am Samstag wurde mein Auto auf dem Parkplatz beschädigt "
              "(Kennzeichen B-MM 1234). Fotos im Anhang. Was muss ich tun?",
              source="<demo-2@example.com>", meta={"from": "max.mueller@example.com"})
    await add(max_.id, Channel.PHONE, Direction.INBOUND, "call", ago(11), "Verpasster Anruf",
              "", source="demo-call-2",
              meta={"from": "+49301234567", "outcome": "noAnswer", "missed": True},
              visibility=Visibility.INTERNAL)
    await add(max_.id, Channel.EMAIL, Direction.INBOUND, "email", ago(1),
              "Beschwerde: Gutachter kam nicht",
              "Der Gutachter ist heute nicht erschienen. Ich habe den ganzen Vormittag "
              "gewartet!", source="<demo-3@example.com>",
              meta={"from": "max.mueller@example.com"}, tags=("complaint",),
              html="<p>Der Gutachter ist heute <b>nicht erschienen</b>. Ich habe den ganzen "
                   "Vormittag gewartet!</p><p>Max Müller</p>")
    await tl.record(admin, office, max_.id, EntryRequest(
        kind="note", subject="Schaden angelegt",
        body="Schadennummer KS-7781 beim Versicherer angelegt; Gutachter wird beauftragt.",
        occurred_at=ago(10)))

    sophie = await tl.create_customer(office, "Sophie Schneider", [
        (IdentityKind.EMAIL, "sophie@schneider-design.example"),
        (IdentityKind.TELEGRAM, "424242")])
    await add(sophie.id, Channel.CHAT, Direction.INBOUND, "message", ago(5),
              "", "Hallo, können Sie mir die Beitragsrechnung für 2026 schicken?",
              source="tg-424242-17", meta={"from": "@sophie_design"})
    await tl.record(admin, office, sophie.id, EntryRequest(
        kind="note", body="Beitragsrechnung 2026 per Telegram zugesagt.", occurred_at=ago(5)))

    for name in ("Hans Becker", "Greta Becker"):  # a family sharing one landline
        becker = await tl.create_customer(office, name, [(IdentityKind.PHONE, "089 123456")])
        await add(becker.id, Channel.EMAIL, Direction.INBOUND, "email", ago(20),
                  "Wohngebäudeversicherung", f"Anfrage zur Wohngebäudeversicherung von {name}.",
                  source=f"<demo-becker-{name.split()[0]}@example.org>")

    await state.indexer.drain()
    return DEMO_TOKEN
