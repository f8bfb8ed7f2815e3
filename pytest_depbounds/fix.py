"""The requirement to write instead, and ``--depbounds-fix``: raise floors in place.

Specifiers are edited as text inside the string or line that declares them, so
everything else in the file (formatting, comments, quoting, order) stays as it
was: ``tomlkit`` for ``pyproject.toml`` (the string's source text edited, escapes
kept), and for requirements files an edit of the specifier's characters in the
file, wherever pip's continuation lines put them.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_depbounds.reqfiles import logical_lines, requirement_text

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from tomlkit.items import String

    from pytest_depbounds.attribution import Finding
    from pytest_depbounds.declared import Declaration, DeclaredRequirement
    from pytest_depbounds.results import BoundResult

#: A clause that sets a floor: ``>=1.0``, ``>1.0``, ``~=1.0`` (with its spaces).
_FLOOR = re.compile(r"(?P<op>>=|~=|>(?!=))(?P<space>\s*)(?P<version>[^\s,;\]]+)")
#: The name and extras at the head of a requirement.
_HEAD = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*")

UPPER_ADVICE = (
    "prefer fixing the code over a cap; cap ({cap}) only with a reason, "
    "written beside it"
)


def lower_fix(dist: str, version: str) -> str:
    """The requirement that raises a floor.

    :param dist: The distribution.
    :param version: The lowest version that works.
    :returns: e.g. ``fakelib>=1.4``.
    """
    return f"{dist}>={version}"


def upper_advice(dist: str, first_bad: str, last_good: str | None = None) -> str:
    """What to do about a release that breaks the project.

    :param dist: The distribution.
    :param first_bad: The first version that breaks.
    :param last_good: The last version that works, when known.
    :returns: One phrase of advice.
    """
    good = f"last good {last_good}, " if last_good else ""
    cap = f"`{dist}<{first_bad}`"
    return f"{good}first bad {first_bad}: " + UPPER_ADVICE.format(cap=cap)


def raise_floor(raw: str, version: str) -> str | None:
    """Rewrite a requirement string so that its floor is ``version``.

    Only the floor clause changes (``~=`` keeps its meaning); the name, extras,
    other clauses, marker and spacing stay as written.

    :param raw: The requirement as written, e.g. ``fakelib >= 1.0, <3``.
    :param version: The new floor.
    :returns: The new text, or ``None`` when there is nothing to raise (an exact
        pin, a URL, or a floor already at or above ``version``).
    """
    try:
        requirement = Requirement(raw)
        new = Version(version)
    except (InvalidRequirement, InvalidVersion):
        return None
    pinned = any(s.operator in {"==", "==="} for s in requirement.specifier)
    if requirement.url or pinned:
        return None
    floors = {">=", ">", "~="}
    if not _admits_below(requirement, new) or not all(
        s.contains(new, prereleases=True)
        for s in requirement.specifier
        if s.operator not in floors
    ):
        return None
    body, marker = _split_marker(raw)
    head = _HEAD.match(body)
    start = head.end() if head else 0
    match = _FLOOR.search(body, start)
    if match is None:
        rest = body[start:]
        clause = f">={version}" + ("," if rest.strip() else "")
        return body[:start].rstrip() + clause + rest.lstrip() + marker
    replacement = _replacement(
        match.group("op"), match.group("space"), match.group("version"), new
    )
    return body[: match.start()] + replacement + body[match.end() :] + marker


def _admits_below(requirement: Requirement, new: Version) -> bool:
    """Whether the range admits a release below ``new`` (a floor to raise)."""
    floors = [s for s in requirement.specifier if s.operator in {">=", ">", "~="}]
    if not floors:
        return True
    return any(Version(s.version) < new for s in floors)


def _replacement(op: str, space: str, old: str, new: Version) -> str:
    if op != "~=":
        return f">={space}{new}"
    try:
        old_release = Version(old).release
    except InvalidVersion:
        return f">={space}{new}"
    # ``~=1.0`` means ``>=1.0, ==1.*``: keep the cap it implies.
    if len(new.release) == len(old_release):
        return f"~={space}{new}"
    prefix = ".".join(str(p) for p in old_release[:-1])
    return f">={new},=={prefix}.*"


def _split_marker(raw: str) -> tuple[str, str]:
    index = raw.find(";")
    if index < 0:
        return raw, ""
    body = raw[:index].rstrip()
    return body, raw[len(body) :]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Edit:
    """One requirement rewritten in one file."""

    path: Path
    line: int | None
    old: str
    new: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FixResult:
    """What ``--depbounds-fix`` changed."""

    edits: tuple[Edit, ...]
    diff: str
    #: Dists it could not rewrite, with the reason.
    skipped: tuple[str, ...] = ()


def apply_fixes(
    declaration: Declaration, floors: Mapping[str, str], *, write: bool = True
) -> FixResult:
    """Raise the declared floors of some distributions in the project's files.

    :param declaration: Where each requirement is declared (``file:line``).
    :param floors: Distribution → the lowest version that works.
    :param write: Write the files (otherwise only compute the diff).
    :returns: The edits and their unified diff.
    """
    wanted: dict[str, str] = {canonicalize_name(d): v for d, v in floors.items()}
    by_file: dict[Path, list[DeclaredRequirement]] = {}
    for declared in (*declaration.requirements, *declaration.constraints):
        if declared.name in wanted:
            file = declared.location.rsplit(":", 1)[0]
            by_file.setdefault(declaration.project_dir / file, []).append(declared)
    edits: list[Edit] = []
    diffs: list[str] = []
    skipped: list[str] = []
    found = {d.name for items in by_file.values() for d in items}
    skipped += [f"{d}: not declared in a file" for d in wanted if d not in found]
    for path, items in by_file.items():
        try:
            before = path.read_text(encoding="utf-8")
        except OSError as exc:
            skipped.append(f"{path.name}: {exc.strerror}")
            continue
        if path.suffix == ".toml":
            after, changed = _fix_pyproject(before, wanted, path)
        else:
            lines = {_line(d.location) for d in items}
            after, changed = _fix_requirements(before, wanted, path, lines)
        if not changed:
            continue
        edits += changed
        relative = path.relative_to(declaration.project_dir).as_posix()
        diffs.append(
            "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"a/{relative}",
                    tofile=f"b/{relative}",
                )
            )
        )
        if write:
            path.write_text(after, encoding="utf-8")
    return FixResult(edits=tuple(edits), diff="".join(diffs), skipped=tuple(skipped))


def _line(location: str) -> int | None:
    tail = location.rsplit(":", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None  # noqa: PLR2004


def _fix_pyproject(
    text: str, wanted: Mapping[str, str], path: Path
) -> tuple[str, list[Edit]]:
    import tomlkit  # noqa: PLC0415 - only --depbounds-fix needs it
    from tomlkit.items import Array, String  # noqa: PLC0415

    document = tomlkit.parse(text)
    edits: list[Edit] = []
    for array in _requirement_arrays(document):
        assert isinstance(array, Array)  # noqa: S101 - _requirement_arrays yields only these
        for index, item in enumerate(array):
            if not isinstance(item, String):
                continue
            new = _rewritten(str(item), wanted)
            if new is None:
                continue
            array[index] = _edited_string(item, new)
            edits.append(Edit(path=path, line=None, old=str(item), new=new))
    return tomlkit.dumps(document), edits


def _edited_string(item: String, new: str) -> String:
    """The TOML string holding ``new``, written as ``item`` was but for the change.

    The change (a specifier) is made in the string's source text, so its
    escapes, quoting and a multi-line string's first newline stay as written.
    """
    from tomlkit.items import String  # noqa: PLC0415

    old = str(item)
    quote = item.type.value
    source = item.as_string()[len(quote) : -len(quote)]
    start, end, insert = changed_span(old, new)
    # Found in the source by the text before it (after a multi-line string's
    # trimmed newline) or, when that holds an escape, by the text after it.
    lead = source.find(old[:end])
    if lead >= 0 and not source[:lead].strip():
        at = lead + start
    elif source.endswith(old[start:]):
        at = len(source) - len(old) + start
    else:
        return String.from_raw(new, type_=item.type)
    edited = source[:at] + insert + source[at + end - start :]
    return String(item.type, new, edited, item.trivia)


def changed_span(old: str, new: str) -> tuple[int, int, str]:
    """The one stretch where ``new`` differs from ``old``.

    :param old: A requirement as written.
    :param new: The same requirement with its floor raised.
    :returns: Start and end of the stretch in ``old``, and what replaces it.
    """
    start, end, stop = 0, len(old), len(new)
    while start < min(end, stop) and old[start] == new[start]:
        start += 1
    while end > start and stop > start and old[end - 1] == new[stop - 1]:
        end, stop = end - 1, stop - 1
    return start, end, new[start:stop]


def _requirement_arrays(document: object) -> Iterable[object]:
    """Every array of requirement strings: dependencies, extras, groups."""
    from tomlkit.items import Array  # noqa: PLC0415

    def get(table: object, key: str) -> object:
        return table.get(key) if hasattr(table, "get") else None

    project = get(document, "project")
    candidates = [get(project, "dependencies")]
    optional = get(project, "optional-dependencies")
    if hasattr(optional, "values"):
        candidates += list(optional.values())
    groups = get(document, "dependency-groups")
    if hasattr(groups, "values"):
        candidates += list(groups.values())
    return [c for c in candidates if isinstance(c, Array)]


def _rewritten(raw: str, wanted: Mapping[str, str]) -> str | None:
    try:
        name = canonicalize_name(Requirement(raw).name)
    except InvalidRequirement:
        return None
    return raise_floor(raw, wanted[name]) if name in wanted else None


def _fix_requirements(
    text: str, wanted: Mapping[str, str], path: Path, lines: set[int | None]
) -> tuple[str, list[Edit]]:
    edits: list[Edit] = []
    # (start, end, text) in ``text``: only the specifier, even when it sits on
    # a continuation line, so comments, options and line breaks stay put.
    splices: list[tuple[int, int, str]] = []
    for line in logical_lines(text):
        if None not in lines and line.number not in lines:
            continue
        requirement = requirement_text(line.text)
        new = _rewritten(requirement, wanted) if requirement else None
        if new is None:
            continue
        offset = line.text.find(requirement)
        start, end, insert = changed_span(requirement, new)
        if end > start:
            at = line.offsets[offset + start]
            splices.append((at, line.offsets[offset + end - 1] + 1, insert))
        else:
            # An insertion goes right after the character it follows.
            at = line.offsets[offset + start - 1] + 1
            splices.append((at, at, insert))
        edits.append(Edit(path=path, line=line.number, old=requirement, new=new))
    for start, end, insert in reversed(splices):
        text = text[:start] + insert + text[end:]
    return text, edits


def target_of(finding: Finding) -> str | None:
    """The distribution whose floor a lower-bound finding asks to raise.

    A transitive culprit is fixed by raising the declared requirement that pulls
    it in (the first link of its chain); any other by its own floor.

    :param finding: A finding.
    :returns: The distribution's name as installed, or ``None``.
    """
    if finding.relation == "transitive" and len(finding.chain) > 2:  # noqa: PLR2004
        return finding.chain[1].rsplit(" ", 1)[0]
    return finding.dist


def suggest(results: Sequence[BoundResult]) -> list[BoundResult]:
    """Give every finding the requirement to write, from what the other bound shows.

    Lower: ``dist>=<its version in the upper bound>`` when the upper bound holds a
    newer one that no finding blames (``--depbounds-bisect`` finds the lowest).
    Upper: the first bad version, the last good one when the lower bound shows
    it, and the advice to fix the code rather than cap.

    :param results: One result per bound.
    :returns: The results, their findings completed.
    """
    by_bound = {r.bound: r for r in results}
    completed = []
    for result in results:
        other = next((r for b, r in by_bound.items() if b != result.bound), None)
        culprits = tuple(
            dataclasses.replace(
                c, finding=_suggested(c.finding, result.bound, result, other)
            )
            for c in result.findings
        )
        completed.append(dataclasses.replace(result, findings=culprits))
    return completed


def _suggested(
    finding: Finding, bound: str, result: BoundResult, other: BoundResult | None
) -> Finding:
    if finding.fix is not None or finding.advice is not None:
        return finding
    if finding.dist is None:
        top = finding.symbol.partition(".")[0]
        advice = f"declare the distribution that provides `{top}`"
        return dataclasses.replace(finding, advice=advice)
    blamed = {
        canonicalize_name(c.finding.dist)
        for c in (other.findings if other else ())
        if c.finding.dist
    }
    if bound == "upper":
        mine = canonicalize_name(finding.dist)
        last_good = None
        if other is not None and mine not in blamed:
            last_good = other.pins.get(mine)
        if last_good == finding.version:
            last_good = None
        good = f"works with {last_good}, " if last_good else ""
        cap = f"`{finding.dist}<{finding.version}`"
        advice = f"{good}breaks with {finding.version}: " + UPPER_ADVICE.format(cap=cap)
        return dataclasses.replace(finding, advice=advice)
    target = target_of(finding) or finding.dist
    key = canonicalize_name(target)
    here, there = result.pins.get(key), other.pins.get(key) if other else None
    works = there is not None and key not in blamed
    works = works and canonicalize_name(finding.dist) not in blamed
    if works and here is not None and _version(there or "") <= _version(here):
        works = False
    if not works or there is None:
        if target == finding.dist:
            return finding
        return _transitive(finding, target, result, other)
    fix = lower_fix(target, there)
    what = "declare" if finding.relation == "undeclared" else "write"
    advice = (
        f"{what} `{fix}` (the upper bound works with {target} {there}; "
        "--depbounds-bisect finds the lowest that does)"
    )
    return dataclasses.replace(finding, fix=fix, advice=advice)


def _transitive(
    finding: Finding, target: str, result: BoundResult, other: BoundResult | None
) -> Finding:
    """The fix for a transitive dist of the lower bound that breaks the project.

    Under lowest-direct it is too new for the declared dist that pulls it in
    (a cap); under ``--depbounds-strategy=lowest`` it is at its oldest, and a
    cap would be the wrong way round: it needs a floor.
    """
    if result.resolution != "lowest":
        fix = f"{finding.dist}<{finding.version}"
        advice = (
            f"raise `{target}` to a release that works with {finding.dist} "
            f"{finding.version}, or constrain `{fix}` with a reason"
        )
        return dataclasses.replace(finding, fix=fix, advice=advice)
    key = canonicalize_name(finding.dist or target)
    there = other.pins.get(key) if other is not None else None
    if there is not None and _version(there) > _version(finding.version or ""):
        fix = f"{finding.dist}>={there}"
    else:
        fix = f"{finding.dist}>{finding.version}"
    advice = (
        f"raise `{target}` to a release that requires a newer {finding.dist} "
        f"than {finding.version} (the oldest it admits), or declare `{fix}` "
        "with a reason"
    )
    return dataclasses.replace(finding, fix=fix, advice=advice)


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")
