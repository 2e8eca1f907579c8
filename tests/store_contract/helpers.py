"""What the contract modules share: entry drafts, a seeded office and the failure classes a
refused call may raise (bare ``LookupError``/``ValueError`` today, typed domain errors after
the split into repositories; a test asserts the state afterwards, not the class)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from timeline.errors import DomainError
from timeline.models import (
    Channel,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    Identity,
    Office,
    Visibility,
    utcnow,
)
from timeline.notifications import JobStatus, NotifyJob
from timeline.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

REFUSED = (LookupError, ValueError, DomainError)
"""What a refused call may raise."""


def draft(office: str, customer: str, **kw: Any) -> EntryDraft:
    """An internal note at ``T0`` unless ``kw`` says otherwise."""
    base: dict[str, Any] = dict(
        office_id=office, customer_id=customer, channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="note", visibility=Visibility.INTERNAL,
        occurred_at=T0, body="text")
    base.update(kw)
    return EntryDraft.model_validate(base)


def published(office: str, customer: str, **kw: Any) -> EntryDraft:
    """A published outbound note that asks for a notification (it becomes a job)."""
    base: dict[str, Any] = dict(channel=Channel.NOTE, direction=Direction.OUTBOUND,
                                visibility=Visibility.PUBLISHED, notify=True)
    base.update(kw)
    return draft(office, customer, **base)


@dataclass(frozen=True)
class Seeded:
    office: Office
    customer: Customer


async def seed(store: Store, *identities: Identity, name: str = "Erika Muster",
               office_name: str = "Büro A") -> Seeded:
    office = await store.create_office(office_name, "DE")
    customer = await store.create_customer(office.id, name, list(identities))
    return Seeded(office, customer)


LEASE = timedelta(minutes=5)


async def queued(store: Store, n: int = 1) -> tuple[Seeded, list[Entry]]:
    """An office with a customer and ``n`` published entries that ask for a notification."""
    s = await seed(store)
    made = await store.append_many([published(s.office.id, s.customer.id, body=f"m{i}")
                                    for i in range(n)])
    return s, [entry for entry, _ in made]


async def claim_one(store: Store, owner: str, now: datetime | None = None,
                    lease: timedelta = LEASE) -> NotifyJob:
    at = now or utcnow()
    [job] = await store.claim_notify_jobs(owner, at, at + lease, 1)
    return job


async def job_status(store: Store, job: NotifyJob) -> JobStatus:
    current = await store.get_notify_job(job.office_id, job.id)
    assert current is not None
    return current.status


@dataclass
class AsciiDomains:
    """E-mail values a store held in the ASCII (``xn--``) form before domains were read as
    Unicode: what the IDN data migration must rewrite (SQLite 16, PostgreSQL 0006)."""

    office: Office
    erika: Customer
    both: Customer  # had both spellings
    agent_id: str


async def ascii_domains(store: Store) -> AsciiDomains:
    from timeline.models import IdentityKind, Role

    office = await store.create_office("Büro", "DE")
    erika = await store.create_customer(office.id, "Erika", [
        Identity(kind=IdentityKind.EMAIL, value="erika@xn--mller-kva.de")])
    both = await store.create_customer(office.id, "Jörg", [
        Identity(kind=IdentityKind.EMAIL, value="joerg@xn--mller-kva.de"),
        Identity(kind=IdentityKind.EMAIL, value="joerg@müller.de")])
    agent = await store.create_agent(office.id, "Anna", Role.AGENT, "hash")
    await store.set_agent_login(agent.id, email="anna@xn--bro-hoa.de")
    assert await store.add_inbound_address(office.id, "service@xn--bro-hoa.de")
    return AsciiDomains(office, erika, both, agent.id)


async def assert_unicode_domains(store: Store, seeded: AsciiDomains) -> None:
    from timeline.models import IdentityKind

    office = seeded.office.id
    found = await store.find_customers(office, IdentityKind.EMAIL, "erika@müller.de")
    assert [c.id for c in found] == [seeded.erika.id]
    again = await store.find_customers(office, IdentityKind.EMAIL, "joerg@müller.de")
    assert [c.id for c in again] == [seeded.both.id]
    assert [i.value for i in again[0].identities] == ["joerg@müller.de"]
    login = await store.agent_by_email("anna@büro.de")
    assert login is not None and login[0].id == seeded.agent_id
    assert await store.inbound_addresses(office) == {"service@büro.de": office}


OLD_FOLDS = {"Łukasz Wójcik": "łukasz wojcik", "Søren Ærø": "søren æro",
             "Erika Müller": "erika muller"}
"""Names and how the folding before non-decomposing letters were mapped stored them."""


async def old_folded_names(store: Store) -> tuple[str, dict[str, str]]:
    """An office whose customers were saved with :data:`OLD_FOLDS` (the caller then writes
    those folds into the table, as an older Chronik left them): (office id, name -> id)."""
    office = await store.create_office("Büro", "DE")
    ids = {name: (await store.create_customer(office.id, name, [])).id for name in OLD_FOLDS}
    return office.id, ids


async def assert_names_found_as_typed(store: Store, office_id: str, ids: dict[str, str]
                                      ) -> None:
    from timeline.repositories import CustomerListQuery

    for typed, name in (("Lukasz", "Łukasz Wójcik"), ("wojcik lukasz", "Łukasz Wójcik"),
                        ("Soren Aero", "Søren Ærø"), ("Müller", "Erika Müller")):
        page = await store.list_customers(office_id, CustomerListQuery(name=typed))
        assert [c.id for c in page.items] == [ids[name]], typed
