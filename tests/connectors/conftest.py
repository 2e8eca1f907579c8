"""Fixtures of the Telegram connector's tests: the Bot API stand-in (``tg``) and a running
Chronik talking to it (``thub``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Hub
from tests.connectors.test_telegram import StandIn, telegram_hub


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StandIn]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with StandIn(webhook_retry_delay=0.05) as standin:
        yield standin


@pytest.fixture
async def thub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn
               ) -> AsyncIterator[Hub]:
    async with telegram_hub(tmp_path / "tg-data", monkeypatch, tg) as hub:
        yield hub
