"""The notifier fixtures of ``tests/notify`` (a real SMTP sink and a hub that sends to it)."""

from tests.notify.conftest import nhub, notify_env, smtp_sink

__all__ = ["nhub", "notify_env", "smtp_sink"]
