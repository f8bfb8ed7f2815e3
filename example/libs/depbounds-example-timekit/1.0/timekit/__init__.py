"""timekit 1.0: clock arithmetic helpers (a stand-in library of the example)."""

from __future__ import annotations

__version__ = "1.0"

__all__ = ["format_hms", "to_seconds"]


def to_seconds(hours: int = 0, minutes: int = 0, seconds: int = 0) -> int:
    """The length of a duration given in parts, in seconds."""
    return hours * 3600 + minutes * 60 + seconds


def format_hms(seconds: float) -> str:
    """Format a duration as ``HH:MM:SS``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"
