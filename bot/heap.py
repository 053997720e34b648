"""The garbage collector set up for serving: what start-up built is kept out of full collections.

A full (generation 2) collection walks every tracked object while holding the GIL, so every
thread stops for it: with the libraries, the policy and the runtime loaded that took 60-140 ms
on the project's machine, and one falling inside a burst of acks was the burst's p99 (every
ack in flight waited for it; docs/PERFORMANCE.md, P1). Start-up's objects live as long as the
process, so `gc.freeze()` moves them to the permanent generation, which collections skip;
what the process allocates afterwards is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left; the number of objects frozen. Call once, when
    start-up is done (never in tests that build many runtimes: frozen cycles are not freed)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
