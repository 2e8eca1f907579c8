"""``timeline.accounts.AccountStore`` on SQLite: agents' sign-in, browser sessions, one-time
sign-in codes."""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from timeline.accounts import (
    ATTEMPTS_KEPT,
    REVOCATION_EVENT,
    AgentAccount,
    AgentLogin,
    AgentSession,
    Audience,
    LoginCode,
    WebSession,
)
from timeline.errors import Conflict, NotFound
from timeline.models import Agent, Role, utcnow
from timeline.sqlite_events import add_event
from timeline.sqlite_rows import SqliteRepository, office_from_row

_UNSET: Any = ...
_AGENT_COLS = "a.id, a.office_id, a.name, a.role, a.created_at"
_LOGIN_COLS = "l.agent_id, l.email, l.password_hash, l.language, l.timezone"
_SESSION_COLS = ("s.id_hash, s.audience, s.office_id, s.subject_id, s.csrf, s.created_at, "
                 "s.expires_at, s.language")


def _utc(at: datetime) -> str:
    """``at`` as ISO text in UTC: the columns are compared as text, which orders instants
    only when they are all written with the same offset."""
    return at.astimezone(UTC).isoformat()


def _agent(row: Sequence[Any]) -> Agent:
    return Agent(id=row[0], office_id=row[1], name=row[2], role=Role(row[3]),
                 created_at=datetime.fromisoformat(row[4]))


def _login(row: Sequence[Any]) -> AgentLogin:
    return AgentLogin(agent_id=row[0], email=row[1], password_hash=row[2], language=row[3],
                      timezone=row[4])


def _session(row: Sequence[Any]) -> WebSession:
    return WebSession(id_hash=row[0], audience=row[1], office_id=row[2], subject_id=row[3],
                      csrf=row[4], created_at=datetime.fromisoformat(row[5]),
                      expires_at=datetime.fromisoformat(row[6]), language=row[7])


