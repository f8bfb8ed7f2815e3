"""greenio 0.15.0: green threads in the spirit of eventlet (an example stand-in).

Here a "green thread" simply runs its function at once: only the API matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__version__ = "0.15.0"


class GreenThread:
    """The handle of a spawned function."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self._result = func(*args)

    def wait(self) -> Any:
        """The function's return value."""
        return self._result


def spawn(func: Callable[..., Any], *args: Any) -> GreenThread:
    """Run ``func(*args)`` in a green thread."""
    return GreenThread(func, *args)
