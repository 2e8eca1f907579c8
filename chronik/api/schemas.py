"""Request and response bodies of the HTTP API (also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from timeline.models import (
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    IdentityKind,
    Visibility,
)
from timeline.policy import ENTRY_KINDS as POLICY_KINDS
from timeline.policy import KindPreset, PresetSource
from timeline.public import ATTACHMENT_PATH
from timeline.public import as_utc as utc


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class IdentityOut(BaseModel):
    kind: IdentityKind
    value: str
    raw: str | None = None
    undeliverable: bool = False


class CustomerOut(BaseModel):
    id: str
    name: str
    status: CustomerStatus
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(id=c.id, name=c.name, status=c.status,
                   identities=[IdentityOut(**i.model_dump()) for i in c.identities],
                   created_at=c.created_at, updated_at=c.updated_at)


class CustomerIn(_In):
    name: str = Field(min_length=1, max_length=300)
    emails: list[str] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=50)


class CustomerPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=300)
    status: Literal["active", "unverified"] | None = Field(None, description=(
        "'merged' is the state a merge leaves behind (POST /customers/{id}/merge), never "
        "set directly"))


class IdentityIn(_In):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=300)


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    index: int
    name: str
    content_type: str
    size: int
    sha256: str
    url: str


class PresetSourceOut(BaseModel):
    visibility: PresetSource
    notify: PresetSource


class EntryOut(BaseModel):
    id: str
    customer_id: str
    channel: Channel
    direction: Direction
    kind: str
    author: str | None
    visibility: Visibility
    notify: bool
    occurred_at: datetime
    recorded_at: datetime
    subject: str
    body: str
    html: str | None
    attachments: list[AttachmentOut]
    tags: list[str]
    source_id: str | None
    meta: dict[str, Any]

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        """From a stored entry (already valid): construct without re-validating."""
        return cls.model_construct(
            id=e.id, customer_id=e.customer_id, channel=e.channel, direction=e.direction,
            kind=e.kind, author=e.author, visibility=e.visibility, notify=e.notify,
            occurred_at=utc(e.occurred_at), recorded_at=utc(e.recorded_at), subject=e.subject,
            body=e.body, html=e.html,
            attachments=[AttachmentOut.model_construct(
                index=i, url=ATTACHMENT_PATH.format(entry_id=e.id, index=i), name=a.name,
                content_type=a.content_type, size=a.size, sha256=a.sha256)
                for i, a in enumerate(e.attachments)],
            tags=list(e.tags), source_id=e.source_id, meta=e.meta)


class EntryIn(_In):
    kind: str = Field(description="note, phone_note, document, or reply (a message to the "
                                  "customer on the channel in reply_via)",
                      json_schema_extra={"enum": ["note", "phone_note", "document", "reply"]})
    subject: str = Field("", max_length=1000)
    body: str = Field("", max_length=1_000_000)
    visibility: Visibility | None = Field(
        None, description="Omit to use the preset (agent, office, system default).")
    notify: bool | None = Field(
        None, description="Omit to use the preset; true implies published.")
    confirm: bool = Field(False, description="Publish despite a tone warning.")
    tags: list[str] = Field(default_factory=list, max_length=50)
    occurred_at: datetime | None = None
    call_entry_id: str | None = Field(
        None, max_length=100,
        description="phone_note only: the call entry (same customer) this note is about.")
    reply_via: Literal["email", "telegram", "portal"] | None = Field(
        None, description="reply only: the channel to answer on (the customer's other "
                          "channels are the fallback).")
    in_reply_to: str | None = Field(
        None, max_length=100, description="The entry (same customer) this one answers.")


class EntryCreated(EntryOut):
    preset_source: PresetSourceOut
    tone_confirmed: list[str] = Field(default_factory=list)


class TimelinePage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


_ENTRY_EXAMPLE: dict[str, Any] = {
    "id": "E01JQ2Z8K4V7M3N5P6R8S9T0W", "customer_id": "C01JQ2Y7H3G5F4D2S1A0Q9W8E",
    "channel": "email", "direction": "inbound", "kind": "email", "author": None,
    "visibility": "published", "notify": False, "occurred_at": "2025-03-01T09:12:00Z",
    "recorded_at": "2025-03-01T09:12:03.120000Z", "subject": "Kündigung Hausrat",
    "body": "Hiermit kündige ich meine Hausratversicherung HR-20391 zum 31.03.",
    "html": None, "attachments": [], "tags": [], "source_id": "<a1b2@kunde.example>",
    "meta": {}}
_CUSTOMER_EXAMPLE: dict[str, Any] = {
    "id": "C01JQ2Y7H3G5F4D2S1A0Q9W8E", "name": "Erika Mustermann", "status": "active",
    "identities": [{"kind": "phone", "value": "+491711234567", "raw": "0171 1234567",
                    "undeliverable": False}],
    "created_at": "2024-11-05T14:00:00Z", "updated_at": "2025-03-01T09:12:03.120000Z"}


class LookupMatch(BaseModel):
    customer: CustomerOut
    recent: list[EntryOut]


class LookupOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "normalised": "+491711234567",
        "matches": [{"customer": _CUSTOMER_EXAMPLE, "recent": [_ENTRY_EXAMPLE]}]}]})

    normalised: str | None
    matches: list[LookupMatch]


class WaitingItem(BaseModel):
    customer: CustomerOut
    message: EntryOut
    """Their newest message without an answer (``kind`` ``call`` for a missed call)."""


class WaitingOut(BaseModel):
    days: int
    total: int
    """Customers waiting in the period (up to 500), of which ``items`` are the first."""
    items: list[WaitingItem]


class SearchFile(BaseModel):
    index: int = Field(description="The attachment's index in entry.attachments")
    name: str
    url: str = Field(description="Where to download it")


class SearchItem(BaseModel):
    entry: EntryOut
    snippet: str = Field(description=(
        "HTML: about 24 words around the first hit, the hits (other word forms too) in "
        "<mark>…</mark>, everything else HTML-escaped (show it as HTML, not as text)"))
    score: float | None = Field(description=(
        "order=relevance: the BM25 rank within its group (higher is better; comparable "
        "only within one search); order=newest: null"))
    attachment: SearchFile | None = Field(description=(
        "The attached file the snippet is from, when the words were found in its contents "
        "rather than in the entry's own text; else null"))


class SearchSuggestion(BaseModel):
    q: str = Field(description="A corrected query built from words of the office's own "
                               "entries")
    href: str = Field(description="The same search with q replaced: one GET away")


class SearchTotal(BaseModel):
    count: int = Field(description="The number of hits on all pages; when exact is false, "
                                   "there are more than this")
    exact: bool


class SearchPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"entry": _ENTRY_EXAMPLE, "score": None, "attachment": None,
                   "snippet": "Hiermit kündige ich meine <mark>Hausratversicherung</mark> "
                              "HR-20391 zum 31.03."}],
        "next_cursor": "1740820320000000", "suggestions": [],
        "total": {"count": 1, "exact": True}}]})

    items: list[SearchItem]
    next_cursor: str | None = Field(description="Pass it as cursor for the next page (with "
                                                "the same q, filters and order); null on "
                                                "the last page")
    suggestions: list[SearchSuggestion] = Field(description=(
        "\"Did you mean\": only when the query found nothing; each suggestion finds "
        "something"))
    total: SearchTotal | None = Field(None, description="Only with total=true")


class PresetIn(_In):
    visibility: Visibility | None = None
    notify: bool | None = None


class PolicyIn(RootModel[dict[str, PresetIn | None]]):
    """``{"<kind>": {"visibility": ..., "notify": ...} | null}``; null clears the kind."""

    model_config = ConfigDict(json_schema_extra={"propertyNames": {"enum": list(
        POLICY_KINDS)}})


class EffectiveOut(BaseModel):
    visibility: Visibility
    notify: bool
    source: PresetSourceOut


class PolicyOut(BaseModel):
    kinds: list[str]
    system: dict[str, KindPreset]
    office: dict[str, KindPreset]
    agent: dict[str, KindPreset]
    effective: dict[str, EffectiveOut]


class ToneWordsIn(_In):
    words: list[str] = Field(max_length=1000)


class ToneOut(BaseModel):
    shipped: list[str]
    office: list[str]
    hint: str


class ToneCheckIn(_In):
    text: str = Field(max_length=1_000_000)
    customer_id: str | None = Field(
        None, max_length=100, description="Also check what should not reach this customer "
                                          "(colleagues' names, internal addresses).")


class ToneHitOut(BaseModel):
    text: str
    pattern: str


class DisclosureHitOut(BaseModel):
    kind: str = Field(description="colleague, internal_address, internal_marker, iban, card")
    text: str


class ToneCheckOut(BaseModel):
    hits: list[ToneHitOut]
    disclosure: list[DisclosureHitOut] = Field(default_factory=list)
    hint: str


class OfficeOut(BaseModel):
    id: str
    name: str
    region: str
    created_at: datetime


class MeOut(BaseModel):
    agent_id: str
    name: str
    role: str
    office: OfficeOut


class HealthOut(BaseModel):
    status: str
    search_backend: str


class QuarantineOut(BaseModel):
    id: str
    channel: str
    reason: str
    origin: str
    size: int
    status: str
    raw_sha256: str
    created_at: datetime
    updated_at: datetime
    entry_id: str | None
    raw_url: str


class QuarantinePage(BaseModel):
    items: list[QuarantineOut]
    next_cursor: str | None


class ReprocessIn(_In):
    customer_id: str | None = Field(
        None, description="Assign to this customer (for unknown or unattributable senders).")


class EntryMoveIn(_In):
    customer_id: str = Field(min_length=1, max_length=100, description=(
        "Id of the customer of the same office the entry is really about"))


class MergeIn(_In):
    into: str = Field(description="Id of the customer that keeps everything")


class MergeOut(BaseModel):
    id: str
    source_id: str
    target_id: str
    entry_ids: list[str]
    identities: list[IdentityOut]
    created_at: datetime
    undone_at: datetime | None


class ComponentOut(BaseModel):
    name: str
    kind: str
    state: str = Field(description="starting, running, backoff, stopped; unknown when the "
                                   "process running it has not reported for 15 s")
    restarts: int
    last_error: str | None
    last_error_at: float | None
    next_attempt_in: float | None
    diagnostics: dict[str, Any]
    reported_by: str = Field(description="the process running it (host:pid)")
    reported_at: datetime = Field(description="when that process reported this state (every "
                                              "5 s; now when it runs in the answering process)")


class ComponentsOut(BaseModel):
    items: list[ComponentOut]


class OfficeDetailOut(OfficeOut):
    cti_url_path: str
    cti_token: str
    inbound_addresses: list[str]


class AddressIn(_In):
    address: str = Field(min_length=3, max_length=320)
