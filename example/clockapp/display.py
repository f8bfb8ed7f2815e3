"""What the clock shows: countdowns and elapsed times."""

from __future__ import annotations

import timekit


def countdown(hours: int = 0, minutes: int = 0, seconds: int = 0) -> str:
    """The text of a countdown, e.g. ``01:05:00``."""
    return timekit.format_hms(timekit.to_seconds(hours, minutes, seconds))


def elapsed(start: float, end: float) -> str:
    """The time between two timestamps, e.g. ``00:00:42``."""
    if end < start:
        msg = f"end ({end}) is before start ({start})"
        raise ValueError(msg)
    return timekit.format_hms(end - start)
