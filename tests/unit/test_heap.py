"""bot/heap.py: start-up's objects are moved out of the collector's generations (so a full
collection during a burst of acks walks only what was allocated since), and new objects are not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process builds many runtimes: leave nothing frozen


def test_start_up_objects_are_frozen_and_later_ones_are_not(unfrozen: None) -> None:
    # setup: an object of "start-up", tracked by the collector
    before: list[object] = [["built at start-up"]]
    assert gc.is_tracked(before)

    # execution
    frozen = freeze_startup_heap()
    after: list[object] = [["built while serving"]]

    # validating: the first is in the permanent generation, the second in a collected one
    assert frozen == gc.get_freeze_count() > 0
    assert not any(obj is before for obj in gc.get_objects())
    assert any(obj is after for obj in gc.get_objects())
