"""Answers kept while the store is unchanged: a caller lookup asked again (the same number
ringing at a second desk, a PBX asking once more as the call is put through, a CRM's
screen-pop) is answered without reading the store, as long as nothing it could show was
written since -- by this process or any other (``Store.change_token``: on SQLite a count
that triggers raise with every change of customers, identities and entries). One such
write anywhere drops every answer kept; a store that cannot tell (PostgreSQL) keeps none."""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

MAX_ANSWERS = 4096
MAX_BYTES = 16 * 1024 * 1024
MAX_ANSWER = 256 * 1024
"""An answer bigger than this is not kept (a caller with ten long e-mails)."""


class Answer(NamedTuple):
    body: bytes
    etag: str
    """Its ``ETag`` (``chronik.api.render.etag_of``), made once."""


class Answers:
    """Answer bytes by key, valid under one store change token. Per process, bounded by
    count and bytes (oldest out first); nothing outlives a change for long: the first
    ``get`` or ``hold`` after a write forgets every answer, an erased person's too."""

    def __init__(self, max_answers: int = MAX_ANSWERS, max_bytes: int = MAX_BYTES,
                 max_answer: int = MAX_ANSWER) -> None:
        self.max_answers = max_answers
        self.max_bytes = max_bytes
        self.max_answer = max_answer
        self._token: object | None = None
        self._answers: dict[Hashable, Answer] = {}
        self._bytes = 0

    def get(self, token: object | None, key: Hashable) -> Answer | None:
        """The answer kept for ``key`` if the store is unchanged since (``token``, taken
        now); a changed token forgets every answer."""
        if not self.hold(token):
            return None
        return self._answers.get(key)

    def hold(self, token: object | None) -> bool:
        """Whether the answers kept still hold under ``token`` (taken now); if not, they
        are forgotten (``chronik.app.forget_stale_answers`` asks now and then, so an
        erased person's answer leaves memory without waiting for the next lookup)."""
        if token is not None and token == self._token:
            return True
        self.clear()
        self._token = token
        return False

    def put(self, before: object | None, after: object | None, key: Hashable,
            answer: Answer) -> None:
        """Keep ``answer``, read between taking ``before`` and ``after``; only if nothing
        changed meanwhile (equal tokens), so the answer is what the store holds."""
        body = answer.body
        if before is None or before != after or len(body) > self.max_answer:
            return
        self.hold(after)  # a newer token than the answers kept: they go
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        while self._answers and (len(self._answers) >= self.max_answers
                                 or self._bytes + len(body) > self.max_bytes):
            self._bytes -= len(self._answers.pop(next(iter(self._answers))).body)
        self._answers[key] = answer
        self._bytes += len(body)

    def clear(self) -> None:
        self._answers.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._answers)
