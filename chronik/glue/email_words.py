"""What ``chronik import``'s parser processes work out for the indexer of the storing process
(``search.prepared``): the searchable words of each mail's entry, read there instead of in
the one process that stores everything. Kept apart from ``chronik.glue.email`` so that a
parser process imports only what it needs for this."""

from __future__ import annotations

from connectors.email.inbound import sender_name
from connectors.email.parse import ParsedMail
from search.prepared import Prepared, prepare


def prepare_mail(region: str, parsed: ParsedMail) -> Prepared | None:
    """The entry's words as the indexer will read them, for a mail without attachments (the
    text of attached files is read elsewhere); None where the entry's text cannot be known
    here. Built as ``timeline.ingest`` builds the entry (subject, text, the sender's name
    and address as ``search_text``); where it differs after all, the indexer reads the text
    itself."""
    if parsed.attachments:
        return None
    # the fields as ``to_inbound`` hands them over (it validates, but changes none of them)
    search_text = " ".join(p for p in (sender_name(parsed), parsed.from_email) if p)
    return prepare(parsed.subject[:1000], parsed.text, search_text, region)
