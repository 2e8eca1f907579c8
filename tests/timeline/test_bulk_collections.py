"""The garbage collector's pace for bulk work (``timeline.processes``): ``chronik import``
lets it run rarely and over what the import made, and leaves the process as it was."""

from __future__ import annotations

import gc

import pytest

from timeline.processes import BULK_COLLECT_AFTER, collecting_less


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_bulk_work_collects_rarely_and_the_process_is_as_before_afterwards() -> None:
    before = gc.get_threshold()
    assert before[0] < BULK_COLLECT_AFTER
    with collecting_less():
        assert gc.get_threshold()[0] == BULK_COLLECT_AFTER
        assert gc.get_freeze_count() > 0  # what existed before is out of the collector's way
        made = [_Cycle() for _ in range(1000)]
        del made
        assert gc.collect() >= 1000  # cycles made meanwhile are still found
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_process_is_as_before_after_a_failed_import() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collecting_less():
        raise RuntimeError("the source went away")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
