"""Sign-in for people (not integrations): agents' passwords and e-mail addresses, browser
sessions of agents and customers, one-time sign-in codes, and the attempts counted against
sign-in limits (so every process on the store shares the count). The narrow store protocol
the web layer receives (``AccountStore``); ``timeline.sqlite_accounts.SqliteAccounts``
implements it.

Nothing here stores an IP address or a user agent: a session is its hashed id, whose it is,
and when it expires; an attempt is a scope, a key the caller chose (a keyed hash of what
was typed) and a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from timeline.models import Agent, Office

Audience = Literal["agent", "portal"]

REVOCATION_EVENT = "token.revoked"
"""The change-feed row (``timeline.events``) a revoked API token writes, in the transaction
that revokes it: ``data["token_id"]`` (the first 12 hex digits of the token's SHA-256, as
``agent list`` shows it) names it, so every process following the feed forgets the token
from its cache at once."""

ATTEMPTS_KEPT = timedelta(days=1)
"""The longest window an attempt limit counts in: older attempts are forgotten."""
CUSTOMER_CODES = "portal.codes"
"""The scope of the portal's sign-in codes per customer and day: its keys are customer ids,
so erasing a customer forgets them."""


@dataclass(frozen=True)
class AgentLogin:
    agent_id: str
    email: str | None
    password_hash: str | None
    language: str | None
    timezone: str | None


@dataclass(frozen=True)
class AgentAccount:
    """One row of the admin's agent list."""

    agent: Agent
    login: AgentLogin | None
    tokens: tuple[str, ...]
    """Token ids (the first 12 hex digits of each token's SHA-256), newest first."""
    sessions: int
    """Open browser sessions."""


@dataclass(frozen=True)
class WebSession:
    id_hash: str
    audience: Audience
    office_id: str
    subject_id: str
    """The agent id (console) or the customer id (portal)."""
    csrf: str
    created_at: datetime
    expires_at: datetime
    language: str | None = None


@dataclass(frozen=True)
class AgentSession:
    """A live console session with what every console page and console API call needs
    (``AccountStore.agent_session``: one read instead of four)."""

    record: WebSession
    agent: Agent
    office: Office
    login: AgentLogin | None


@dataclass(frozen=True)
class LoginCode:
    id: str
    audience: Audience
    office_id: str
    subject_id: str
    next_path: str | None
    expires_at: datetime


class AccountStore(Protocol):
    async def get_agent(self, office_id: str, agent_id: str) -> Agent | None: ...
    async def list_agents(self, office_id: str) -> list[AgentAccount]: ...
    async def agent_login(self, agent_id: str) -> AgentLogin | None: ...
    async def agent_by_email(self, email: str) -> tuple[Agent, AgentLogin] | None: ...
    async def set_agent_login(self, agent_id: str, *, email: str | None = ...,
                              password_hash: str | None = ..., language: str | None = ...,
                              timezone: str | None = ...) -> AgentLogin:
        """Change the given fields (an omitted one stays). A taken e-mail address is
        ``Conflict``."""
        ...
    async def add_agent_token(self, agent_id: str, token_hash: str) -> str: ...
    async def revoke_agent_token(self, office_id: str, token_id: str) -> bool:
        """Delete the office's token named ``token_id``; with it, a :data:`REVOCATION_EVENT`
        feed row. False when there was none."""
        ...

    async def create_web_session(self, session: WebSession) -> None: ...
    async def get_web_session(self, id_hash: str, audience: Audience, now: datetime
                              ) -> WebSession | None:
        """The session if it exists and has not expired."""
        ...
    async def agent_session(self, id_hash: str, now: datetime) -> AgentSession | None:
        """The unexpired console session with its agent, office and sign-in settings, in
        one read; ``None`` also when the agent or office no longer exists."""
        ...
    async def extend_web_session(self, id_hash: str, expires_at: datetime) -> None: ...
    async def delete_web_session(self, id_hash: str) -> None: ...
    async def set_web_session_language(self, id_hash: str, language: str) -> None: ...
    async def revoke_web_sessions(self, office_id: str, audience: Audience,
                                  subject_id: str) -> int: ...

    async def add_login_code(self, code: LoginCode, code_hash: str, now: datetime) -> None: ...
    async def count_login_codes(self, audience: Audience, subject_ids: Sequence[str],
                                since: datetime) -> int:
        """Codes issued for these subjects since then (rate limiting)."""
        ...
    async def use_login_code(self, code_id: str, code_hash: str, now: datetime,
                             max_attempts: int) -> LoginCode | None:
        """Spend the code: the first right guess before it expires wins; each wrong guess
        counts, and after ``max_attempts`` the code is dead."""
        ...

    async def take_attempt(self, scope: str, key: str, now: datetime, since: datetime,
                           limit: int) -> bool:
        """Count one attempt at ``key`` (a sign-in, a code request) unless ``limit`` of the
        scope's attempts at it were counted since ``since``: True when this one was counted,
        False when it is over the limit. Attempts older than ``since`` are forgotten on the
        way (of the whole scope), and every attempt older than :data:`ATTEMPTS_KEPT`. One
        transaction, shared by every process on the store: attempts made at the same time
        never pass the limit together."""
        ...
    async def count_attempts(self, scope: str, key: str, since: datetime) -> int: ...
    async def forget_attempts(self, scope: str, keys: Sequence[str]) -> int:
        """Forget the scope's attempts at these keys (a sign-in that succeeded, an erased
        customer); how many there were."""
        ...
