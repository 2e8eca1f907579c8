"""E-mail connector: parsing layer (pure) and message sources (.eml, folders, mbox, Maildir)."""

from .classify import classify
from .errors import MailParseError, MessageTooLarge, SourceError
from .parse import ParsedAttachment, ParsedMail, parse_message
from .sources import RawMessage, iter_messages

__all__ = [
    "MailParseError",
    "MessageTooLarge",
    "ParsedAttachment",
    "ParsedMail",
    "RawMessage",
    "SourceError",
    "classify",
    "iter_messages",
    "parse_message",
]
