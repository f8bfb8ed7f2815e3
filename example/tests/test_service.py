from __future__ import annotations

# clockapp.service does ``from greenio import util``, and greenio 0.16 removed
# greenio.util (as eventlet 0.16 removed eventlet.util): with the declared
# greenio>=0.15 and no upper cap, these tests fail at the upper bound with
# ImportError. Each test imports the module itself, so that the failing import
# fails these tests only instead of stopping the whole session at collection.


def test_run_ticks() -> None:
    from clockapp.service import ClockService  # noqa: PLC0415 - see above

    assert ClockService(lambda n: n * n).run(3) == [0, 1, 4]


def test_run_no_ticks() -> None:
    from clockapp.service import ClockService  # noqa: PLC0415 - see above

    assert ClockService(str).run(0) == []
