"""The notifier: published entries reach customers on their preferred channel.

Jobs are written by the store with their entry (one transaction), a ``Worker`` claims them
under a lease, evaluates preferences and consent at send time, renders, and hands the message
to a ``Transport`` (email, Telegram, portal inbox). Imports only ``timeline``."""
