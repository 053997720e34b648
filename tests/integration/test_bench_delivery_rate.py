"""bench/delivery_rate.py keeps working: its smoke run at small N prints every figure, with
nothing lost or doubled (no time is asserted; the figures are for docs/PERFORMANCE.md)."""

from __future__ import annotations

from tests.bench_run import run_bench


def test_delivery_rate_bench_smoke_run() -> None:
    # execution
    figures, out = run_bench("delivery_rate.py", "--small", timeout=300)

    # validating: every line is `name value unit`, each figure is there, none lost or doubled
    expected = {
        "floor",
        "measured",
        "ratio",
        "lost",
        "duplicated",
        "dm_time",
        "dm_lost",
        "dm_duplicated",
        "dm_conversations_open",
    }
    assert expected <= set(figures), out
    for name in ("lost", "duplicated", "dm_lost", "dm_duplicated", "dm_conversations_open"):
        assert figures[name][0] == 0, name
