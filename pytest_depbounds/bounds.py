"""Which bounds a run tests, and how each bound chooses its versions. No I/O."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pytest_depbounds.options import ALL_BOUNDS
from pytest_depbounds.results import Note

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from packaging.requirements import Requirement

    from pytest_depbounds.index import DistFile
    from pytest_depbounds.installer import Resolution

BoundName = Literal["lower", "upper"]


def parse_bounds(value: str) -> tuple[BoundName, ...]:
    """Turn ``--depbounds=lower,upper`` into the bounds to run, in a stable order.

    :param value: Comma-separated bound names; ``all`` or ``both`` for both.
    :returns: The bounds, lower first.
    :raises ValueError: On an unknown name.
    """
    words = {w.strip().lower() for w in value.split(",") if w.strip()}
    if words & {"all", "both"}:
        words = (words - {"all", "both"}) | set(ALL_BOUNDS)
    unknown = words - set(ALL_BOUNDS)
    if unknown or not words:
        shown = ", ".join(sorted(unknown)) or repr(value)
        msg = f"unknown bound {shown}: use lower, upper or lower,upper"
        raise ValueError(msg)
    return tuple(b for b in ("lower", "upper") if b in words)


#: Strategies of the lower bound (``--depbounds-strategy``).
STRATEGIES = ("lowest-direct", "lowest")


def resolution_for(bound: BoundName, strategy: str = "lowest-direct") -> Resolution:
    """The resolver strategy of a bound.

    :param bound: ``lower`` or ``upper``.
    :param strategy: The lower bound's strategy: ``lowest-direct`` (direct
        dependencies at their minimum) or ``lowest`` (transitive ones too).
    :returns: The strategy for the lower bound, ``highest`` for the upper.
    """
    if bound == "upper":
        return "highest"
    return "lowest" if strategy == "lowest" else "lowest-direct"


def lowest_allowed(
    specifier: SpecifierSet, candidates: Iterable[Version]
) -> Version | None:
    """The floor a specifier really allows among released versions.

    :param specifier: The declared range (``>1.2`` does not admit 1.2).
    :param candidates: Versions that exist and install on the target interpreter.
    :returns: The lowest admitted version, or ``None``.
    """
    return min(specifier.filter(candidates), default=None)


def highest_allowed(
    specifier: SpecifierSet, candidates: Iterable[Version]
) -> Version | None:
    """The newest version a specifier admits among released versions.

    :param specifier: The declared range.
    :param candidates: Versions that exist and install on the target interpreter.
    :returns: The highest admitted version, or ``None``.
    """
    return max(specifier.filter(candidates), default=None)


# -- which versions install on the target, and the floor among them -----------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Floor:
    """The lower pin of one direct requirement, and why lower versions were skipped."""

    name: str
    #: The requirement as declared, e.g. ``foo>=1.0``.
    declared: str
    location: str | None
    #: The lowest version that installs, or ``None`` when none does.
    chosen: Version | None
    #: Admitted versions below ``chosen`` (all of them when none installs), each
    #: with why it does not install.
    skipped: tuple[tuple[Version, str], ...] = ()


def exact_pin(specifier: SpecifierSet) -> bool:
    """Whether a specifier pins one version with ``==``/``===`` (PEP 592).

    :param specifier: The declared range.
    :returns: True when yanked releases are admitted by it.
    """
    return any(
        s.operator in {"==", "==="} and not s.version.endswith(".*") for s in specifier
    )


def unusable_reason(
    files: Sequence[DistFile],
    *,
    python_version: str,
    tags: Sequence[str],
    allow_yanked: bool,
) -> str | None:
    """Why no file of one version installs on the target, or ``None`` when one does.

    :param files: The files of one version.
    :param python_version: The target interpreter's version.
    :param tags: The target's wheel tags; empty: not checked.
    :param allow_yanked: Whether yanked files count (an exact ``==`` pin).
    :returns: ``yanked``, ``requires Python …``, ``no wheel for cp311 (only …)``,
        or ``None``.
    """
    usable = [f for f in files if allow_yanked or not f.yanked]
    if not usable:
        reason = next((f.yanked_reason for f in files if f.yanked_reason), None)
        return f"yanked ({reason})" if reason else "yanked"
    python = Version(python_version)
    admitted = [f for f in usable if _admits(f.requires_python, python)]
    if not admitted:
        return f"requires Python {usable[0].requires_python}"
    if not tags or any(f.kind == "sdist" for f in admitted):
        return None
    wanted = set(tags)
    if any(f.tags & wanted for f in admitted):
        return None
    # Say what there is: a wheel for another Python, or for another platform.
    there = sorted({tag for f in admitted for tag in f.tags})
    shown = ", ".join(there[:_SHOWN_TAGS]) + (
        ", ..." if len(there) > _SHOWN_TAGS else ""
    )
    return f"no wheel for {tags[0].split('-', 1)[0]} (only {shown})"


#: Wheel tags a reason names.
_SHOWN_TAGS = 3


def _admits(requires_python: str | None, python: Version) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True  # as pip and uv do with an invalid Requires-Python


def choose_floor(
    requirement: Requirement,
    reasons: Mapping[Version, str | None],
    *,
    location: str | None = None,
) -> Floor:
    """The lowest version a requirement admits that installs.

    :param requirement: The declared requirement.
    :param reasons: Every known version → why it does not install (``None``: it does).
    :param location: Where it is declared.
    :returns: The floor; ``chosen`` is ``min(SpecifierSet.filter(installable))``.
    """
    specifier = requirement.specifier
    installable = [v for v, reason in reasons.items() if reason is None]
    chosen = lowest_allowed(specifier, installable)
    admitted = sorted(specifier.filter(reasons))
    skipped = tuple(
        (v, reasons[v] or "") for v in admitted if chosen is None or v < chosen
    )
    return Floor(
        name=requirement.name,
        declared=str(requirement),
        location=location,
        chosen=chosen,
        skipped=tuple((v, r) for v, r in skipped if r),
    )


def describe_skipped(skipped: Sequence[tuple[Version, str]]) -> str:
    """Say why versions were skipped, runs of one reason written as a range.

    :param skipped: Versions, ascending, with their reasons.
    :returns: e.g. ``1.0-1.3: no wheel for cp311; 1.5: yanked``, with an en dash.
    """
    runs: list[tuple[Version, Version, str]] = []
    for version, reason in skipped:
        if runs and runs[-1][2] == reason:
            runs[-1] = (runs[-1][0], version, reason)
        else:
            runs.append((version, version, reason))
    return "; ".join(
        f"{first}: {reason}" if first == last else f"{first}\u2013{last}: {reason}"
        for first, last, reason in runs
    )


def raised_requirement(requirement: Requirement, floor: Version) -> str:
    """The requirement with its lower bound raised, as a fix to write.

    :param requirement: The declared requirement.
    :param floor: The new minimum.
    :returns: e.g. ``foo[x]>=1.4,<3; python_version >= "3.9"``.
    """
    kept = [str(s) for s in requirement.specifier if s.operator not in {">=", ">"}]
    specifier = ",".join(sorted([f">={floor}", *kept], key=_lower_first))
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{requirement.name}{extras}{specifier}{marker}"


def _lower_first(spec: str) -> tuple[int, str]:
    return (0 if spec.startswith(">") else 1, spec)


def floor_not_installable(floor: Floor, label: str) -> Note | None:
    """The finding for a declared minimum that does not install.

    ``--depbounds-strict-lower`` makes it fail the run (:func:`strict_notes`).

    :param floor: The floor, with the versions skipped below it.
    :param label: The interpreter, e.g. ``CPython 3.11``.
    :returns: A ``floor-not-installable`` note, or ``None`` when nothing was skipped.
    """
    if not floor.skipped or floor.chosen is None:
        return None
    from packaging.requirements import Requirement  # noqa: PLC0415

    return Note(
        kind="floor-not-installable",
        dist=_normalized(floor.name),
        message=(
            f"declared `{floor.declared}`, but the lowest that installs on {label} "
            f"is {floor.chosen} ({describe_skipped(floor.skipped)})"
        ),
        location=floor.location,
        fix=raised_requirement(Requirement(floor.declared), floor.chosen),
    )


#: Note kinds ``--depbounds-strict-lower`` turns into failures.
STRICT_LOWER_KINDS = frozenset({"floor-not-installable"})


def strict_notes(notes: Iterable[Note], *, strict_lower: bool) -> tuple[Note, ...]:
    """Mark the notes a ``--depbounds-strict-*`` option turns into failures.

    :param notes: A bound's notes.
    :param strict_lower: ``--depbounds-strict-lower`` (for the lower bound).
    :returns: The notes, those of a strict kind with ``fails`` set.
    """
    return tuple(
        dataclasses.replace(note, fails=True)
        if strict_lower and note.kind in STRICT_LOWER_KINDS
        else note
        for note in notes
    )


def floor_moved(
    *,
    name: str,
    declared: Requirement,
    location: str | None,
    floor: Version,
    effective: Version,
    requirer: tuple[str, str, Requirement, bool] | None,
    constraint: tuple[Requirement, str] | None = None,
) -> Note:
    """The finding for a declared minimum that another requirement moves up.

    :param name: The distribution whose minimum moved.
    :param declared: Its declared requirement.
    :param location: Where it is declared.
    :param floor: Its own lowest installable version.
    :param effective: The version the resolver chose instead.
    :param requirer: ``(dist, version, its requirement on name, is direct)`` of a
        resolved distribution that excludes ``floor``, when one was found.
    :param constraint: Else a constraint (and its ``file:line``) that excludes it.
    :returns: A ``floor-moved`` note.
    """
    if requirer is not None:
        dist, version, requirement, direct = requirer
        whose = " (your minimum)" if direct else ""
        why = f"`{dist}=={version}`{whose} requires `{_bare(requirement)}`"
    elif constraint is not None:
        why = f"the constraint `{constraint[0]}` ({constraint[1]}) excludes {floor}"
    else:
        why = f"the other requirements exclude `{name}=={floor}`"
    return Note(
        kind="floor-moved",
        dist=_normalized(name),
        message=(
            f"{why}, but you declare `{declared}`: the effective minimum of "
            f"{name} is {effective}"
        ),
        location=location,
        fix=raised_requirement(declared, effective),
    )


def _bare(requirement: Requirement) -> str:
    """A requirement without its marker, as a message quotes it."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def _normalized(name: str) -> str:
    from packaging.utils import canonicalize_name  # noqa: PLC0415

    return str(canonicalize_name(name))


def pinned_version(requirement: Requirement) -> Version | None:
    """The version an ``==`` line pins (a constraints file in pip freeze format).

    :param requirement: One line of the file.
    :returns: The version, or ``None`` when the line pins nothing exactly.
    """
    for spec in requirement.specifier:
        if spec.operator in {"==", "==="} and not spec.version.endswith(".*"):
            try:
                return Version(spec.version)
            except InvalidVersion:
                return None
    return None
