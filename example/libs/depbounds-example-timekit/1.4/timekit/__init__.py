"""timekit 1.4: clock arithmetic helpers (a stand-in library of the example)."""

from __future__ import annotations

import datetime as dt

__version__ = "1.4"

__all__ = ["format_hms", "humanize", "parse_iso", "to_seconds"]


def to_seconds(hours: int = 0, minutes: int = 0, seconds: int = 0) -> int:
    """The length of a duration given in parts, in seconds."""
    return hours * 3600 + minutes * 60 + seconds


def format_hms(seconds: float) -> str:
    """Format a duration as ``HH:MM:SS``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def humanize(seconds: float) -> str:
    """A duration for people: ``1h 5m``, ``45s``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or f"{seconds}s"


def parse_iso(text: str) -> dt.datetime:
    """Parse an ISO 8601 date and time, ``Z`` meaning UTC (new in 1.4)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return dt.datetime.fromisoformat(text)
