"""The deprecation radar: which dependency warns of a break the project will meet.

The inner session records every ``DeprecationWarning``,
``PendingDeprecationWarning`` and ``FutureWarning`` with its stack (``warning``
records). Here, in the bound's env, each stack is read from the code that
warned outwards: the warning counts only when that code is a dependency's and
the first frame outside that dependency (the import machinery and the stdlib
skipped) is the project's own. A dependency warning about another
dependency's use of it is not the project's to fix.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from pytest_depbounds._inner import WARNINGS_KEY
from pytest_depbounds.results import Note

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pytest_depbounds.attribution import Attributor
    from pytest_depbounds.results import BoundResult

#: The note kind of a project's use of a deprecated dependency API.
KIND = "deprecated-use"
#: Usage sites named in one message; the rest are counted.
_SHOWN_USAGES = 3
_MAX_TEXT = 160


@dataclasses.dataclass(frozen=True, kw_only=True)
class Deprecation:
    """One deprecated dependency symbol the project uses, in one bound's env."""

    dist: str
    version: str
    #: The entry point into the dependency: ``pkg.mod.func`` or a module name.
    symbol: str
    category: str
    #: The warning's own text (the first seen).
    text: str
    #: The project's ``path:line`` sites that reached it.
    usages: tuple[str, ...]
    #: Inner node ids of the tests that triggered it.
    tests: tuple[str, ...]
    #: Whether importing the project's modules (collection) triggered it.
    collection: bool

    @property
    def message(self) -> str:
        """One line: what is deprecated, where the project uses it, how often."""
        verb = "will change" if self.category == "FutureWarning" else "is deprecated"
        shown = list(self.usages[:_SHOWN_USAGES])
        if len(self.usages) > _SHOWN_USAGES:
            shown.append(f"{len(self.usages) - _SHOWN_USAGES} more")
        text = f"{self.dist} {self.version}: `{self.symbol}` {verb}"
        if shown:
            text += f" — used at {', '.join(shown)}"
        counts = []
        if self.tests:
            counts.append(
                f"{len(self.tests)} test{'s' if len(self.tests) != 1 else ''}"
            )
        if self.collection:
            counts.append("at import")
        if counts:
            text += f" ({', '.join(counts)})"
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        if len(first) > _MAX_TEXT:
            first = first[: _MAX_TEXT - 1] + "…"
        return f"{text}: {self.category}: {first}" if first else text

    def note(self, *, strict: bool) -> Note:
        """The deprecation as a note of its bound.

        :param strict: ``--depbounds-strict-deprecations``: the note fails the bound.
        :returns: A ``deprecated-use`` note.
        """
        return Note(
            kind=KIND,
            dist=self.dist,
            message=self.message,
            location=self.usages[0] if self.usages else None,
            fails=strict,
        )


