"""Whether the process that started a piece of work (a rebuild) still runs, told from what it
wrote down when it started: its host name and process id."""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def started_here() -> dict[str, object]:
    """What a piece of work writes down about the process running it."""
    return {"host": HOST, "pid": os.getpid()}


def process_alive(host: object, pid: object) -> bool | None:
    """Does process ``pid`` of ``host`` still run? None when that cannot be told from here
    (another host). This process itself counts as not running it: it knows its own work,
    so a record naming its id is of an earlier process that had the same id (a restart in a
    container)."""
    if host != HOST or not isinstance(pid, int):
        return None
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
