"""Errors raised by the e-mail parsing layer.

Everything the parsing layer raises is a :class:`MailParseError`; callers quarantine the
raw message with ``reason`` and move on (architecture invariant 6: bad input gives a clear
error, never a crash and never silent loss).
"""

from __future__ import annotations


class MailParseError(Exception):
    """A message (or a message source) could not be turned into a ``ParsedMail``.

    ``reason`` is short and human-readable; it never contains message content.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageTooLarge(MailParseError):
    """The raw message is bigger than the configured limit; it was not parsed."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"message is {size} bytes, more than the limit of {max_bytes} bytes")
        self.size = size
        self.max_bytes = max_bytes


class SourceError(MailParseError):
    """A message source (file, folder, mbox, Maildir) is missing or not recognised."""


class ImapError(Exception):
    """The IMAP connector cannot go on with this connection; the supervisor retries."""


class ImapConnectionLost(ImapError):
    """Transient: the server went away, refused the connection or did not answer."""


class ImapAuthFailed(ImapError):
    """The server refused the login (wrong user name or password)."""


class ImapProtocolError(ImapError):
    """The server answered NO/BAD or something aioimaplib could not understand."""
