"""Our options, read once from the command line and ini keys into one value."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import TYPE_CHECKING

from pytest_depbounds.bounds import parse_bounds
from pytest_depbounds.options import OPTIONS, OptionSpec

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from pytest_depbounds.bounds import BoundName

#: Seconds the upper bound's resolution is reused before new releases are looked for.
DEFAULT_REFRESH = 3600.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What the user asked for."""

    bounds: tuple[BoundName, ...]
    extras: tuple[str, ...]
    groups: tuple[str, ...] | None
    with_tooling: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool
    python: str | None
    installer: str | None
    report: Path | None
    cache_dir: Path | None
    rebuild: bool
    refresh: float
    offline: bool
    timeout: float | None
    jobs: int
    editable: bool
    bisect: bool = False
    #: ``auto``: localise when attribution is inconclusive; ``yes``; ``no``.
    localize: str = "auto"
    fix: bool = False


def read_settings(config: pytest.Config, bounds_value: str) -> Settings:
    """Read every option, the command line winning over the ini key.

    :param config: The outer config.
    :param bounds_value: The value given to ``--depbounds``.
    :returns: The settings.
    :raises pytest.UsageError: On an invalid value.
    """
    import pytest  # noqa: PLC0415

    values = {spec.dest: _value(config, spec) for spec in OPTIONS}
    try:
        bounds = parse_bounds(bounds_value)
    except ValueError as exc:
        raise pytest.UsageError(f"--depbounds: {exc}") from None
    base = config.inipath.parent if config.inipath else config.rootpath

    def path(value: object) -> Path | None:
        return (base / str(value)).resolve() if value else None

    def number(name: str, value: object, default: float | None) -> float | None:
        if value in (None, ""):
            return default
        try:
            result = float(str(value))
        except ValueError:
            raise pytest.UsageError(f"--{name}: not a number: {value!r}") from None
        if result < 0:
            raise pytest.UsageError(f"--{name}: must not be negative: {value!r}")
        return result

    links = tuple(
        str(path(link)) if not _is_url(link) else link
        for link in _words(values["depbounds_find_links"])
    )
    groups = _words(values["depbounds_groups"])
    jobs = number("depbounds-jobs", values["depbounds_jobs"], None)
    localize = str(values["depbounds_localize"] or "auto")
    if localize not in {"auto", "yes", "no"}:
        msg = f"--depbounds-localize: use auto, yes or no, not {localize!r}"
        raise pytest.UsageError(msg)
    return Settings(
        bounds=bounds,
        extras=_words(values["depbounds_extras"]),
        groups=groups if values["depbounds_groups"] not in (None, "", []) else None,
        with_tooling=_words(values["depbounds_with"]),
        index_url=str(values["depbounds_index_url"] or "") or None,
        extra_index_urls=_words(values["depbounds_extra_index_url"]),
        find_links=links,
        no_index=bool(values["depbounds_no_index"]),
        python=str(values["depbounds_python"] or "") or None,
        installer=str(values["depbounds_installer"] or "") or None,
        report=path(values["depbounds_report"]),
        cache_dir=path(values["depbounds_cache_dir"]),
        rebuild=bool(values["depbounds_rebuild"]),
        refresh=number(
            "depbounds-refresh", values["depbounds_refresh"], DEFAULT_REFRESH
        )
        or 0.0,
        offline=bool(values["depbounds_offline"]),
        timeout=number("depbounds-timeout", values["depbounds_timeout"], None) or None,
        jobs=max(1, int(jobs)) if jobs else min(len(bounds), os.cpu_count() or 1),
        editable=bool(values["depbounds_editable"]),
        bisect=bool(values["depbounds_bisect"]),
        localize=localize,
        fix=bool(values["depbounds_fix"]),
    )


def _value(config: pytest.Config, spec: OptionSpec) -> object:
    value = config.getoption(spec.dest)
    if value not in (None, False, [], "") or not spec.has_ini:
        return value
    ini = config.getini(spec.dest)
    if spec.kind == "flag":
        return ini in (True, "true", "1", "yes")
    return ini


def _words(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    words: list[str] = []
    for item in items:
        # A comma starts a new word only before a name: ``pkg>=1,<2`` stays whole.
        words += [w for w in re.split(r",(?=\s*[A-Za-z])|\s+", str(item)) if w]
    return tuple(words)


def _is_url(link: str) -> bool:
    return "://" in link
