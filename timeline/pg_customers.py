"""``timeline.repositories.CustomerRepository`` on PostgreSQL: customers, their identities,
and merges (identities and entries of one customer moved to another, undoable). Behaves as
``timeline/sqlite_customers.py``.

Concurrency (many writers; SQLite's single writer serialised all of this for free):

* Every change to a customer (rename, status, identities, merge, undo) first locks the
  customer row(s) with ``SELECT … FOR UPDATE``, several in ascending id order so two such
  transactions never deadlock. Inserting an identity also takes ``FOR KEY SHARE`` on its
  customer row (the foreign key), so no identity can be added to a customer while it is
  being merged.
* Look-ups by identity use ``identities_lookup`` (office, kind, value); a customer's
  identities come through the ``(customer_id, kind, value)`` unique index; a name search
  uses the trigram index ``customers_name_fold`` (``pg_trgm``: ``LIKE 'word%'`` and
  ``LIKE '% word%'`` on ``name_fold``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.ids import new_ulid
from timeline.models import (
    Channel,
    Customer,
    CustomerStatus,
    Entry,
    Identity,
    IdentityKind,
    Merge,
    Page,
    RecentJson,
    utcnow,
)
from timeline.pg_db import Compiled
from timeline.pg_rows import PgRepository, entry_from_tuple
from timeline.public import recent_json
from timeline.repositories import CustomerListQuery
from timeline.sql_tables import (
    customer_tokens,
    customers,
    entries,
    identities,
    index_outbox,
    merges,
)
from timeline.text import fold

_IDENT_COLS = (identities.c.kind, identities.c.value, identities.c.raw,
               identities.c.undeliverable)
_MERGE = sa.select(merges.c.id, merges.c.office_id, merges.c.source_id, merges.c.target_id,
                   merges.c.entry_ids, merges.c.identities, merges.c.created_at,
                   merges.c.undone_at)


def _identity(kind: str, value: str, raw: str | None, undeliverable: bool) -> Identity:
    return Identity(kind=IdentityKind(kind), value=value, raw=raw,
                    undeliverable=undeliverable)


def _identity_values(office_id: str, customer_id: str, ident: Identity) -> dict[str, Any]:
    return {"office_id": office_id, "customer_id": customer_id, "kind": ident.kind.value,
            "value": ident.value, "raw": ident.raw, "undeliverable": ident.undeliverable}


def _merge(row: Sequence[Any]) -> Merge:
    return Merge(id=row[0], office_id=row[1], source_id=row[2], target_id=row[3],
                 entry_ids=tuple(row[4]),
                 identities=tuple(Identity(**i) for i in row[5]["moved"]),
                 shared_identities=tuple(Identity(**i) for i in row[5]["shared"]),
                 created_at=row[6], undone_at=row[7])


def _any(column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``column = ANY($1)``: one array parameter however many values (``IN`` binds one
    parameter each, and a statement may have at most 32767)."""
    return column == sa.any_(sa.bindparam(None, list(values),
                                          type_=postgresql.ARRAY(sa.Text)))


def _like_word(word: str) -> sa.ColumnElement[bool]:
    """``name_fold`` has a word starting with ``word`` (as SQLite: at the start or after a
    space)."""
    pattern = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(customers.c.name_fold.like(pattern + "%", escape="\\"),
                  customers.c.name_fold.like("% " + pattern + "%", escape="\\"))


async def _insert_identities(conn: AsyncConnection, office_id: str, customer_id: str,
                             idents: Iterable[Identity]) -> None:
    """As ``sqlite_rows.insert_identity``: an identity the customer has already is kept."""
    rows = [_identity_values(office_id, customer_id, i) for i in idents]
    if rows:
        await conn.execute(
            postgresql.insert(identities).on_conflict_do_nothing(
                index_elements=["customer_id", "kind", "value"]), rows)


_HAS = identities.alias("has")
"""A customer's own identities, joined to the customers being loaded."""
_COLUMNS = (customers.c.id, customers.c.office_id, customers.c.name, customers.c.status,
            customers.c.created_at, customers.c.updated_at, _HAS.c.kind, _HAS.c.value,
            _HAS.c.raw, _HAS.c.undeliverable)
_WITH_IDENTITIES = customers.outerjoin(_HAS, _HAS.c.customer_id == customers.c.id)


