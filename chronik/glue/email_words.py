"""What ``chronik import``'s parser processes work out for the indexer of the storing process
(``search.prepared``): the searchable words of each mail's entry, read there instead of in
the one process that stores everything. Kept apart from ``chronik.glue.email`` so that a
parser process imports only what it needs for this."""

from __future__ import annotations

from pydantic import ValidationError

from connectors.email.inbound import to_inbound
from connectors.email.parse import ParsedMail
from search.prepared import Prepared, prepare


def prepare_mail(office_id: str, region: str, parsed: ParsedMail) -> Prepared | None:
    """The entry's words as the indexer will read them, for a mail without attachments (the
    text of attached files is read elsewhere); None where the entry's text cannot be known
    here. Built as ``timeline.ingest`` builds the entry (subject, text, the sender's name
    and address as ``search_text``); where it differs after all, the indexer reads the text
    itself."""
    if parsed.attachments:
        return None
    try:
        msg = to_inbound(office_id, parsed, source_id="import", content_sha256="")
    except ValidationError:
        return None  # quarantined by the storing process
    search_text = " ".join(p for p in (msg.sender_name, msg.sender) if p)
    return prepare(msg.subject[:1000], msg.body, search_text, region)
