"""Domain errors. The HTTP layer maps each to one status; none of them is a bug."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    code = "invalid_input"


class NotFound(DomainError):
    code = "not_found"


class CustomerGone(NotFound):
    """An entry for a customer who is not (any more) in the office: erased meanwhile. The
    store writes nothing of the batch; ``details["customer_ids"]`` names them."""


class Conflict(DomainError):
    code = "conflict"


class StoreUnavailable(Exception):
    """The database server cannot be reached just now (connections refused or closed, a
    server starting up or shutting down, no connection slot free): nothing was read or
    written, and the same request may be repeated once it is back. Not a ``DomainError``:
    nothing about the request was wrong (ingest must not quarantine a message for it)."""

    code = "store_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToneWarning(DomainError):
    """A published entry uses wording the customer should not read; needs ``confirm``."""

    code = "tone_warning"


class DisclosureWarning(ToneWarning):
    """A published entry names colleagues, internal addresses or payment data, or says it is
    internal; needs ``confirm``."""

    code = "disclosure_warning"


class TooLarge(DomainError):
    code = "too_large"


class Forbidden(DomainError):
    code = "forbidden"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, outermost first (``__cause__``, else ``__context__``),
    each once: for questions about a driver's error that a library wrapped."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
