from __future__ import annotations

import pytest
from clockapp.display import countdown, elapsed


def test_countdown() -> None:
    assert countdown(hours=1, minutes=5) == "01:05:00"


def test_elapsed() -> None:
    assert elapsed(100.0, 142.5) == "00:00:42"
    with pytest.raises(ValueError, match="before start"):
        elapsed(10.0, 5.0)
