"""``timeline.repositories.ComponentReports`` on PostgreSQL. Part of ``PgInbound``; usable on
its own. Twin of ``timeline/sqlite_components.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from timeline.pg_rows import PgRepository
from timeline.repositories import COMPONENT_REPORTS_KEPT, ComponentReport
from timeline.sql_tables import component_reports


class PgComponentReports(PgRepository):
    async def replace_component_reports(self, process: str, reports: Sequence[dict[str, Any]],
                                         at: datetime) -> None:
        c = component_reports.c
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(component_reports).where(
                (c.process == process) | (c.reported_at < at - COMPONENT_REPORTS_KEPT)))
            if reports:
                await conn.execute(sa.insert(component_reports), [
                    {"name": r["name"], "process": process, "report": dict(r),
                     "reported_at": at} for r in reports])

    async def component_reports(self) -> list[ComponentReport]:
        c = component_reports.c
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(c.name, c.process, c.report, c.reported_at)
                .order_by(c.name, c.process))).all()
        return [ComponentReport(name=r.name, process=r.process, report=dict(r.report),
                                reported_at=r.reported_at) for r in rows]
