"""Our options, read once from the command line and ini keys into one value."""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import sys
from typing import TYPE_CHECKING

from pytest_depbounds.bounds import STRATEGIES, parse_bounds
from pytest_depbounds.options import OPTIONS, OptionSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from pytest_depbounds.bounds import BoundName

#: Seconds the upper bound's resolution is reused before new releases are looked
#: for: none, every run looks (while the session already runs on the last pins).
DEFAULT_REFRESH = 0.0


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
    #: Requirements files (``--depbounds-requirements``), absolute.
    requirements: tuple[Path, ...] = ()
    #: The lower bound's strategy: ``lowest-direct`` or ``lowest``.
    strategy: str = "lowest-direct"
    #: ``--depbounds-strict-lower``: a floor that does not install fails the run.
    strict_lower: bool = False
    #: ``--depbounds-lower-constraints``: pins of the lower bound.
    lower_constraints: Path | None = None
    #: ``--depbounds-upper-constraints``: a resolved path or an http(s) URL.
    upper_constraints: str | None = None
    #: ``--depbounds-freeze``: where each bound's env is written as constraints.
    freeze_dir: Path | None = None
    freeze_all: bool = False
    #: Deprecation radar: a project's use of a deprecated API fails its bound.
    strict_deprecations: bool = False
    #: Static scan before the envs are built, and whether its findings fail.
    scan_first: bool = False
    strict_scan: bool = False
    #: An extra env beyond the upper constraints, reported as notes.
    lookahead: bool = False
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
    strategy = str(values["depbounds_strategy"] or "") or "lowest-direct"
    if strategy not in STRATEGIES:
        raise pytest.UsageError(
            f"--depbounds-strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}"
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
        requirements=tuple(
            (base / word).resolve() for word in _words(values["depbounds_requirements"])
        ),
        strategy=strategy,
        strict_lower=bool(values["depbounds_strict_lower"]),
        lower_constraints=path(values["depbounds_lower_constraints"]),
        upper_constraints=_path_or_url(values["depbounds_upper_constraints"], path),
        freeze_dir=path(values["depbounds_freeze"]),
        freeze_all=bool(values["depbounds_freeze_all"]),
        strict_deprecations=bool(values["depbounds_strict_deprecations"]),
        scan_first=bool(values["depbounds_scan_first"]),
        strict_scan=bool(values["depbounds_strict_scan"]),
        lookahead=bool(values["depbounds_lookahead"]),
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


def _path_or_url(value: object, path: Callable[[object], Path | None]) -> str | None:
    if not value:
        return None
    text = str(value)
    return text if _is_url(text) else str(path(text))


def _is_url(link: str) -> bool:
    return "://" in link


#: Where pytest reads its configuration in each kind of file: (section or
#: table path, whether TOML).
_INI_SECTIONS = {
    "pytest.ini": ("pytest", False),
    ".pytest.ini": ("pytest", False),
    "tox.ini": ("pytest", False),
    "setup.cfg": ("tool:pytest", False),
    "pytest.toml": ("pytest", True),
    ".pytest.toml": ("pytest", True),
    "pyproject.toml": ("tool.pytest", True),
}


def ini_keys(inipath: Path | None) -> tuple[str, ...]:
    """The keys of pytest's configuration file, as pytest reads them.

    :param inipath: ``config.inipath``.
    :returns: The keys (``[tool.pytest.ini_options]`` and pytest 9's native
        ``[tool.pytest]`` keys for ``pyproject.toml``); none for an unreadable file.
    """
    if inipath is None or inipath.name not in _INI_SECTIONS:
        return ()
    section, is_toml = _INI_SECTIONS[inipath.name]
    try:
        text = inipath.read_text(encoding="utf-8")
        if not is_toml:
            parser = configparser.RawConfigParser()
            parser.read_string(text)
            return tuple(parser.options(section)) if parser.has_section(section) else ()
        table: object = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, configparser.Error, tomllib.TOMLDecodeError):
        return ()
    for part in section.split("."):
        table = table.get(part, {}) if isinstance(table, dict) else {}
    if not isinstance(table, dict):
        return ()
    legacy = table.get("ini_options", {})
    keys = [k for k in table if k != "ini_options"]
    keys += list(legacy) if isinstance(legacy, dict) else []
    return tuple(keys)
