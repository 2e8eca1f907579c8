"""Passwords are hashed with argon2id at the product's own cost (the rest of the suite
hashes at the lowest cost, see ``FAST_PASSWORD_HASHER`` in tests/conftest.py)."""

from __future__ import annotations

import pytest

from chronik.web.admin.accounts import set_password
from tests.web.conftest import AGENT_EMAIL, Console

NEW_PASSWORD = "ein ganz neues Passwort"


@pytest.mark.usefixtures("real_password_hashing")
async def test_a_password_is_stored_at_full_argon2id_cost_and_signs_in(console: Console
                                                                       ) -> None:
    login = await set_password(console.state, console.agent.id, NEW_PASSWORD)
    assert login.password_hash is not None
    assert login.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    desk = await console.desk()
    assert (await desk.sign_in(AGENT_EMAIL, NEW_PASSWORD)).status == 303
    wrong = await (await console.desk()).sign_in(AGENT_EMAIL, "not the password at all")
    assert wrong.status != 303
    unknown = await (await console.desk()).sign_in("nobody@buero.test", NEW_PASSWORD)
    assert unknown.status == wrong.status
