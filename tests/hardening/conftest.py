"""The console fixtures of ``tests/web`` (pages are checked here too)."""

from tests.web.conftest import console, make_console

__all__ = ["console", "make_console"]
