"""Attachment bytes in PostgreSQL (the ``blobs`` table): with the PostgreSQL store every API
process and worker, on any machine, reads the bytes any other one wrote -- a data folder is
not shared. Content-addressed as on disk (``timeline/blobs.py``): the key is the SHA-256 of
the bytes, a second put of the same bytes stores nothing. Erasure deletes the row; PostgreSQL
then frees the space at the next (auto)vacuum. An S3-compatible object store was not chosen:
none can be fetched on the machines this was built on to test against, and one database to
back up is simpler for an office.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from timeline.models import utcnow
from timeline.pg_db import PgDb
from timeline.sql_tables import blobs


def text_key(sha256: str) -> str:
    """The row holding the text read from the file ``sha256``: a key of the same shape,
    derived from it (``blobs_in_use`` and erasure address files by their own digest)."""
    return hashlib.sha256(b"chronik-text:" + sha256.encode("ascii")).hexdigest()


def _keep_text(sha256: str, text: str) -> sa.Executable:
    """Keep ``text`` as the file's text -- only while the file is there, in one statement
    (an erasure deletes both)."""
    data = text.encode("utf-8", "surrogatepass")
    source = sa.select(sa.literal(text_key(sha256)), sa.literal(data, sa.LargeBinary),
                       sa.literal(len(data)), sa.literal(utcnow(), sa.DateTime(True))
                       ).where(blobs.c.sha256 == sha256)
    return insert(blobs).from_select(["sha256", "data", "size", "created_at"], source
                                     ).on_conflict_do_update(index_elements=[blobs.c.sha256],
                                                             set_={"data": data,
                                                                   "size": len(data)})


class PgBlobStore:
    def __init__(self, db: PgDb) -> None:
        self.db = db
        self.fsync_each = True
        """Kept for the ``Blobs`` protocol: every put is committed (durable) anyway."""

    async def put(self, data: bytes, text: str | None = None) -> str:
        digest = (hashlib.sha256(data).hexdigest() if len(data) < 1 << 20
                  else await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest()))
        async with self.db.begin() as conn:
            await conn.execute(insert(blobs).values(
                sha256=digest, data=data, size=len(data), created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=[blobs.c.sha256]))
            if text is not None:
                await conn.execute(_keep_text(digest, text))
        return digest

    async def get(self, sha256: str) -> bytes | None:
        async with self.db.connect() as conn:
            data = await conn.scalar(sa.select(blobs.c.data).where(blobs.c.sha256 == sha256))
        return None if data is None else bytes(data)

    async def delete(self, sha256: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(blobs).where(
                blobs.c.sha256.in_([sha256, text_key(sha256)])))

    async def put_text(self, sha256: str, text: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(_keep_text(sha256, text))
        async with self.db.begin() as conn:  # erased while it was written: not kept either
            if await conn.scalar(sa.select(blobs.c.sha256).where(
                    blobs.c.sha256 == sha256)) is None:
                await conn.execute(sa.delete(blobs).where(blobs.c.sha256 == text_key(sha256)))

    async def get_text(self, sha256: str) -> str | None:
        data = await self.get(text_key(sha256))
        return None if data is None else data.decode("utf-8", "replace")

    async def get_texts(self, sha256s: Sequence[str]) -> dict[str, str]:
        if not sha256s:
            return {}
        keys = {text_key(sha): sha for sha in sha256s}
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.select(blobs.c.sha256, blobs.c.data).where(
                blobs.c.sha256.in_(list(keys))))).all()
        return {keys[key]: bytes(data).decode("utf-8", "replace") for key, data in rows}

    async def sync(self) -> None:
        """Nothing to flush: each put was committed."""
