"""Log privacy: what Chronik's processes log carries no personal data at INFO and above.

``install()`` (called by the app factory and by ``open_state``, so the server, the worker and
every CLI command get it) does three things, once per process:

* every log record — of any logger, whatever handler it reaches later — passes through
  :class:`RedactingFilter` as it is created (a record factory, so a handler added later, for
  example by a test, sees the redacted record too): e-mail addresses, phone-number-like digit
  runs and IP addresses in the message, its arguments and its traceback become short
  tags (``<email:3f2a1c>``; the same value gives the same tag, so one line can still be
  followed through the log, but 24 bits of a hash say nothing about the address itself);
* aiosmtpd's ``mail.log`` (every SMTP command with the sender and the peer's address at INFO)
  is raised to WARNING;
* secrets in URL paths (CTI and Telegram webhook tokens, sign-in and unsubscribe links)
  become ``***`` (:func:`redact_path`, also applied to every record, so an access log
  turned on by an operator is safe too).

Names and message text are simply never logged (a test greps a whole scenario's log for them).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A phone number: '+' or a leading 0 (national or 00 international form) and 7+ digits,
# grouped by spaces, '-', '/' or parentheses; or a bare run of 8+ digits (E.164 without '+',
# as PBXs send it). Never part of a longer word or id (ULIDs, UUIDs, hex digests), and not
# "200 1013" (an access log's status and size).
_PHONE = re.compile(r"(?<![\w+\-/.])(?:\+\d(?:[ \-/()]{0,2}\d){6,}|\(?0(?:[ \-/()]{0,2}\d){6,}"
                    r"|\d{8,})(?![\w\-/]|\.\d)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])")
_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")

_SECRET_PATHS = re.compile(
    r"(/api/v1/cti/|/api/v1/telegram/webhook/|/unsubscribe/|/signin/link/)[^/?#]+")


def _tag(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.casefold().encode("utf-8", "replace")).hexdigest()[:6]
    return f"<{kind}:{digest}>"


def redact(text: str) -> str:
    """``text`` with secret URL path segments, e-mail addresses, phone-number-like runs
    and IP addresses replaced."""
    text = redact_path(text)
    text = _EMAIL.sub(lambda m: _tag("email", m.group()), text)
    text = _IPV4.sub(lambda m: _tag("ip", m.group()), text)
    text = _IPV6.sub(_ipv6, text)
    return _PHONE.sub(_phone, text)


def _ipv6(match: re.Match[str]) -> str:
    value = match.group()  # "::1", "fe80::…" or eight groups; never a clock time "23:06:31"
    return _tag("ip", value) if "::" in value or value.count(":") == 7 else value


def _phone(match: re.Match[str]) -> str:
    value = match.group()
    if _ISO_DAY.match(value):  # "2026-12-04 23": a date, not a number
        return value
    return _tag("phone", re.sub(r"\D", "", value))


def redact_path(path: str) -> str:
    """A request path fit for the log: secret path segments become ``***``."""
    return _SECRET_PATHS.sub(r"\1***", path)


class RedactingFilter(logging.Filter):
    """Rewrites a record in place: message (with its arguments) and traceback redacted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "chronik_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.chronik_redacted = True
        return True


class OneLineFilter(logging.Filter):
    """A library's failed request as one line: its message and the error, without the 40
    lines of traceback the search engine clients attach to every failed attempt (while a
    search engine is away, that was the whole log). Our own code reports what failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({redact(f'{type(exc).__name__}: {exc}')})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


ONE_LINE_LOGGERS = ("opensearch", "elasticsearch", "elastic_transport")
"""Libraries whose failed requests are logged as one line (:class:`OneLineFilter`)."""

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Redact every record of this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()
        redactor = RedactingFilter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redactor.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        for name in ONE_LINE_LOGGERS:
            logging.getLogger(name).addFilter(OneLineFilter())
        _installed = True


QUIET_LOGGERS = ("alembic.runtime.plugins", "opensearch", "elastic_transport.transport")
"""Loggers whose INFO lines say nothing to an operator (Alembic lists seven plugins at every
start on PostgreSQL; the search engines' clients log every request that succeeded -- a line
per search and per indexed batch); their warnings still show. (``alembic.runtime.migration``
stays: it names the migrations it runs.)"""


def setup(level: str | int) -> None:
    """The processes' logging: a plain format on stderr, personal data redacted."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install()
