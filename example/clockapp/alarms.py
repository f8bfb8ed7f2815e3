"""Alarms, set from ISO 8601 times."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import timekit

if TYPE_CHECKING:
    import datetime as dt


@dataclasses.dataclass(frozen=True)
class Alarm:
    """An alarm that rings at a given time."""

    at: dt.datetime
    label: str = "alarm"

    def seconds_left(self, now: dt.datetime) -> int:
        """Whole seconds until the alarm rings, 0 once it has rung."""
        return max(0, int((self.at - now).total_seconds()))


def parse_alarm(text: str, label: str = "alarm") -> Alarm:
    """An alarm from an ISO 8601 time such as ``2024-05-01T07:30:00Z``."""
    return Alarm(at=timekit.parse_iso(text), label=label)
