"""The notifier: published entries reach customers on their preferred channel.

Jobs come from the store's notify outbox (written with the entry), a ``Worker`` claims them
under a lease, evaluates preferences and consent at send time, renders, and hands the message
to a ``Transport`` (email, Telegram, portal inbox). Imports only ``timeline``."""
