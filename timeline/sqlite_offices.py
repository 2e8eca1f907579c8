"""``timeline.repositories.OfficeRepository`` on SQLite: offices, agents and their API
tokens."""

from __future__ import annotations

import sqlite3

from timeline.ids import new_ulid
from timeline.models import Agent, Office, Role, utcnow
from timeline.sqlite_rows import SqliteRepository, dt, iso, office_from_row


class SqliteOffices(SqliteRepository):
    async def create_office(self, name: str, region: str) -> Office:
        office = Office(id=new_ulid(), name=name, region=region.upper(), created_at=utcnow())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO offices (id, name, region, created_at) VALUES (?,?,?,?)",
                         (office.id, office.name, office.region, iso(office.created_at)))
        await self.db.write(run)
        return office

    async def get_office(self, office_id: str) -> Office | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT id, name, region, created_at FROM offices WHERE id=?", (office_id,)
        ).fetchone())
        return None if row is None else office_from_row(row)

    async def list_offices(self) -> list[Office]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT id, name, region, created_at FROM offices ORDER BY id").fetchall())
        return [office_from_row(r) for r in rows]

    async def create_agent(self, office_id: str, name: str, role: Role, token_hash: str) -> Agent:
        agent = Agent(id=new_ulid(), office_id=office_id, name=name, role=role,
                      created_at=utcnow())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO agents VALUES (?,?,?,?,?)", (
                agent.id, office_id, name, role.value, iso(agent.created_at)))
            conn.execute("INSERT INTO agent_tokens VALUES (?,?,?)",
                         (token_hash, agent.id, iso(agent.created_at)))
        await self.db.write(run)
        return agent

    async def agent_for_token(self, token_hash: str) -> Agent | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT a.id, a.office_id, a.name, a.role, a.created_at FROM agent_tokens t "
            "JOIN agents a ON a.id = t.agent_id WHERE t.token_hash=?", (token_hash,)
        ).fetchone())
        if row is None:
            return None
        return Agent(id=row[0], office_id=row[1], name=row[2], role=Role(row[3]),
                     created_at=dt(row[4]))