class WarningLog:
    """The ``warning`` records of one bound, as the inner session sent them."""

    def __init__(self) -> None:
        #: Warning id → its category, text and stack (sent once per warning).
        self.details: dict[int, Mapping[str, Any]] = {}
        #: ``(id, nodeid, when)`` of each phase that raised it.
        self.hits: list[tuple[int, str, str]] = []
        self._carried: dict[str, int] = {}

    def take(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Keep the records an xdist worker put on a report; the report without them.

        :param data: A serialised report.
        :returns: The report without ``WARNINGS_KEY``.
        """
        if WARNINGS_KEY not in data:
            return data
        for record in data[WARNINGS_KEY] or ():
            if isinstance(record, dict):
                self.add(record)
        return {k: v for k, v in data.items() if k != WARNINGS_KEY}

    def add(self, record: Mapping[str, Any]) -> None:
        """Keep one ``warning`` record.

        :param record: The JSON record.
        """
        ident = record.get("id")
        if not isinstance(ident, int):
            # From an xdist worker: whole, without an id; same warning, same id.
            key = json.dumps(
                [record.get(k) for k in ("category", "message", "filename", "stack")],
                default=str,
            )
            ident = self._carried.setdefault(key, -1 - len(self._carried))
        if "stack" in record:
            self.details[ident] = record
        self.hits.append(
            (ident, str(record.get("nodeid", "")), str(record.get("when", "")))
        )

    def __bool__(self) -> bool:
        return bool(self.hits)


def deprecations(log: WarningLog, attributor: Attributor) -> tuple[Deprecation, ...]:
    """The project's uses of deprecated dependency APIs in one bound.

    :param log: The bound's ``warning`` records.
    :param attributor: Attribution in the bound's env (it tells whose each frame is).
    :returns: One entry per dist, version, symbol and category, in order of
        first appearance.
    """
    found: dict[int, tuple[tuple[str, ...], str, str] | None] = {}
    grouped: dict[tuple[str, ...], list[tuple[str, str, str, str]]] = {}
    for ident, nodeid, when in log.hits:
        if ident not in found:
            details = log.details.get(ident)
            found[ident] = _culprit(details, attributor) if details else None
        culprit = found[ident]
        if culprit is None:
            continue
        key, usage, text = culprit
        grouped.setdefault(key, []).append((usage, nodeid, when, text))
    return tuple(_deprecation(key, hits) for key, hits in grouped.items())


def notes(found: Iterable[Deprecation], *, strict: bool) -> tuple[Note, ...]:
    """Notes for a bound's deprecations.

    :param found: What `deprecations` found.
    :param strict: Whether they fail the bound.
    :returns: One ``deprecated-use`` note each.
    """
    return tuple(d.note(strict=strict) for d in found)


def _culprit(
    details: Mapping[str, Any], attributor: Attributor
) -> tuple[tuple[str, ...], str, str] | None:
    """``(dist, version, symbol, category)``, the usage site and the text, or None."""
    stack = [f for f in details.get("stack") or () if isinstance(f, dict)]
    places = [attributor.place(f) for f in stack]
    if not places or places[-1][0] != "dependency" or not _ran(details, stack):
        return None
    raiser = len(places) - 1
    dist = places[raiser][1]
    if dist is None:
        return None
    entry = raiser
    for index in reversed(range(raiser)):
        place, owner, site = places[index]
        if place == "other" or (place == "dependency" and owner == dist):
            if place != "other":
                entry = index
            continue
        if place != "project" or site is None:
            # Another dependency (or pytest) reached the deprecated code.
            return None
        key = (
            dist.display,
            dist.version,
            _symbol(stack[entry]),
            str(details.get("category", "")),
        )
        return key, site, str(details.get("message", ""))
    return None


def _ran(details: Mapping[str, Any], stack: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a frame ran the line the warning names.

    Not so when the compiler warned about a module's source while importing it
    (``invalid escape sequence``): no API of the dependency is deprecated there.
    The innermost frame is the code that warned: a dependency's, checked by the
    caller; the stdlib's (``import imp``) is the stdlib's deprecation.
    """
    sites = {(str(f.get("file")), f.get("lineno")) for f in stack}
    return (str(details.get("filename")), details.get("lineno")) in sites


def _symbol(frame: Mapping[str, Any]) -> str:
    module = str(frame.get("module", ""))
    if frame.get("function") == "<module>":
        return module
    qualname = str(frame.get("qualname") or frame.get("function") or "")
    qualname = qualname.removesuffix(".__init__")
    return f"{module}.{qualname}" if module else qualname


def _deprecation(
    key: tuple[str, ...], hits: Sequence[tuple[str, str, str, str]]
) -> Deprecation:
    dist, version, symbol, category = key
    return Deprecation(
        dist=dist,
        version=version,
        symbol=symbol,
        category=category,
        text=hits[0][3],
        usages=tuple(dict.fromkeys(usage for usage, _, _, _ in hits)),
        tests=tuple(
            dict.fromkeys(n for _, n, when, _ in hits if when != "collect" and n)
        ),
        collection=any(when == "collect" for _, _, when, _ in hits),
    )


# -- lookahead: the newest releases, beyond the upper constraints ----------------

#: The note kind of what would break with the newest releases.
LOOKAHEAD_KIND = "lookahead-break"


def lookahead_notes(ahead: BoundResult, upper: BoundResult) -> tuple[Note, ...]:
    """What would break if the upper constraints moved to the newest releases.

    :param ahead: The lookahead env's result (failures attributed, deprecations
        noted).
    :param upper: The upper bound's result, for the versions that moved.
    :returns: ``lookahead-break`` notes; they never fail the run.
    """
    changed = _changed(ahead, upper)
    if ahead.error is None and upper.pins and not changed:
        # The constraints held nothing back: the upper bound already said it all.
        return ()
    prefix = f"lookahead ({', '.join(changed)})" if changed else "lookahead"
    found: list[Note] = []

    def add(message: str, dist: str | None = None, location: str | None = None) -> None:
        found.append(
            Note(
                kind=LOOKAHEAD_KIND,
                dist=dist,
                message=f"{prefix}: {message}",
                location=location,
            )
        )

    if ahead.error is not None:
        add(f"the env could not be built: {ahead.error.splitlines()[0]}")
    elif ahead.crash is not None:
        add(ahead.crash)
    for culprit in ahead.findings:
        add(culprit.summary, culprit.finding.dist, next(iter(culprit.usages), None))
    if ahead.unattributed:
        count = len(ahead.unattributed)
        add(
            f"{count} failure{'s' if count != 1 else ''} not attributed to a dependency"
        )
    for note in ahead.notes:
        if note.kind == KIND:
            add(note.message, note.dist, note.location)
    return tuple(found)


def _changed(ahead: BoundResult, upper: BoundResult) -> list[str]:
    """The pins the lookahead moved, direct dependencies first, a few named."""
    names = sorted(
        (name not in ahead.direct, name)
        for name, version in ahead.pins.items()
        if upper.pins.get(name) != version
    )
    moved = [
        f"{name} {upper.pins.get(name, 'not installed')} → {ahead.pins[name]}"
        for _, name in names[:_SHOWN_USAGES]
    ]
    if len(names) > _SHOWN_USAGES:
        moved.append(f"{len(names) - _SHOWN_USAGES} more")
    return moved
