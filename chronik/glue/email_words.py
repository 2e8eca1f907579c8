"""What ``chronik import``'s parser processes work out for the indexer of the storing process
(``search.prepared``): the searchable words of each mail's entry, read there instead of in
the one process that stores everything. Kept apart from ``chronik.glue.email`` so that a
parser process imports only what it needs for this."""

from __future__ import annotations

from connectors.email.inbound import sender_name
from connectors.email.parse import ParsedMail
from search.prepared import Prepared, attachment_text, prepare
from timeline.filenames import safe_file_name


def prepare_mail(region: str, parsed: ParsedMail) -> Prepared:
    """The entry's words as the indexer will read them. Built as ``timeline.ingest`` builds
    the entry (subject, text, the files' safe names, the sender's name and address as
    ``search_text``) and as the indexer adds the files' text (read in the parser process
    already, with the indexer's size limit); where the entry differs after all, the indexer
    reads the text itself."""
    # the fields as ``to_inbound`` hands them over (it validates, but changes none of them)
    search_text = " ".join(p for p in (sender_name(parsed), parsed.from_email) if p)
    files = parsed.attachments
    return prepare(parsed.subject[:1000], parsed.text, search_text, region,
                   [safe_file_name(a.filename) for a in files],
                   attachment_text(a.text for a in files))
