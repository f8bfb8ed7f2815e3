"""The plugin loaded inside a bound's env: it writes each report as a JSON line.

Stdlib and pytest only: it runs under whatever pytest the env holds, possibly an
old one, and pytest-depbounds itself is never installed there (its own
dependencies would skew the pins). The outer session puts this file alone on
``PYTHONPATH`` and loads it with ``-p pytest_depbounds_inner``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest.config import Config
    from _pytest.config.argparsing import Parser
    from _pytest.main import Session
    from _pytest.reports import CollectReport, TestReport

RESULTS_VAR = "DEPBOUNDS_RESULTS"
OPTIONS_VAR = "DEPBOUNDS_OPTIONS"

_stream: IO[str] | None = None
# Reports do not carry their config; serialising them needs its hooks.
_configs: list[Config] = []


def pytest_addoption(parser: Parser) -> None:
    """Accept our outer options, so a project's addopts or ini keys stay valid."""
    try:
        specs = json.loads(os.environ.get(OPTIONS_VAR, "[]"))
    except ValueError:
        specs = []
    group = parser.getgroup("depbounds (ignored inside a bound env)")
    for flag, takes_value, ini_type in specs:
        if flag == "--depbounds":
            group.addoption(flag, action="store", nargs="?", const="", default=None)
        elif takes_value:
            group.addoption(flag, action="store", default=None)
        else:
            group.addoption(flag, action="store_true", default=False)
        if ini_type:
            parser.addini(flag.lstrip("-").replace("-", "_"), "ignored", type=ini_type)


def pytest_configure(config: Config) -> None:
    """Open the results file; xdist workers leave it to their controller."""
    global _stream  # noqa: PLW0603 - one stream per process
    path = os.environ.get(RESULTS_VAR)
    if not path or hasattr(config, "workerinput"):
        return
    _stream = open(path, "a", encoding="utf-8")  # noqa: SIM115, PTH123
    _configs[:] = [config]
    _emit(
        {
            "event": "start",
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        }
    )


def pytest_collection_finish(session: Session) -> None:
    """Say how many tests this bound collected."""
    _emit({"event": "collected", "count": len(session.items)})


def pytest_collectreport(report: CollectReport) -> None:
    """Forward collection errors and skips; passing collections are implied."""
    if not report.passed:
        _emit_report(report, "collectreport")


def pytest_runtest_logreport(report: TestReport) -> None:
    """Forward each phase of each test."""
    _emit_report(report, "report")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: Session, exitstatus: int) -> None:
    """Record that the session ended normally, with its exit status."""
    del session
    _emit({"event": "finish", "exitstatus": int(exitstatus)})


def pytest_unconfigure(config: Config) -> None:
    """Close the results file."""
    del config
    global _stream  # noqa: PLW0603
    if _stream is not None:
        _stream.close()
        _stream = None


def _emit_report(report: CollectReport | TestReport, event: str) -> None:
    if _stream is None:
        return
    data: Any = None
    for config in _configs:
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
    if data is None:
        data = {
            "nodeid": report.nodeid,
            "outcome": report.outcome,
            "when": getattr(report, "when", "collect"),
            "longrepr": str(report.longrepr) if report.longrepr else None,
        }
    _emit({"event": event, "data": data})


def _emit(record: dict[str, Any]) -> None:
    if _stream is None:
        return
    _stream.write(json.dumps(record, default=str) + "\n")
    _stream.flush()
