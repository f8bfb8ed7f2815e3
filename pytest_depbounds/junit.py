"""One JUnit XML file per bound, split from the file ``--junitxml`` writes.

pytest's junitxml plugin already receives every replayed report (node ids end
with ``@lower`` / ``@upper``), so the user's ``--junitxml=PATH`` holds every
bound. After it is written, each bound's test cases are copied to ``PATH`` with
the bound before the suffix (``junit.lower.xml``), with the suite's counts
recomputed, so a CI test-report widget can show one bound per file.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Child elements of ``<testcase>`` that pytest counts in the suite's attributes.
_COUNTED = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def junit_path(config: pytest.Config) -> Path | None:
    """The file ``--junitxml`` writes, as pytest's junitxml plugin resolves it.

    :param config: The outer config.
    :returns: The absolute path, or ``None`` without ``--junitxml`` (or without
        the junitxml plugin).
    """
    try:
        value = config.getoption("xmlpath")
    except ValueError:  # -p no:junitxml
        return None
    if not value:
        return None
    # The same expansion as pytest's LogXML.
    expanded = os.path.expanduser(os.path.expandvars(str(value)))  # noqa: PTH111
    return Path(os.path.normpath(os.path.abspath(expanded)))  # noqa: PTH100


def bound_path(path: Path, bound: str) -> Path:
    """The per-bound file beside ``path``: the bound before the suffix.

    :param path: The ``--junitxml`` path, e.g. ``out/junit.xml``.
    :param bound: ``lower`` or ``upper``.
    :returns: e.g. ``out/junit.lower.xml``.
    """
    return path.with_name(f"{path.stem}.{bound}{path.suffix}")


def split(path: Path, bound: str, destination: Path) -> int:
    """Write the test cases of one bound to their own file.

    :param path: The JUnit file holding every bound.
    :param bound: The bound whose cases to keep.
    :param destination: Where to write them.
    :returns: How many test cases were written.
    """
    tree = ET.parse(path)  # noqa: S314 - the file pytest just wrote
    suffix = f"@{bound}"
    kept = 0
    for suite in tree.getroot().iter("testsuite"):
        counts = dict.fromkeys(_COUNTED.values(), 0)
        seconds = 0.0
        cases = 0
        for case in suite.findall("testcase"):
            name = repaired_name(case.get("name", ""))
            if not name.endswith(suffix):
                suite.remove(case)
                continue
            case.set("name", name)
            cases += 1
            seconds += float(case.get("time") or 0)
            for child in case:
                if child.tag in _COUNTED:
                    counts[_COUNTED[child.tag]] += 1
        suite.set("name", f"{suite.get('name', 'pytest')}{suffix}")
        suite.set("tests", str(cases))
        suite.set("time", f"{seconds:.3f}")
        for attribute, count in counts.items():
            suite.set(attribute, str(count))
        kept += cases
    destination.parent.mkdir(parents=True, exist_ok=True)
    tree.write(destination, encoding="utf-8", xml_declaration=True)
    return kept


def repaired_name(name: str) -> str:
    """A test case's name as tagged, undoing pytest >= 9.2's reading of it.

    pytest 9.2 takes everything after a test's ``[`` for its parameters and
    closes them again: ``test_x[1]@lower`` is written ``test_x[1]@lower]``.

    :param name: The ``name`` attribute junitxml wrote.
    :returns: The name with the bound last.
    """
    head, _, bound = name.rpartition("@")
    if bound in {"lower]", "upper]"} and head.endswith("]") and "[" in head:
        return name[:-1]
    return name


def repair(path: Path) -> None:
    """Rewrite the names :func:`repaired_name` fixes in the user's file, if any.

    :param path: The file junitxml wrote.
    """
    tree = ET.parse(path)  # noqa: S314 - the file pytest just wrote
    changed = False
    for case in tree.getroot().iter("testcase"):
        name = case.get("name", "")
        if repaired_name(name) != name:
            case.set("name", repaired_name(name))
            changed = True
    if changed:
        tree.write(path, encoding="utf-8", xml_declaration=True)


class JunitSplitter:
    """Writes ``PATH.<bound>.xml`` once pytest's junitxml has written ``PATH``."""

    def __init__(self, config: pytest.Config, bounds: Sequence[str]) -> None:
        self.config = config
        self.bounds = tuple(bounds)
        self.written: list[Path] = []

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """Split the file after junitxml's own ``pytest_sessionfinish`` wrote it."""
        path = junit_path(self.config)
        if path is None or not path.is_file():
            return
        repair(path)
        for bound in self.bounds:
            destination = bound_path(path, bound)
            split(path, bound, destination)
            self.written.append(destination)

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """Name the per-bound files, under the line junitxml prints."""
        if self.written and self.config.option.verbose >= 0:
            names = ", ".join(p.name for p in self.written)
            terminalreporter.write_sep("-", f"xml file per bound: {names}")