class SqliteAccounts(SqliteRepository):
    async def get_agent(self, office_id: str, agent_id: str) -> Agent | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_AGENT_COLS} FROM agents a WHERE a.id=? AND a.office_id=?",
            (agent_id, office_id)).fetchone())
        return None if row is None else _agent(row)

    async def list_agents(self, office_id: str) -> list[AgentAccount]:
        def run(conn: sqlite3.Connection) -> list[AgentAccount]:
            now = utcnow().isoformat()
            out = []
            for row in conn.execute(f"SELECT {_AGENT_COLS} FROM agents a WHERE a.office_id=? "
                                    "ORDER BY a.name, a.id", (office_id,)).fetchall():
                login = conn.execute(f"SELECT {_LOGIN_COLS} FROM agent_logins l "
                                     "WHERE l.agent_id=?", (row[0],)).fetchone()
                tokens = tuple(r[0][:12] for r in conn.execute(
                    "SELECT token_hash FROM agent_tokens WHERE agent_id=? "
                    "ORDER BY created_at DESC", (row[0],)))
                sessions = conn.execute(
                    "SELECT count(*) FROM web_sessions WHERE audience='agent' AND subject_id=? "
                    "AND expires_at > ?", (row[0], now)).fetchone()[0]
                out.append(AgentAccount(agent=_agent(row),
                                        login=_login(login) if login else None,
                                        tokens=tokens, sessions=int(sessions)))
            return out
        return await self.db.read(run)

    async def agent_login(self, agent_id: str) -> AgentLogin | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_LOGIN_COLS} FROM agent_logins l WHERE l.agent_id=?",
            (agent_id,)).fetchone())
        return None if row is None else _login(row)

    async def agent_by_email(self, email: str) -> tuple[Agent, AgentLogin] | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_AGENT_COLS}, {_LOGIN_COLS} FROM agent_logins l "
            "JOIN agents a ON a.id = l.agent_id WHERE l.email=?", (email,)).fetchone())
        return None if row is None else (_agent(row[:5]), _login(row[5:]))

    async def set_agent_login(self, agent_id: str, *, email: str | None = _UNSET,
                              password_hash: str | None = _UNSET, language: str | None = _UNSET,
                              timezone: str | None = _UNSET) -> AgentLogin:
        changes = {k: v for k, v in (("email", email), ("password_hash", password_hash),
                                     ("language", language), ("timezone", timezone))
                   if v is not _UNSET}

        def run(conn: sqlite3.Connection) -> AgentLogin:
            office = conn.execute("SELECT office_id FROM agents WHERE id=?",
                                  (agent_id,)).fetchone()
            if office is None:
                raise NotFound("no such agent")
            now = utcnow().isoformat()
            conn.execute("INSERT INTO agent_logins (agent_id, office_id, updated_at) "
                         "VALUES (?,?,?) ON CONFLICT (agent_id) DO NOTHING",
                         (agent_id, office[0], now))
            for column, value in changes.items():
                try:
                    conn.execute(f"UPDATE agent_logins SET {column}=?, updated_at=? "
                                 "WHERE agent_id=?", (value, now, agent_id))
                except sqlite3.IntegrityError:
                    raise Conflict("this e-mail address belongs to another agent") from None
            row = conn.execute(f"SELECT {_LOGIN_COLS} FROM agent_logins l WHERE l.agent_id=?",
                               (agent_id,)).fetchone()
            return _login(row)
        return await self.db.write(run)

    async def add_agent_token(self, agent_id: str, token_hash: str) -> str:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO agent_tokens VALUES (?,?,?)",
                             (token_hash, agent_id, utcnow().isoformat()))
            except sqlite3.IntegrityError:  # no such agent (or, never in practice, the
                raise NotFound("no such agent") from None  # same token twice)
        await self.db.write(run)
        return token_hash[:12]

    async def revoke_agent_token(self, office_id: str, token_id: str) -> bool:
        if len(token_id) < 12:
            return False

        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM agent_tokens WHERE substr(token_hash, 1, 12)=? AND agent_id IN "
                "(SELECT id FROM agents WHERE office_id=?)", (token_id[:12].lower(), office_id))
            if cur.rowcount > 0:
                add_event(conn, (office_id, REVOCATION_EVENT, None, None, None),
                          {"token_id": token_id[:12].lower()})
            return cur.rowcount > 0
        return await self.db.write(run)

    # ------------------------------------------------------------------ browser sessions
    async def create_web_session(self, session: WebSession) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO web_sessions (id_hash, audience, office_id, subject_id, csrf, "
                "created_at, expires_at, language) VALUES (?,?,?,?,?,?,?,?)",
                (session.id_hash, session.audience, session.office_id, session.subject_id,
                 session.csrf, _utc(session.created_at), _utc(session.expires_at),
                 session.language))
            conn.execute("DELETE FROM web_sessions WHERE expires_at < ?",
                         (_utc(session.created_at),))
        await self.db.write(run)

    async def get_web_session(self, id_hash: str, audience: Audience, now: datetime
                              ) -> WebSession | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_SESSION_COLS} FROM web_sessions s "
            "WHERE s.id_hash=? AND s.audience=? AND s.expires_at > ?",
            (id_hash, audience, _utc(now))).fetchone())
        return None if row is None else _session(row)

    async def agent_session(self, id_hash: str, now: datetime) -> AgentSession | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_SESSION_COLS}, {_AGENT_COLS}, o.id, o.name, o.region, o.created_at, "
            f"{_LOGIN_COLS} FROM web_sessions s "
            "JOIN agents a ON a.id = s.subject_id AND a.office_id = s.office_id "
            "JOIN offices o ON o.id = s.office_id "
            "LEFT JOIN agent_logins l ON l.agent_id = a.id "
            "WHERE s.id_hash=? AND s.audience='agent' AND s.expires_at > ?",
            (id_hash, _utc(now))).fetchone())
        if row is None:
            return None
        return AgentSession(record=_session(row[:8]), agent=_agent(row[8:13]),
                            office=office_from_row(row[13:17]),
                            login=_login(row[17:]) if row[17] is not None else None)

    async def extend_web_session(self, id_hash: str, expires_at: datetime) -> None:
        await self.db.write(lambda c: c.execute(
            "UPDATE web_sessions SET expires_at=? WHERE id_hash=?",
            (_utc(expires_at), id_hash)))

    async def delete_web_session(self, id_hash: str) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM web_sessions WHERE id_hash=?",
                                                (id_hash,)))

    async def set_web_session_language(self, id_hash: str, language: str) -> None:
        await self.db.write(lambda c: c.execute(
            "UPDATE web_sessions SET language=? WHERE id_hash=?", (language, id_hash)))

    async def revoke_web_sessions(self, office_id: str, audience: Audience,
                                  subject_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM web_sessions WHERE office_id=? AND audience=? AND subject_id=?",
                (office_id, audience, subject_id)).rowcount
        return await self.db.write(run)

    # ------------------------------------------------------------------ one-time codes
    async def add_login_code(self, code: LoginCode, code_hash: str, now: datetime) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM login_codes WHERE expires_at < ?",
                         (_utc(now),))
            conn.execute(
                "INSERT INTO login_codes (id, audience, office_id, subject_id, code_hash, "
                "next_path, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?)",
                (code.id, code.audience, code.office_id, code.subject_id, code_hash,
                 code.next_path, _utc(now), _utc(code.expires_at)))
        await self.db.write(run)

    async def count_login_codes(self, audience: Audience, subject_ids: Sequence[str],
                                since: datetime) -> int:
        if not subject_ids:
            return 0
        marks = ",".join("?" * len(subject_ids))
        row = await self.db.read(lambda c: c.execute(
            f"SELECT count(*) FROM login_codes WHERE audience=? AND subject_id IN ({marks}) "
            "AND created_at >= ?", (audience, *subject_ids, _utc(since))).fetchone())
        return int(row[0])

    # ------------------------------------------------------------------ attempt limits
    async def take_attempt(self, scope: str, key: str, now: datetime, since: datetime,
                           limit: int) -> bool:
        """Atomic across processes: the single writer's ``BEGIN IMMEDIATE`` holds the
        database's write lock from the count to the insert."""
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM sign_in_attempts WHERE at < ? OR (scope=? AND at < ?)",
                         (_utc(now - ATTEMPTS_KEPT), scope, _utc(since)))
            row = conn.execute("SELECT count(*) FROM sign_in_attempts WHERE scope=? AND key=? "
                               "AND at >= ?", (scope, key, _utc(since))).fetchone()
            if int(row[0]) >= limit:
                return False
            conn.execute("INSERT INTO sign_in_attempts (scope, key, at) VALUES (?,?,?)",
                         (scope, key, _utc(now)))
            return True
        return await self.db.write(run)

    async def count_attempts(self, scope: str, key: str, since: datetime) -> int:
        row = await self.db.read(lambda c: c.execute(
            "SELECT count(*) FROM sign_in_attempts WHERE scope=? AND key=? AND at >= ?",
            (scope, key, _utc(since))).fetchone())
        return int(row[0])

    async def forget_attempts(self, scope: str, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        marks = ",".join("?" * len(keys))
        return await self.db.write(lambda c: c.execute(
            f"DELETE FROM sign_in_attempts WHERE scope=? AND key IN ({marks})",
            (scope, *keys)).rowcount)

    async def use_login_code(self, code_id: str, code_hash: str, now: datetime,
                             max_attempts: int) -> LoginCode | None:
        def run(conn: sqlite3.Connection) -> LoginCode | None:
            row = conn.execute(
                "SELECT id, audience, office_id, subject_id, next_path, expires_at, code_hash, "
                "attempts FROM login_codes WHERE id=? AND used_at IS NULL AND expires_at > ?",
                (code_id, _utc(now))).fetchone()
            if row is None or row[7] >= max_attempts:
                return None
            if not hmac.compare_digest(row[6], code_hash):
                conn.execute("UPDATE login_codes SET attempts = attempts + 1 WHERE id=?",
                             (code_id,))
                return None
            conn.execute("UPDATE login_codes SET used_at=? WHERE id=?",
                         (_utc(now), code_id))
            return LoginCode(id=row[0], audience=row[1], office_id=row[2], subject_id=row[3],
                             next_path=row[4], expires_at=datetime.fromisoformat(row[5]))
        return await self.db.write(run)
