from __future__ import annotations

import datetime as dt

from clockapp.alarms import Alarm, parse_alarm

UTC = dt.timezone.utc


def test_seconds_left() -> None:
    alarm = Alarm(at=dt.datetime(2024, 5, 1, 7, 30, tzinfo=UTC))
    assert alarm.seconds_left(dt.datetime(2024, 5, 1, 7, 0, tzinfo=UTC)) == 30 * 60
    assert alarm.seconds_left(dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)) == 0


def test_parse_alarm() -> None:
    # parse_alarm calls timekit.parse_iso, which timekit only has since 1.4, but
    # pyproject.toml declares timekit>=1.0: at the lower bound this test fails
    # with AttributeError.
    alarm = parse_alarm("2024-05-01T07:30:00Z", label="wake up")
    assert alarm.at == dt.datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert alarm.label == "wake up"
