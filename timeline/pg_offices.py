"""``timeline.repositories.OfficeRepository`` on PostgreSQL: offices, agents and their API
tokens."""

from __future__ import annotations

import sqlalchemy as sa

from timeline.ids import new_ulid
from timeline.models import Agent, Office, Role, utcnow
from timeline.pg_rows import PgRepository, office_from_row
from timeline.sql_tables import agent_tokens, agents, offices

_OFFICE = sa.select(offices.c.id, offices.c.name, offices.c.region, offices.c.created_at)


class PgOffices(PgRepository):
    async def create_office(self, name: str, region: str) -> Office:
        office = Office(id=new_ulid(), name=name, region=region.upper(), created_at=utcnow())
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(offices).values(
                id=office.id, name=office.name, region=office.region,
                created_at=office.created_at))
        return office

    async def get_office(self, office_id: str) -> Office | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(_OFFICE.where(offices.c.id == office_id))).mappings().first()
        return None if row is None else office_from_row(row)

    async def list_offices(self) -> list[Office]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(_OFFICE.order_by(offices.c.id))).mappings().all()
        return [office_from_row(r) for r in rows]

    async def create_agent(self, office_id: str, name: str, role: Role, token_hash: str) -> Agent:
        agent = Agent(id=new_ulid(), office_id=office_id, name=name, role=role,
                      created_at=utcnow())
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(agents).values(
                id=agent.id, office_id=office_id, name=name, role=role.value,
                created_at=agent.created_at))
            await conn.execute(sa.insert(agent_tokens).values(
                token_hash=token_hash, agent_id=agent.id, created_at=agent.created_at))
        return agent

    async def agent_for_token(self, token_hash: str) -> Agent | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(
                sa.select(agents.c.id, agents.c.office_id, agents.c.name, agents.c.role,
                          agents.c.created_at)
                .join(agent_tokens, agent_tokens.c.agent_id == agents.c.id)
                .where(agent_tokens.c.token_hash == token_hash))).first()
        if row is None:
            return None
        return Agent(id=row[0], office_id=row[1], name=row[2], role=Role(row[3]),
                     created_at=row[4])
