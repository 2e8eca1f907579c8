"""``timeline.repositories.ComponentReports`` on SQLite: the connectors' and workers' states
as the process running them last reported them. Part of ``SqliteInbound``; usable on its
own."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from timeline.repositories import COMPONENT_REPORTS_KEPT, ComponentReport
from timeline.sqlite_rows import SqliteRepository


class SqliteComponentReports(SqliteRepository):
    async def replace_component_reports(self, process: str, reports: Sequence[dict[str, Any]],
                                         at: datetime) -> None:
        rows = [(r["name"], process, json.dumps(r), at.isoformat()) for r in reports]
        forget = (at - COMPONENT_REPORTS_KEPT).isoformat()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM component_reports WHERE process=? OR reported_at < ?",
                         (process, forget))
            conn.executemany("INSERT INTO component_reports (name, process, report, "
                             "reported_at) VALUES (?,?,?,?)", rows)
        await self.db.write(run)

    async def component_reports(self) -> list[ComponentReport]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT name, process, report, reported_at FROM component_reports "
            "ORDER BY name, process").fetchall())
        return [ComponentReport(name=n, process=p, report=json.loads(r),
                                reported_at=datetime.fromisoformat(at))
                for n, p, r, at in rows]
