"""Which bounds a run tests, and how each bound chooses its versions. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pytest_depbounds.options import ALL_BOUNDS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

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


def resolution_for(bound: BoundName) -> Resolution:
    """The resolver strategy of a bound.

    :param bound: ``lower`` or ``upper``.
    :returns: ``lowest-direct`` for the lower bound, ``highest`` for the upper.
    """
    return "lowest-direct" if bound == "lower" else "highest"


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