def _customers_from(rows: Iterable[Sequence[Any]], keyed: bool = False
                    ) -> list[tuple[str, Customer]]:
    """(key, customer) for rows of ``_COLUMNS`` (after a key column when ``keyed``) ordered
    by key, customer and identity: one customer per run of rows."""
    out: list[tuple[str, Customer]] = []
    current: tuple[Any, ...] | None = None
    idents: list[Identity] = []

    def flush() -> None:
        if current is not None:
            key, cid, office, name, status, created, updated = current
            out.append((key, Customer(
                id=cid, office_id=office, name=name, status=CustomerStatus(status),
                identities=tuple(idents), created_at=created, updated_at=updated)))

    for row in rows:
        head = (row[0], *row[int(keyed):int(keyed) + 6])
        if current is None or head[:2] != current[:2]:
            flush()
            current, idents = head, []
        kind, value, raw, undeliverable = row[int(keyed) + 6:]
        if kind is not None:  # no identities: one row of NULLs from the outer join
            idents.append(_identity(kind, value, raw, undeliverable))
    flush()
    return out


async def _load_customers(conn: AsyncConnection, office_id: str,
                          ids: Sequence[str] | sa.Select[Any]) -> dict[str, Customer]:
    """The office's customers among ``ids`` (a list or a subquery), with their identities:
    one statement, so one snapshot (a concurrent merge is seen entirely or not at all)."""
    if isinstance(ids, Sequence):
        if not ids:
            return {}
        ids = list(set(ids))
    rows = (await conn.execute(
        sa.select(*_COLUMNS).select_from(_WITH_IDENTITIES)
        .where(customers.c.office_id == office_id, customers.c.id.in_(ids))
        .order_by(customers.c.id, _HAS.c.id))).all()
    return dict(_customers_from(rows))


async def _load_customer(conn: AsyncConnection, office_id: str,
                         customer_id: str) -> Customer | None:
    return (await _load_customers(conn, office_id, [customer_id])).get(customer_id)


async def _lock_customers(conn: AsyncConnection, office_id: str,
                          ids: Sequence[str]) -> dict[str, str]:
    """Lock the office's customers among ``ids`` (``FOR UPDATE``, ascending id: no
    deadlocks) until the transaction ends; id -> status, as of after any writer that held
    the lock before."""
    rows = (await conn.execute(
        sa.select(customers.c.id, customers.c.status)
        .where(customers.c.office_id == office_id, customers.c.id.in_(list(ids)))
        .order_by(customers.c.id).with_for_update())).all()
    return {r[0]: r[1] for r in rows}


async def _by_identity(conn: AsyncConnection, office_id: str, kind: IdentityKind,
                       values: Sequence[str]) -> list[tuple[str, Customer]]:
    """(value, customer) for the office's customers with an identity ``kind`` among
    ``values`` (``identities_lookup``), ordered by value and customer; one statement."""
    lookup = identities.alias("lookup")
    rows = (await conn.execute(
        sa.select(lookup.c.value, *_COLUMNS)
        .select_from(lookup.join(customers, customers.c.id == lookup.c.customer_id)
                     .outerjoin(_HAS, _HAS.c.customer_id == customers.c.id))
        .where(lookup.c.office_id == office_id, lookup.c.kind == kind.value,
               _any(lookup.c.value, values), customers.c.office_id == office_id)
        .order_by(lookup.c.value, customers.c.id, _HAS.c.id))).all()
    return _customers_from(rows, keyed=True)


def _with_recent() -> sa.Select[Any]:
    """The office's customers with identity (``kind``, ``value``), each with its own
    identities (arrays, in id order) and, one row each, its ``recent`` newest entries
    (notifications left out; a customer without entries gets one row of NULLs). Built once
    with bound parameters (``office_id``, ``kind``, ``value``, ``recent``): building it
    costs more than running it."""
    office_id = sa.bindparam("office_id", type_=sa.Text)
    lookup = identities.alias("lookup")
    own = identities.alias("own")

    def in_order(column: sa.Column[Any], label: str) -> sa.Label[Any]:
        return sa.func.array_agg(postgresql.aggregate_order_by(column, own.c.id)).label(label)

    idents = (sa.select(in_order(own.c.kind, "kinds"), in_order(own.c.value, "ident_values"),
                        in_order(own.c.raw, "raws"),
                        in_order(own.c.undeliverable, "undeliverables"))
        .where(own.c.customer_id == customers.c.id).lateral("idents"))
    newest = (sa.select(*(c.label(f"e_{c.name}") for c in entries.c))
              .where(entries.c.customer_id == customers.c.id,
                     entries.c.office_id == office_id,
                     entries.c.channel != Channel.NOTIFICATION.value)
              .order_by(entries.c.seq.desc()).limit(sa.bindparam("recent", type_=sa.Integer))
              .lateral("newest"))
    return (sa.select(customers.c.id, customers.c.office_id, customers.c.name,
                      customers.c.status, customers.c.created_at, customers.c.updated_at,
                      idents, newest)
            .select_from(lookup.join(customers, customers.c.id == lookup.c.customer_id)
                         .outerjoin(idents, sa.true()).outerjoin(newest, sa.true()))
            .where(lookup.c.office_id == office_id,
                   lookup.c.kind == sa.bindparam("kind", type_=sa.Text),
                   lookup.c.value == sa.bindparam("value", type_=sa.Text),
                   customers.c.office_id == office_id)
            .order_by(customers.c.id, newest.c.e_seq.desc()))


