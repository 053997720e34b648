"""`envbot serve`'s drain after SIGTERM, in order: the ack journal's last records reach the
listener pool before the pool finishes, so a command acked in the last moment runs here, not a
lease later on another replica."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from bot.shutdown import drain
from bot.wiring import Runtime


def test_the_journal_is_drained_into_the_pool_before_the_pool_finishes() -> None:
    # setup: a runtime whose parts say when they are stopped
    said: list[str] = []

    def step(name: str) -> Any:
        return lambda *args, **kwargs: said.append(name)

    runtime = SimpleNamespace(
        app=SimpleNamespace(intake=SimpleNamespace(close=step("journal drained"))),
        listeners=SimpleNamespace(shutdown=step("pool finished")),
        drain=SimpleNamespace(stop_lingering=step("outbox drain stopped")),
        jobs=SimpleNamespace(stop=step("jobs stopped"), run_woken=step("jobs ran once more")),
        close=step("released"),
    )
    scheduler = SimpleNamespace(shutdown=step("scheduler stopped"))

    # execution
    drain(cast(Runtime, runtime), scheduler, step("stopped receiving"), delay=0)

    # validating
    assert said == [
        "stopped receiving",
        "journal drained",
        "pool finished",
        "outbox drain stopped",
        "scheduler stopped",
        "jobs stopped",
        "jobs ran once more",
        "released",
    ]
