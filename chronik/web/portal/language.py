"""Which language the portal speaks to a customer.

A customer's stored language (``Preferences.language``) is what notifications are written
in; it defaults to German for everyone. ``Preferences.language_chosen`` tells a choice from
that default: set when the customer picks a language (header switch, preferences) or an
agent changes it (an agent's form that merely kept it is no choice); a stored language
other than the default counts as chosen too (preferences saved before the flag existed).

The portal pages then follow, in this order: that choice; else the language the customer
signed in with (the sign-in page's switch, else the browser's ``Accept-Language`` among
ours, else the office default). It is decided once, at sign-in, and kept with the session
(``WebSession.language``); switching in the portal changes both the session and the stored
preference. Notifications keep using the stored language."""

from __future__ import annotations

from chronik.state import AppState
from chronik.web.i18n import LANGUAGES
from timeline.models import Customer, Preferences

DEFAULT = Preferences().language


async def chosen_language(state: AppState, customer: Customer) -> str | None:
    """The customer's stored language when it was chosen (see the module), else None."""
    prefs = await state.store.get_preferences(customer.office_id, customer.id)
    if (prefs.language_chosen or prefs.language != DEFAULT) and prefs.language in LANGUAGES:
        return prefs.language
    return None
