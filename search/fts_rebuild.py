"""Who is rebuilding an FTS5 search index (``search.fts``): ``search_meta.rebuild`` names the
rebuild loading ``entry_fts_rebuild`` now -- its id, host, process and heartbeat. A rebuild
started later takes over (the earlier one finds another id at its next batch and stops
without swapping); an automatic one leaves a running one alone; one whose process is gone
is known as gone (this process's own rebuilds are known; on this host, whether the process
runs decides; from another host, the heartbeat's age).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from search.backend import RebuildSuperseded
from search.owners import process_alive, started_here

KEY = "rebuild"
"""``search_meta`` key: the rebuild loading ``entry_fts_rebuild`` now (JSON: id, host, pid,
heartbeat), deleted by its swap."""
REBUILD_STALE_SECONDS = 900.0
"""A rebuild of another host that has not finished a batch for this long is taken as gone
(on this host, whether its process still runs decides)."""
RUNNING: set[str] = set()
"""Ids of the rebuilds this process is running."""

def owner(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The rebuild named in ``search_meta`` (``{}``: unreadable), or None."""
    row = conn.execute("SELECT value FROM search_meta WHERE key=?", (KEY,)).fetchone()
    if row is None:
        return None
    try:
        named = json.loads(row[0])
    except ValueError:
        return {}
    return named if isinstance(named, dict) else {}


def claim(conn: sqlite3.Connection, me: str, *, still: bool = False) -> None:
    """Name rebuild ``me`` as the one loading now (its heartbeat); ``still``: first check
    that no later rebuild took over."""
    if still:
        found = owner(conn)
        if found is None or found.get("id") != me:
            raise RebuildSuperseded("another rebuild of the search index took over")
    conn.execute("INSERT OR REPLACE INTO search_meta (key, value) VALUES (?, ?)", (
        KEY, json.dumps({"id": me, **started_here(), "beat": time.time()})))


def running(named: dict[str, Any]) -> bool:
    """Is the rebuild ``named`` still loading? This process's own rebuilds are known; on
    this host its process must be alive (a crash leaves no heartbeat that could be
    trusted); from another host its heartbeat must be recent."""
    if named.get("id") in RUNNING:
        return True
    alive = process_alive(named.get("host"), named.get("pid"))
    if alive is not None:
        return alive
    beat = named.get("beat")
    return isinstance(beat, (int, float)) and time.time() - beat < REBUILD_STALE_SECONDS
