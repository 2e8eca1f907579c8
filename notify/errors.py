"""What a transport failure means for the worker — grouped by what it should do next."""

from __future__ import annotations


class TransportError(Exception):
    """Base: every foreign exception a transport meets is translated into one of these."""


class Transient(TransportError):
    """Try this channel again later (backoff, at least ``retry_after`` seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(TransportError):
    """This channel cannot reach this customer (refused address, blocked bot, no chat):
    fall back to the next preferred channel."""


class TooLarge(Permanent):
    """The channel refuses the message for its size (a mail server's size limit): the
    worker sends it once more with its files as portal links; a message that is too large
    even so falls back like any ``Permanent`` refusal."""


class Bug(TransportError):
    """Something we did not expect: dead-letter the job and log it loudly."""


class OutcomeUnknown(TransportError):
    """The request may or may not have reached the customer (a timeout or a dropped
    connection after the message was handed over): record the outcome as unknown and never
    resend automatically, as for a worker that stopped mid-send."""