_WITH_RECENT = Compiled(_with_recent())
_FIRST_ENTRY_COLUMN = len(_WITH_RECENT.statement.selected_columns) - len(entries.c)
"""Where the entry's columns start in a row of ``_WITH_RECENT`` (in ``entries``' order)."""


class PgCustomers(PgRepository):
    async def create_customer(
        self,
        office_id: str,
        name: str,
        identities: Sequence[Identity],
        status: CustomerStatus = CustomerStatus.ACTIVE,
    ) -> Customer:
        now = utcnow()
        customer = Customer(id=new_ulid(), office_id=office_id, name=name, status=status,
                            identities=tuple(identities), created_at=now, updated_at=now)
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(customers).values(
                id=customer.id, office_id=office_id, name=name, name_fold=fold(name),
                status=status.value, created_at=now, updated_at=now))
            await _insert_identities(conn, office_id, customer.id, customer.identities)
        return customer

    async def get_customer(self, office_id: str, customer_id: str) -> Customer | None:
        async with self.db.connect() as conn:
            return await _load_customer(conn, office_id, customer_id)

    async def update_customer(
        self, office_id: str, customer_id: str, *, name: str | None = None,
        status: CustomerStatus | None = None,
    ) -> Customer | None:
        values: dict[str, Any] = {}
        if name is not None:
            values.update(name=name, name_fold=fold(name))
        if status is not None:
            values["status"] = status.value
        async with self.db.begin() as conn:
            if not await _lock_customers(conn, office_id, [customer_id]):
                return None
            if values:
                await conn.execute(sa.update(customers).where(customers.c.id == customer_id)
                                   .values(**values, updated_at=utcnow()))
            return await _load_customer(conn, office_id, customer_id)

    async def list_customers(self, office_id: str, query: CustomerListQuery) -> Page:
        stmt = sa.select(customers.c.id).where(customers.c.office_id == office_id)
        if query.after_id:
            stmt = stmt.where(customers.c.id > query.after_id)
        if query.status:
            stmt = stmt.where(customers.c.status == query.status.value)
        if query.ids:
            stmt = stmt.where(customers.c.id.in_(list(query.ids)))
        if query.name:
            stmt = stmt.where(*(_like_word(word) for word in fold(query.name).split()))
        stmt = stmt.order_by(customers.c.id).limit(query.limit + 1)
        async with self.db.connect() as conn:
            found = await _load_customers(conn, office_id, stmt)
        page = [found[cid] for cid in sorted(found)]
        items = page[: query.limit]
        return Page(items=items,
                    next_cursor=items[-1].id if len(page) > query.limit else None)

    async def add_identity(
        self, office_id: str, customer_id: str, identity: Identity
    ) -> Customer | None:
        async with self.db.begin() as conn:
            if not await _lock_customers(conn, office_id, [customer_id]):
                return None
            await _insert_identities(conn, office_id, customer_id, [identity])
            await conn.execute(sa.update(customers).where(customers.c.id == customer_id)
                               .values(updated_at=utcnow()))
            return await _load_customer(conn, office_id, customer_id)

    async def remove_identity(
        self, office_id: str, customer_id: str, kind: IdentityKind, value: str
    ) -> Customer | None:
        async with self.db.begin() as conn:
            if not await _lock_customers(conn, office_id, [customer_id]):
                return None
            removed = (await conn.execute(
                sa.delete(identities).where(
                    identities.c.office_id == office_id,
                    identities.c.customer_id == customer_id,
                    identities.c.kind == kind.value, identities.c.value == value)
                .returning(identities.c.id))).first()
            if removed is None:
                return None
            await conn.execute(sa.update(customers).where(customers.c.id == customer_id)
                               .values(updated_at=utcnow()))
            return await _load_customer(conn, office_id, customer_id)

    async def find_customers(
        self, office_id: str, kind: IdentityKind, value: str
    ) -> list[Customer]:
        async with self.db.connect() as conn:
            return [c for _, c in await _by_identity(conn, office_id, kind, [value])]

    async def customers_with_recent(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[tuple[Customer, list[Entry]]]:
        """Customers with this identity and their newest entries: one statement (one
        snapshot, one round trip -- the caller's phone is ringing)."""
        rows = await self.db.fetch(_WITH_RECENT, office_id=office_id, kind=kind.value,
                                   value=value, recent=recent)
        out: list[tuple[Customer, list[Entry]]] = []
        for row in rows:
            if not out or out[-1][0].id != row["id"]:
                idents = tuple(_identity(k, v, r, u) for k, v, r, u in zip(
                    row["kinds"] or (), row["ident_values"] or (), row["raws"] or (),
                    row["undeliverables"] or (), strict=True))
                out.append((Customer(
                    id=row["id"], office_id=row["office_id"], name=row["name"],
                    status=CustomerStatus(row["status"]), identities=idents,
                    created_at=row["created_at"], updated_at=row["updated_at"]), []))
            if row["e_id"] is not None:
                out[-1][1].append(entry_from_tuple(row[_FIRST_ENTRY_COLUMN:]))
        return out

    async def customers_with_recent_json(
        self, office_id: str, kind: IdentityKind, value: str, recent: int
    ) -> list[RecentJson]:
        return [recent_json(customer, entries) for customer, entries in
                await self.customers_with_recent(office_id, kind, value, recent)]

    async def customers_by_identities(self, office_id: str, kind: IdentityKind,
                                      values: Sequence[str]) -> dict[str, list[Customer]]:
        """identity value -> the customers who have it (as ``find_customers``), for those
        that exist; one statement however many values."""
        wanted = list(dict.fromkeys(values))
        if not wanted:
            return {}
        async with self.db.connect() as conn:
            pairs = await _by_identity(conn, office_id, kind, wanted)
        found: dict[str, list[Customer]] = {}
        for value, customer in pairs:
            found.setdefault(value, []).append(customer)
        return found

    async def set_identity_undeliverable(self, office_id: str, kind: IdentityKind, value: str,
                                         undeliverable: bool) -> list[str]:
        """Mark every matching identity (one ``UPDATE … RETURNING``); returns the affected
        customer ids."""
        async with self.db.begin() as conn:
            ids = (await conn.scalars(
                sa.update(identities).where(
                    identities.c.office_id == office_id, identities.c.kind == kind.value,
                    identities.c.value == value)
                .values(undeliverable=undeliverable)
                .returning(identities.c.customer_id))).all()
        return sorted(ids)

    # ------------------------------------------------------------------ merges
    async def merge_customers(self, office_id: str, source_id: str, target_id: str) -> Merge:
        """Move identities and entries of ``source`` to ``target`` (one transaction);
        ``source`` stays behind with status ``merged`` so the merge can be undone.
        ``NotFound``: either customer is unknown; ``Conflict``: either was merged away.

        Atomic with concurrent writers: both customer rows are locked (``FOR UPDATE``,
        ascending id) before their status is checked, so of two merges or undos touching the
        same customer the second waits and then sees the first's outcome (a customer is
        never merged twice; A->B racing B->A: one of them is refused); identities cannot be
        added to either meanwhile (their foreign key needs the row). Entries move with one
        ``UPDATE … RETURNING``, and that statement's result is what the merge records: an
        entry appended to ``source`` concurrently is either committed before it and then
        moved, recorded and re-indexed with the rest, or committed after it and then stays
        on ``source`` (as an append after the merge on SQLite) -- never moved without being
        recorded, so ``undo_merge`` puts back exactly what moved and loses nothing.
        """
        if source_id == target_id:  # would empty the customer into itself
            raise InvalidInput("cannot merge a customer into itself")
        async with self.db.begin() as conn:
            status = await _lock_customers(conn, office_id, [source_id, target_id])
            for cid in (source_id, target_id):
                if cid not in status:
                    raise NotFound("no such customer")
                if status[cid] == CustomerStatus.MERGED.value:
                    raise Conflict(f"customer {cid} was already merged")
            moved_entries = sorted((await conn.execute(
                sa.update(entries).where(entries.c.customer_id == source_id,
                                         entries.c.office_id == office_id)
                .values(customer_id=target_id)
                .returning(entries.c.seq, entries.c.id))).all())
            on_target = sa.select(identities.c.kind, identities.c.value).where(
                identities.c.customer_id == target_id)
            moved = (await conn.execute(
                sa.update(identities).where(
                    identities.c.customer_id == source_id,
                    sa.tuple_(identities.c.kind, identities.c.value).not_in(on_target))
                .values(customer_id=target_id)
                .returning(identities.c.id, *_IDENT_COLS))).all()
            shared = (await conn.execute(
                sa.delete(identities).where(identities.c.customer_id == source_id)
                .returning(identities.c.id, *_IDENT_COLS))).all()
            # a Telegram link or portal token handed out for the duplicate is the person's
            await conn.execute(sa.update(customer_tokens).where(
                customer_tokens.c.customer_id == source_id).values(customer_id=target_id))
            if moved_entries:
                await conn.execute(sa.insert(index_outbox),
                                   [{"seq": seq} for seq, _ in moved_entries])
            now = utcnow()
            await conn.execute(sa.update(customers).where(customers.c.id == source_id).values(
                status=CustomerStatus.MERGED.value, merged_into=target_id, updated_at=now))
            merge = Merge(
                id=new_ulid(), office_id=office_id, source_id=source_id, target_id=target_id,
                entry_ids=tuple(entry_id for _, entry_id in moved_entries),
                identities=tuple(_identity(*r[1:]) for r in sorted(moved)),
                shared_identities=tuple(_identity(*r[1:]) for r in sorted(shared)),
                created_at=now)
            await conn.execute(sa.insert(merges).values(
                id=merge.id, office_id=office_id, source_id=source_id, target_id=target_id,
                entry_ids=list(merge.entry_ids),
                identities={"moved": [i.model_dump(mode="json") for i in merge.identities],
                            "shared": [i.model_dump(mode="json")
                                       for i in merge.shared_identities]},
                created_at=now))
        return merge

    async def undo_merge(self, office_id: str, merge_id: str) -> Merge:
        """``NotFound``: no such merge in the office; ``Conflict``: it was undone before.

        The merge row is read ``FOR UPDATE``: of two concurrent undos the second waits, then
        sees ``undone_at`` set and is refused. Both customers are locked as in
        ``merge_customers``."""
        async with self.db.begin() as conn:
            row = (await conn.execute(_MERGE.where(
                merges.c.id == merge_id, merges.c.office_id == office_id)
                .with_for_update())).first()
            if row is None:
                raise NotFound("no such merge")
            merge = _merge(row)
            if merge.undone_at is not None:
                raise Conflict("this merge was already undone")
            await _lock_customers(conn, office_id, [merge.source_id, merge.target_id])
            if merge.entry_ids:
                seqs = (await conn.scalars(
                    sa.update(entries).where(entries.c.office_id == office_id,
                                             entries.c.customer_id == merge.target_id,
                                             _any(entries.c.id, merge.entry_ids))
                    .values(customer_id=merge.source_id)
                    .returning(entries.c.seq))).all()
                if seqs:
                    await conn.execute(sa.insert(index_outbox),
                                       [{"seq": seq} for seq in sorted(seqs)])
            if merge.identities:
                await conn.execute(sa.delete(identities).where(
                    identities.c.customer_id == merge.target_id,
                    sa.tuple_(identities.c.kind, identities.c.value).in_(
                        [(i.kind.value, i.value) for i in merge.identities])))
            await _insert_identities(conn, office_id, merge.source_id,
                                     merge.identities + merge.shared_identities)
            now = utcnow()
            await conn.execute(sa.update(customers).where(customers.c.id == merge.source_id)
                               .values(status=CustomerStatus.ACTIVE.value, merged_into=None,
                                       updated_at=now))
            await conn.execute(sa.update(merges).where(merges.c.id == merge_id)
                               .values(undone_at=now))
        return merge.model_copy(update={"undone_at": now})

    async def get_merge(self, office_id: str, merge_id: str) -> Merge | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(_MERGE.where(
                merges.c.id == merge_id, merges.c.office_id == office_id))).first()
        return None if row is None else _merge(row)
