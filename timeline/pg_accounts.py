"""``timeline.accounts.AccountStore`` on PostgreSQL: agents' sign-in, browser sessions,
one-time sign-in codes (the embedded twin is ``timeline/sqlite_accounts.py``).

Expiry is compared as ``TIMESTAMPTZ``, so a ``now`` in any time zone means the same instant.
Where SQLite's single writer made a method atomic, PostgreSQL does it with row locks (each
method's docstring says how)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

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
from timeline.pg_events import add_event
from timeline.pg_rows import PgRepository, office_from_row, read_snapshot
from timeline.sql_tables import (
    agent_logins,
    agent_tokens,
    agents,
    login_codes,
    offices,
    sign_in_attempts,
    web_sessions,
)

_UNSET: Any = ...
_TOKEN_ID = 12
"""A token's id: the first hex digits of its SHA-256."""

_AGENT = sa.select(agents.c.id, agents.c.office_id, agents.c.name, agents.c.role,
                   agents.c.created_at)
_LOGIN_COLS = (agent_logins.c.agent_id, agent_logins.c.email, agent_logins.c.password_hash,
               agent_logins.c.language, agent_logins.c.timezone)
_LOGIN = sa.select(*_LOGIN_COLS)
_SESSION = sa.select(web_sessions.c.id_hash, web_sessions.c.audience, web_sessions.c.office_id,
                     web_sessions.c.subject_id, web_sessions.c.csrf, web_sessions.c.created_at,
                     web_sessions.c.expires_at, web_sessions.c.language)


_OFFICE_COLS = (offices.c.id, offices.c.name, offices.c.region, offices.c.created_at)
_AGENT_SESSION = (
    sa.select(*_SESSION.selected_columns, *_AGENT.selected_columns, *_OFFICE_COLS,
              *_LOGIN_COLS)
    .join_from(web_sessions, agents, sa.and_(agents.c.id == web_sessions.c.subject_id,
                                             agents.c.office_id == web_sessions.c.office_id))
    .join(offices, offices.c.id == web_sessions.c.office_id)
    .outerjoin(agent_logins, agent_logins.c.agent_id == agents.c.id)
    .where(web_sessions.c.id_hash == sa.bindparam("id_hash"),
           web_sessions.c.audience == "agent",
           web_sessions.c.expires_at > sa.bindparam("now")))
"""A console session with its agent, office and login: one statement (``agent_session``)."""
_AGENT_SESSION_PARTS = tuple(tuple(c.name for c in cols) for cols in (
    _SESSION.selected_columns, _AGENT.selected_columns, _OFFICE_COLS, _LOGIN_COLS))
"""The column names of each part of an ``_AGENT_SESSION`` row, in order."""


def _parts(row: Sequence[Any]) -> list[dict[str, Any]]:
    """An ``_AGENT_SESSION`` row as one mapping per part (their names overlap: ``id``)."""
    parts, start = [], 0
    for names in _AGENT_SESSION_PARTS:
        parts.append(dict(zip(names, row[start:start + len(names)], strict=True)))
        start += len(names)
    return parts


def _agent(row: Mapping[Any, Any]) -> Agent:
    return Agent(id=row["id"], office_id=row["office_id"], name=row["name"],
                 role=Role(row["role"]), created_at=row["created_at"])


def _login(row: Mapping[Any, Any]) -> AgentLogin:
    return AgentLogin(agent_id=row["agent_id"], email=row["email"],
                      password_hash=row["password_hash"], language=row["language"],
                      timezone=row["timezone"])


def _session(row: Mapping[Any, Any]) -> WebSession:
    return WebSession(id_hash=row["id_hash"], audience=row["audience"],
                      office_id=row["office_id"], subject_id=row["subject_id"],
                      csrf=row["csrf"], created_at=row["created_at"],
                      expires_at=row["expires_at"], language=row["language"])


