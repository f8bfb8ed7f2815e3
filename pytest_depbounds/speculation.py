"""Run a bound on its last pins while the resolver looks for new releases.

The upper bound is resolved again on every run (new releases appear), but a
resolution costs a network round trip per dependency. The session does not wait
for it: it starts in the env of the last pins, its events held back, and the
events are let through only once the new resolution gives the same pins.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import queue
    from collections.abc import Callable

Event = tuple[str, Any]
T = TypeVar("T")


class Gate:
    """Holds a bound's events back until its pins are confirmed."""

    def __init__(self, channel: queue.Queue[Event]) -> None:
        """:param channel: Where the events go once the gate opens."""
        self._channel = channel
        self._held: list[Event] = []
        self._open = False
        self._lock = threading.Lock()

    def put(self, event: Event) -> None:
        """Pass an event on, or hold it while the gate is closed.

        :param event: ``(kind, payload)``.
        """
        with self._lock:
            if self._open:
                self._channel.put(event)
            else:
                self._held.append(event)

    def open(self) -> None:
        """Let the held events through, in order, and every later one."""
        with self._lock:
            for event in self._held:
                self._channel.put(event)
            self._held.clear()
            self._open = True

    def discard(self) -> None:
        """Drop the held events: they came from pins that changed."""
        with self._lock:
            self._held.clear()


class AnyOf:
    """A stop signal set when any of its events is."""

    def __init__(self, *events: threading.Event) -> None:
        """:param events: The events watched."""
        self._events = events

    def is_set(self) -> bool:
        """:returns: Whether any of the events is set."""
        return any(event.is_set() for event in self._events)


class Check(Generic[T]):
    """A computation in a thread, whose result is compared with a guess."""

    def __init__(
        self,
        compute: Callable[[], T],
        guess: T,
        on_same: Callable[[], None],
        *,
        same: Callable[[T, T], bool],
    ) -> None:
        """Start computing.

        :param compute: What gives the true value (may raise).
        :param guess: The value the work already runs on.
        :param on_same: Called in the thread as soon as the value equals the guess.
        :param same: Whether two values are the same.
        """
        self._compute = compute
        self._guess = guess
        self._on_same = on_same
        self._same = same
        self._value: list[T] = []
        self._error: list[BaseException] = []
        #: Set as soon as the guess is known wrong (or the computation failed).
        self.wrong = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            value = self._compute()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error.append(exc)
            self.wrong.set()
            return
        self._value.append(value)
        if self._same(value, self._guess):
            self._on_same()
        else:
            self.wrong.set()

    def result(self) -> T:
        """Wait for the true value.

        :returns: It.
        :raises BaseException: What the computation raised.
        """
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._value[0]

    def confirmed(self) -> bool:
        """:returns: Whether the guess was right (waits for the computation)."""
        return self._same(self.result(), self._guess)
