"""Portal connector: customer portal sessions and the messages customers write there. The
HTTP routes live in ``chronik/api/portal.py``."""

from .messages import PortalFile, portal_message
from .sessions import PortalSession, issue_session, resolve_session
from .settings import PortalSettings

__all__ = [
    "PortalFile",
    "PortalSession",
    "PortalSettings",
    "issue_session",
    "portal_message",
    "resolve_session",
]