class PgAccounts(PgRepository):
    async def get_agent(self, office_id: str, agent_id: str) -> Agent | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(_AGENT.where(
                agents.c.id == agent_id, agents.c.office_id == office_id))).mappings().first()
        return None if row is None else _agent(row)

    async def list_agents(self, office_id: str) -> list[AgentAccount]:
        """The office's agents by name, each with its login, token ids (newest first) and
        the number of unexpired console sessions (against the real clock)."""
        now = utcnow()
        async with read_snapshot(self.db) as conn:
            rows = (await conn.execute(_AGENT.where(agents.c.office_id == office_id)
                                       .order_by(agents.c.name, agents.c.id))).mappings().all()
            ids = [r["id"] for r in rows]
            logins = {r["agent_id"]: _login(r) for r in (await conn.execute(
                _LOGIN.where(agent_logins.c.agent_id.in_(ids)))).mappings()}
            tokens: dict[str, list[str]] = {}
            for agent_id, token_hash in await conn.execute(
                    sa.select(agent_tokens.c.agent_id, agent_tokens.c.token_hash)
                    .where(agent_tokens.c.agent_id.in_(ids))
                    .order_by(agent_tokens.c.created_at.desc())):
                tokens.setdefault(agent_id, []).append(token_hash[:_TOKEN_ID])
            sessions: dict[str, int] = {
                subject: int(n) for subject, n in await conn.execute(
                    sa.select(web_sessions.c.subject_id, sa.func.count())
                    .where(web_sessions.c.audience == "agent",
                           web_sessions.c.subject_id.in_(ids), web_sessions.c.expires_at > now)
                    .group_by(web_sessions.c.subject_id))}
        return [AgentAccount(agent=_agent(r), login=logins.get(r["id"]),
                             tokens=tuple(tokens.get(r["id"], ())),
                             sessions=sessions.get(r["id"], 0)) for r in rows]

    async def agent_login(self, agent_id: str) -> AgentLogin | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(
                _LOGIN.where(agent_logins.c.agent_id == agent_id))).mappings().first()
        return None if row is None else _login(row)

    async def agent_by_email(self, email: str) -> tuple[Agent, AgentLogin] | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(
                sa.select(*_AGENT.selected_columns, *_LOGIN_COLS)
                .join_from(agent_logins, agents, agents.c.id == agent_logins.c.agent_id)
                .where(agent_logins.c.email == email))).mappings().first()
        return None if row is None else (_agent(row), _login(row))

    async def set_agent_login(self, agent_id: str, *, email: str | None = _UNSET,
                              password_hash: str | None = _UNSET, language: str | None = _UNSET,
                              timezone: str | None = _UNSET) -> AgentLogin:
        """One transaction: the agent row is share-locked (it cannot vanish meanwhile), the
        login row created if missing and changed in one ``UPDATE``; the unique e-mail
        constraint decides between two agents claiming one address at once (``Conflict``
        for the later one, whose transaction changes nothing)."""
        changes = {k: v for k, v in (("email", email), ("password_hash", password_hash),
                                     ("language", language), ("timezone", timezone))
                   if v is not _UNSET}
        async with self.db.begin() as conn:
            office_id = await conn.scalar(sa.select(agents.c.office_id)
                                          .where(agents.c.id == agent_id).with_for_update(
                                              read=True, key_share=True))
            if office_id is None:
                raise NotFound("no such agent")
            now = utcnow()
            await conn.execute(pg_insert(agent_logins).values(
                agent_id=agent_id, office_id=office_id, updated_at=now
            ).on_conflict_do_nothing(index_elements=[agent_logins.c.agent_id]))
            try:
                row = (await conn.execute(
                    sa.update(agent_logins).where(agent_logins.c.agent_id == agent_id)
                    .values(updated_at=now, **changes).returning(*_LOGIN_COLS))).mappings().one()
            except IntegrityError:
                raise Conflict("this e-mail address belongs to another agent") from None
        return _login(row)

    async def add_agent_token(self, agent_id: str, token_hash: str) -> str:
        try:
            async with self.db.begin() as conn:
                await conn.execute(sa.insert(agent_tokens).values(
                    token_hash=token_hash, agent_id=agent_id, created_at=utcnow()))
        except IntegrityError:  # no such agent (or, never in practice, the same token twice)
            raise NotFound("no such agent") from None
        return token_hash[:_TOKEN_ID]

    async def revoke_agent_token(self, office_id: str, token_id: str) -> bool:
        if len(token_id) < _TOKEN_ID:
            return False
        token_id = token_id[:_TOKEN_ID].lower()
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(agent_tokens).where(
                sa.func.substr(agent_tokens.c.token_hash, 1, _TOKEN_ID) == token_id,
                agent_tokens.c.agent_id.in_(
                    sa.select(agents.c.id).where(agents.c.office_id == office_id))))
            if result.rowcount > 0:
                await add_event(conn, (office_id, REVOCATION_EVENT, None, None, None),
                                {"token_id": token_id})
        return result.rowcount > 0

    # ------------------------------------------------------------------ browser sessions
    async def create_web_session(self, session: WebSession) -> None:
        """Store the session and drop the sessions expired before it was created."""
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(web_sessions).values(
                id_hash=session.id_hash, audience=session.audience,
                office_id=session.office_id, subject_id=session.subject_id, csrf=session.csrf,
                created_at=session.created_at, expires_at=session.expires_at,
                language=session.language))
            await conn.execute(sa.delete(web_sessions).where(
                web_sessions.c.expires_at < session.created_at))

    async def get_web_session(self, id_hash: str, audience: Audience, now: datetime
                              ) -> WebSession | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(_SESSION.where(
                web_sessions.c.id_hash == id_hash, web_sessions.c.audience == audience,
                web_sessions.c.expires_at > now))).mappings().first()
        return None if row is None else _session(row)

    async def agent_session(self, id_hash: str, now: datetime) -> AgentSession | None:
        async with self.db.statement() as conn:
            row = (await conn.execute(_AGENT_SESSION, {
                "id_hash": id_hash, "now": now})).first()
        if row is None:
            return None
        session, agent, office, login = _parts(row)
        return AgentSession(record=_session(session), agent=_agent(agent),
                            office=office_from_row(office),
                            login=_login(login) if login["agent_id"] is not None else None)

    async def extend_web_session(self, id_hash: str, expires_at: datetime) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.update(web_sessions).where(web_sessions.c.id_hash == id_hash)
                               .values(expires_at=expires_at))

    async def delete_web_session(self, id_hash: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    async def set_web_session_language(self, id_hash: str, language: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.update(web_sessions).where(web_sessions.c.id_hash == id_hash)
                               .values(language=language))

    async def revoke_web_sessions(self, office_id: str, audience: Audience,
                                  subject_id: str) -> int:
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(web_sessions).where(
                web_sessions.c.office_id == office_id, web_sessions.c.audience == audience,
                web_sessions.c.subject_id == subject_id))
        return int(result.rowcount)

    # ------------------------------------------------------------------ one-time codes
    async def add_login_code(self, code: LoginCode, code_hash: str, now: datetime) -> None:
        """Store the code and drop the codes expired by ``now``."""
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(login_codes).where(login_codes.c.expires_at < now))
            await conn.execute(sa.insert(login_codes).values(
                id=code.id, audience=code.audience, office_id=code.office_id,
                subject_id=code.subject_id, code_hash=code_hash, next_path=code.next_path,
                created_at=now, expires_at=code.expires_at))

    async def count_login_codes(self, audience: Audience, subject_ids: Sequence[str],
                                since: datetime) -> int:
        if not subject_ids:
            return 0
        async with self.db.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(login_codes).where(
                login_codes.c.audience == audience,
                login_codes.c.subject_id.in_(list(subject_ids)),
                login_codes.c.created_at >= since))
        return int(count or 0)

    # ------------------------------------------------------------------ attempt limits
    async def take_attempt(self, scope: str, key: str, now: datetime, since: datetime,
                           limit: int) -> bool:
        """Atomic across processes: a transaction-scoped advisory lock on the scope and key
        holds a second attempt at the same key from its count until the first's insert is
        committed."""
        t = sign_in_attempts.c
        async with self.db.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.func.hashtext("sign_in_attempts:" + scope), sa.func.hashtext(key))))
            await conn.execute(sa.delete(sign_in_attempts).where(sa.or_(
                t.at < now - ATTEMPTS_KEPT, sa.and_(t.scope == scope, t.at < since))))
            count = await conn.scalar(sa.select(sa.func.count()).select_from(sign_in_attempts)
                                      .where(t.scope == scope, t.key == key, t.at >= since))
            if int(count or 0) >= limit:
                return False
            await conn.execute(sa.insert(sign_in_attempts).values(scope=scope, key=key, at=now))
        return True

    async def count_attempts(self, scope: str, key: str, since: datetime) -> int:
        t = sign_in_attempts.c
        async with self.db.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(sign_in_attempts)
                                      .where(t.scope == scope, t.key == key, t.at >= since))
        return int(count or 0)

    async def forget_attempts(self, scope: str, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        async with self.db.begin() as conn:
            result = await conn.execute(sa.delete(sign_in_attempts).where(
                sign_in_attempts.c.scope == scope, sign_in_attempts.c.key.in_(list(keys))))
        return int(result.rowcount)

    async def use_login_code(self, code_id: str, code_hash: str, now: datetime,
                             max_attempts: int) -> LoginCode | None:
        """The code row is read ``FOR UPDATE``: a second redeemer (another process) waits
        for the first one's transaction and then re-reads the row, which no longer matches
        ``used_at IS NULL`` once the first has spent it -- so a code is spent once, and
        wrong guesses are counted one after another (never more than ``max_attempts``)."""
        async with self.db.begin() as conn:
            row = (await conn.execute(
                sa.select(login_codes.c.id, login_codes.c.audience, login_codes.c.office_id,
                          login_codes.c.subject_id, login_codes.c.next_path,
                          login_codes.c.expires_at, login_codes.c.code_hash,
                          login_codes.c.attempts)
                .where(login_codes.c.id == code_id, login_codes.c.used_at.is_(None),
                       login_codes.c.expires_at > now)
                .with_for_update())).mappings().first()
            if row is None or row["attempts"] >= max_attempts:
                return None
            if not hmac.compare_digest(row["code_hash"], code_hash):
                await conn.execute(sa.update(login_codes).where(login_codes.c.id == code_id)
                                   .values(attempts=login_codes.c.attempts + 1))
                return None
            await conn.execute(sa.update(login_codes).where(login_codes.c.id == code_id)
                               .values(used_at=now))
        return LoginCode(id=row["id"], audience=row["audience"], office_id=row["office_id"],
                         subject_id=row["subject_id"], next_path=row["next_path"],
                         expires_at=row["expires_at"])
