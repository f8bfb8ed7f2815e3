"""The clock's background service: ticks in a green thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

import greenio
from greenio import util

if TYPE_CHECKING:
    from collections.abc import Callable


class ClockService:
    """Calls a callback once per tick, from a green thread."""

    def __init__(self, on_tick: Callable[[int], object]) -> None:
        self.on_tick = on_tick

    def run(self, ticks: int) -> list[object]:
        """Run ``ticks`` ticks and return what the callback returned for each."""
        util.wrap_threading_local_with_coroutine_local()
        thread = greenio.spawn(lambda: [self.on_tick(n) for n in range(ticks)])
        return thread.wait()
