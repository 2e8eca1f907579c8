"""Progress of long commands (``import``, ``reindex``, ``export``): a tqdm bar on standard
error when that is a terminal -- done/total where known, rate, ETA, and a note such as the
messages quarantined so far -- and nothing at all in a pipe, a file or CI. The bar is cleared
when it ends, so a command's output is its summary line, as without a terminal."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import TextIO

from tqdm import tqdm


def on_terminal(stream: TextIO) -> bool:
    """Whether to draw on ``stream``: a terminal, and not a CI run (``CI`` set)."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a real stream
        return False


def _sized(stream: TextIO) -> bool:
    """Whether the terminal tells its size (a pseudo-terminal nobody sized says 0 x 0: the
    bar then assumes 80 x 24)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False
    return size.columns > 0 and size.lines > 0


class Bar:
    """One progress bar (a context manager); all methods do nothing off a terminal."""

    def __init__(self, desc: str, *, total: int | None = None, unit: str = "it",
                 stream: TextIO | None = None) -> None:
        out = stream if stream is not None else sys.stderr
        shown = on_terminal(out)
        sized = shown and _sized(out)
        self._bar = tqdm(desc=desc, total=total, unit=unit, file=out, leave=False,
                         disable=not shown, dynamic_ncols=sized, ncols=None if sized else 80,
                         nrows=None if sized else 24, mininterval=0.2, smoothing=0.1)

    def set_total(self, total: int | None) -> None:
        if total != self._bar.total:
            self._bar.total = total
            self._bar.refresh()

    def advance(self, n: int) -> None:
        self._bar.update(n)

    def reach(self, done: int) -> None:
        """Set the count to ``done`` (never backwards)."""
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)

    def note(self, text: str) -> None:
        """Text shown after the rate (e.g. ``quarantined 3``)."""
        self._bar.set_postfix_str(text)  # drawn at once (called once per batch)

    def close(self) -> None:
        """Draw the last state (updates in between are drawn at most five times a second),
        then clear the line."""
        if not self._bar.disable:
            self._bar.refresh()
        self._bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
