"""``timeline.repositories.PolicyRepository`` on PostgreSQL: the publish policy per office and
agent, the office's tone lexicon, what decides a new agent entry (``entry_context``), and
each customer's consents (with history) and notification preferences (the embedded twin is
``timeline/sqlite_policy.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from timeline.errors import NotFound
from timeline.models import Consent, Preferences, Visibility, utcnow
from timeline.pg_rows import PgRepository, read_snapshot
from timeline.policy import KindPreset, PolicyMap
from timeline.repositories import EntryContext
from timeline.sql_tables import (
    Json,
    agent_logins,
    agents,
    consents,
    customers,
    offices,
    policies,
    preferences,
    tone_words,
)

_CONSENT = sa.select(consents.c.channel, consents.c.granted, consents.c.at, consents.c.actor,
                     consents.c.route)
_WORDS = sa.select(tone_words.c.word)


def _preset(row: Mapping[Any, Any]) -> KindPreset:
    vis, ntf = row["visibility"], row["notify"]
    return KindPreset(visibility=Visibility(vis) if vis else None,
                      notify=None if ntf is None else bool(ntf))


def _consent(row: Mapping[Any, Any]) -> Consent:
    return Consent(channel=row["channel"], granted=bool(row["granted"]), at=row["at"],
                   actor=row["actor"], route=row["route"])


def _words_of(office_id: str) -> sa.Select[str]:
    return _WORDS.where(tone_words.c.office_id == office_id).order_by(tone_words.c.word)


class PgPolicy(PgRepository):
    async def get_policy(self, office_id: str, agent_id: str | None) -> PolicyMap:
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(policies.c.kind, policies.c.visibility, policies.c.notify)
                .where(policies.c.office_id == office_id,
                       policies.c.agent_id == (agent_id or "")))).mappings().all()
        return {r["kind"]: _preset(r) for r in rows}

    async def set_policy(self, office_id: str, agent_id: str | None, policy: PolicyMap) -> None:
        """Each kind is one upsert (or delete, for an empty preset) on the policy's key, all
        in one transaction; kinds go in sorted order, so two concurrent calls lock the same
        rows in the same order and cannot deadlock."""
        async with self.db.begin() as conn:
            for kind in sorted(policy):
                p = policy[kind]
                key = (policies.c.office_id == office_id,
                       policies.c.agent_id == (agent_id or ""), policies.c.kind == kind)
                if p.visibility is None and p.notify is None:
                    await conn.execute(sa.delete(policies).where(*key))
                    continue
                stmt = pg_insert(policies).values(
                    office_id=office_id, agent_id=agent_id or "", kind=kind,
                    visibility=p.visibility.value if p.visibility else None, notify=p.notify)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=[policies.c.office_id, policies.c.agent_id, policies.c.kind],
                    set_={"visibility": stmt.excluded.visibility,
                          "notify": stmt.excluded.notify}))

    async def entry_context(self, office_id: str, agent_id: str, customer_id: str
                            ) -> EntryContext | None:
        """Everything deciding a new agent entry, in one read (None: no such customer); one
        ``REPEATABLE READ`` snapshot, as SQLite's read transaction."""
        async with read_snapshot(self.db) as conn:
            name = await conn.scalar(sa.select(customers.c.name).where(
                customers.c.id == customer_id, customers.c.office_id == office_id))
            if name is None:
                return None
            maps: dict[str, PolicyMap] = {"": {}, agent_id: {}}
            for row in (await conn.execute(
                    sa.select(policies.c.agent_id, policies.c.kind, policies.c.visibility,
                              policies.c.notify)
                    .where(policies.c.office_id == office_id,
                           policies.c.agent_id.in_(["", agent_id])))).mappings():
                maps[row["agent_id"]][row["kind"]] = _preset(row)
            words = tuple((await conn.scalars(_words_of(office_id))).all())
            colleagues = tuple((await conn.scalars(sa.select(agents.c.name).where(
                agents.c.office_id == office_id, agents.c.id != agent_id))).all())
            addresses = tuple((await conn.scalars(sa.select(agent_logins.c.email).where(
                agent_logins.c.office_id == office_id,
                agent_logins.c.email.is_not(None)))).all())
        return EntryContext(office_policy=maps[""], agent_policy=maps[agent_id],
                            tone_words=words, colleagues=colleagues,
                            internal_addresses=addresses,
                            customer_name=str(name))

    async def get_tone_words(self, office_id: str) -> tuple[str, ...]:
        async with self.db.connect() as conn:
            return tuple((await conn.scalars(_words_of(office_id))).all())

    async def set_tone_words(self, office_id: str, words: Sequence[str]) -> None:
        """Replace the office's list. The office row is locked first (``FOR NO KEY
        UPDATE``), so two replacements run one after the other and the later list wins
        whole; without it, both deletes could run before both inserts and leave the union."""
        async with self.db.begin() as conn:
            await conn.execute(sa.select(offices.c.id).where(offices.c.id == office_id)
                               .with_for_update(key_share=True))
            await conn.execute(sa.delete(tone_words).where(tone_words.c.office_id == office_id))
            if words:
                await conn.execute(pg_insert(tone_words).values(
                    [{"office_id": office_id, "word": w} for w in words]
                ).on_conflict_do_nothing())

    # ------------------------------------------------------------------ consent, preferences
    async def record_consent(self, office_id: str, customer_id: str, channel: str,
                             granted: bool, *, actor: str, route: str) -> Consent:
        at = utcnow()
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(consents).values(
                office_id=office_id, customer_id=customer_id, channel=channel, granted=granted,
                at=at, actor=actor, route=route))
        return Consent(channel=channel, granted=granted, at=at, actor=actor, route=route)

    async def consents(self, office_id: str, customer_id: str) -> dict[str, Consent]:
        """The current consent per channel (channels never decided are absent)."""
        return {c.channel: c for c in await self.consent_history(office_id, customer_id)}

    async def consent_history(self, office_id: str, customer_id: str) -> list[Consent]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(_CONSENT.where(
                consents.c.office_id == office_id, consents.c.customer_id == customer_id)
                .order_by(consents.c.id))).mappings().all()
        return [_consent(r) for r in rows]

    async def get_preferences(self, office_id: str, customer_id: str) -> Preferences:
        async with self.db.connect() as conn:
            data = await conn.scalar(sa.select(preferences.c.data).where(
                preferences.c.customer_id == customer_id, preferences.c.office_id == office_id))
        return Preferences() if data is None else Preferences.model_validate(data)

    async def set_preferences(self, office_id: str, customer_id: str, prefs: Preferences
                              ) -> None:
        """Replace the customer's preferences whole (one upsert); ``NotFound`` for a
        customer that is not the office's (the upsert takes its row from ``customers``, so
        it writes nothing then)."""
        ours = sa.select(customers.c.id, customers.c.office_id,
                         sa.literal(prefs.model_dump(mode="json"), Json)).where(
            customers.c.id == customer_id, customers.c.office_id == office_id)
        stmt = pg_insert(preferences).from_select(["customer_id", "office_id", "data"], ours)
        async with self.db.begin() as conn:
            written = await conn.execute(stmt.on_conflict_do_update(
                index_elements=[preferences.c.customer_id], set_={"data": stmt.excluded.data}))
        if not written.rowcount:
            raise NotFound("no such customer")
