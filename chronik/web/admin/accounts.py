"""Agent administration, shared by the admin pages and ``chronik agent …``: create an agent
(its API token is shown once and only its SHA-256 is kept), the sign-in address, the
password, API tokens, browser sessions and sign-in links. Everything is scoped to one
office: another office's agent is "not found"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chronik.api.base import hash_token, new_token
from chronik.state import AppState
from chronik.web.auth import hash_password
from chronik.web.outbox import Outbox
from chronik.web.signin import send_signin_link
from timeline.accounts import AgentAccount, AgentLogin
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.identity import normalise_email
from timeline.models import Agent, Role

MAX_NAME = 200


@dataclass(frozen=True)
class NewAgent:
    agent: Agent
    token: str
    """The API token in clear: shown once, never stored."""
    login: AgentLogin | None


async def free_address(state: AppState, raw: str, agent_id: str | None = None) -> str:
    """``raw`` as a sign-in address (normalised); ``Conflict`` when another agent has it."""
    address = normalise_email(raw)
    found = await state.store.agent_by_email(address)
    if found is not None and found[0].id != agent_id:
        raise Conflict("this e-mail address belongs to another agent")
    return address


async def create_agent(state: AppState, office_id: str, name: str, role: Role, *,
                       email: str | None = None, password: str | None = None) -> NewAgent:
    """A new agent with an API token and, optionally, a sign-in address and password.
    Everything is checked before anything is stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("the agent needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a name may have at most {MAX_NAME} characters")
    if await state.store.get_office(office_id) is None:
        raise NotFound("no such office")
    address = await free_address(state, email) if email and email.strip() else None
    password_hash = await _hash(password) if password is not None else None
    token = new_token()
    agent = await state.store.create_agent(office_id, name, role, hash_token(token))
    login = None
    changes: dict[str, Any] = {}
    if address is not None:
        changes["email"] = address
    if password_hash is not None:
        changes["password_hash"] = password_hash
    if changes:
        login = await state.store.set_agent_login(agent.id, **changes)
    return NewAgent(agent=agent, token=token, login=login)


async def office_agent(state: AppState, office_id: str, agent_id: str) -> Agent:
    agent = await state.store.get_agent(office_id, agent_id)
    if agent is None:
        raise NotFound("no such agent")
    return agent


async def agent_account(state: AppState, office_id: str, agent_id: str) -> AgentAccount:
    for account in await state.store.list_agents(office_id):
        if account.agent.id == agent_id:
            return account
    raise NotFound("no such agent")


async def set_email(state: AppState, office_id: str, agent_id: str, raw: str) -> AgentLogin:
    """Set (or, with an empty ``raw``, remove) the agent's sign-in address."""
    await office_agent(state, office_id, agent_id)
    address = await free_address(state, raw, agent_id) if raw.strip() else None
    return await state.store.set_agent_login(agent_id, email=address)


async def _hash(password: str) -> str:
    try:
        return await hash_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


async def set_password(state: AppState, agent_id: str, password: str) -> AgentLogin:
    """Set the agent's password (argon2id; at least ``MIN_PASSWORD`` characters)."""
    password_hash = await _hash(password)
    return await state.store.set_agent_login(agent_id, password_hash=password_hash)


async def new_api_token(state: AppState, office_id: str, agent_id: str) -> tuple[str, str]:
    """Another API token for the agent: (token, token id)."""
    await office_agent(state, office_id, agent_id)
    token = new_token()
    return token, await state.store.add_agent_token(agent_id, hash_token(token))


async def revoke_token(state: AppState, office_id: str, token_id: str) -> None:
    """Revoke one API token of the office; this process's token cache forgets every token
    at once, every other process's within moments (the store reports the revocation on its
    change feed: ``chronik.state.AppState.token_revoked``)."""
    token_id = token_id.strip().lower()
    if not await state.store.revoke_agent_token(office_id, token_id):
        raise NotFound("no such token")
    state.token_cache.clear()


async def end_sessions(state: AppState, office_id: str, agent_id: str) -> int:
    """Sign the agent out of every browser; returns how many sessions ended."""
    await office_agent(state, office_id, agent_id)
    return await state.store.revoke_web_sessions(office_id, "agent", agent_id)


async def send_link(state: AppState, outbox: Outbox, office_id: str, agent_id: str,
                    lang: str) -> str:
    """Mail the agent a one-time sign-in link (``sent``, ``rate_limited`` or ``failed``).
    The agent's own language wins over ``lang``."""
    agent = await office_agent(state, office_id, agent_id)
    login = await state.store.agent_login(agent_id)
    if login is None or not login.email:
        raise InvalidInput("this agent has no sign-in e-mail address")
    if not outbox.can_send("email"):
        raise InvalidInput("no mail server is configured (CHRONIK_SMTP_HOST)")
    return await send_signin_link(state, outbox, agent, login.email, login.language or lang)
