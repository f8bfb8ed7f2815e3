"""The ``pytest11`` entry point: our options, and the session ``--depbounds`` adds."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.options import (
    BOUNDS_HELP,
    OPTIONS,
    asks_for_xdist,
    looks_like_bounds,
    looks_like_requirements_file,
    takes_several_files,
    takes_value,
)

if TYPE_CHECKING:
    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.options import OptionSpec
    from pytest_depbounds.settings import Settings

_INI_TYPES = {"flag": "bool", "list": "args"}

#: Whether the command line (``addopts`` included) asks xdist to distribute.
_XDIST_REQUESTED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--depbounds`` and the ``--depbounds-*`` options and ini keys."""
    group = parser.getgroup("depbounds", "dependency bounds")
    group.addoption(
        "--depbounds",
        action="store",
        nargs="?",
        const="",
        default=None,
        metavar="BOUNDS",
        help=BOUNDS_HELP,
    )
    parser.addini(
        "depbounds",
        "The bounds a bare --depbounds runs (default: lower,upper)",
        default="lower,upper",
    )
    for spec in OPTIONS:
        _add(group, parser, spec)


def _add(group: pytest.OptionGroup, parser: pytest.Parser, spec: OptionSpec) -> None:
    if spec.kind == "flag":
        group.addoption(spec.flag, action="store_true", default=False, help=spec.help)
    else:
        group.addoption(
            spec.flag,
            action="store",
            default=None,
            metavar=spec.metavar,
            choices=spec.choices,
            help=spec.help,
        )
    if spec.has_ini:
        parser.addini(spec.dest, spec.help, type=_INI_TYPES.get(spec.kind, "string"))  # type: ignore[arg-type]


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """On ``--depbounds``, keep the outer session away from the project's code.

    The outer session only orchestrates: it loads no conftest (which may import
    the project), and options that only a conftest defines are left to the inner
    sessions, which receive the original command line.
    """
    if not any(a == "--depbounds" or a.startswith("--depbounds=") for a in args):
        return
    _merge_bounds_value(args)
    _check_path_values(early_config, args)
    _merge_file_lists(args)
    early_config.stash[_XDIST_REQUESTED] = asks_for_xdist(args)
    early_config.known_args_namespace.noconftest = True
    _, unknown = parser.parse_known_and_unknown_args(args)
    for word in unknown:
        if word.startswith("-") and word in args:
            args.remove(word)


def _check_path_values(early_config: pytest.Config, args: list[str]) -> None:
    # pytest picks its rootdir from the paths on the command line before any
    # plugin loads, so the value of ``--depbounds-cache-dir DIR`` counts as a
    # path to test there; with ``=`` it does not.
    invocation = early_config.invocation_params.dir
    for flag, value in itertools.pairwise(args):
        if takes_value(flag) and not value.startswith("-"):
            path = (invocation / value).resolve()
            if path.exists() and invocation not in (path, *path.parents):
                msg = (
                    f"write {flag}={value} (with '='): pytest chooses its rootdir "
                    "from the paths on the command line before plugins load, and "
                    f"{value}, outside {invocation}, would move it"
                )
                raise pytest.UsageError(msg)


def _merge_bounds_value(args: list[str]) -> None:
    # argparse reads ``--depbounds tests/`` as the value ``tests/``: only a bounds
    # word after the flag is its value.
    for index, arg in enumerate(args):
        if arg != "--depbounds":
            continue
        if index + 1 < len(args) and looks_like_bounds(args[index + 1]):
            args[index : index + 2] = [f"--depbounds={args[index + 1]}"]
        else:
            args[index] = "--depbounds="
        return


def _merge_file_lists(args: list[str]) -> None:
    # ``--depbounds-requirements a.txt b.txt``: argparse would take ``b.txt`` for
    # a path to test; the files after the first are values too.
    index = 0
    while index < len(args):
        if not takes_several_files(args[index]):
            index += 1
            continue
        name, has_equals, value = args[index].partition("=")
        values, end = ([value] if has_equals else []), index + 1
        if not has_equals and end < len(args):
            values.append(args[end])
            end += 1
        while end < len(args) and looks_like_requirements_file(args[end]):
            values.append(args[end])
            end += 1
        args[index:end] = [f"{name}={','.join(values)}"]
        index += 1


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--depbounds-check``: run ``depbounds check`` and exit without tests."""
    if not config.getoption("depbounds_check", default=False):
        return None
    from pytest_depbounds.check import check_from_pytest  # noqa: PLC0415

    return check_from_pytest(config, _project_dir(config))


def pytest_configure(config: pytest.Config) -> None:
    """Register the bounds session when ``--depbounds`` is given (not on workers)."""
    value = config.getoption("depbounds")
    if config.getoption("depbounds_verify", None):
        _verify_in_place(config, str(config.getoption("depbounds_verify")), value)
        return
    if value is None or hasattr(config, "workerinput"):
        return
    from pytest_depbounds.session import BoundsSession  # noqa: PLC0415
    from pytest_depbounds.settings import read_settings  # noqa: PLC0415

    _keep_xdist_for_the_inner_sessions(config)
    _leave_plugin_ini_keys_to_the_inner_sessions(config)
    settings = read_settings(config, value or str(config.getini("depbounds")))
    if config.stash.get(_XDIST_REQUESTED, False):
        # ``-n 2`` runs inside each env: pytest-xdist must be installed there.
        settings = dataclasses.replace(
            settings, with_tooling=(*settings.with_tooling, "pytest-xdist")
        )
    config.pluginmanager.register(
        BoundsSession(config, settings, _declaration(config, settings)),
        "depbounds-session",
    )
    from pytest_depbounds.junit import JunitSplitter  # noqa: PLC0415

    config.pluginmanager.register(
        JunitSplitter(config, settings.bounds), "depbounds-junit"
    )


class _InnerIniKeys:
    """Declares ini keys that only plugins in the bound envs know (``asyncio_mode``).

    The outer session collects nothing, so it need not hold the project's test
    plugins; the inner sessions, which hold them, check these keys (under
    ``--strict-config`` too). Registered late, its ``pytest_addoption`` is
    called at once with the session's parser (a historic hook).
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys

    def pytest_addoption(self, parser: pytest.Parser) -> None:
        for key in self.keys:
            parser.addini(key, "Read by the inner sessions (pytest-depbounds)")


def _leave_plugin_ini_keys_to_the_inner_sessions(config: pytest.Config) -> None:
    from pytest_depbounds.settings import ini_keys  # noqa: PLC0415

    unknown = tuple(k for k in ini_keys(config.inipath) if not _known_ini(config, k))
    if unknown:
        config.pluginmanager.register(
            _InnerIniKeys(unknown), "depbounds-inner-ini-keys"
        )


def _known_ini(config: pytest.Config, key: str) -> bool:
    try:
        config.getini(key)
    except ValueError as exc:
        # Only an unknown key: a known one with a bad value stays pytest's to say.
        return "unknown configuration value" not in str(exc)
    return True


def _metadata_cache(config: pytest.Config, cache_dir: Path | None) -> Path | None:
    """Where a build backend's metadata is kept (dynamic dependencies)."""
    if cache_dir is not None:
        return cache_dir / "metadata"
    cache: pytest.Cache | None = getattr(config, "cache", None)
    return cache.mkdir("depbounds") / "metadata" if cache is not None else None


def _declaration(config: pytest.Config, settings: Settings) -> Declaration:
    """The project's declaration, read as every mode of the plugin reads it."""
    from pytest_depbounds.declared import read_declaration  # noqa: PLC0415
    from pytest_depbounds.errors import DepboundsError  # noqa: PLC0415
    from pytest_depbounds.redact import redact  # noqa: PLC0415

    try:
        return read_declaration(
            _project_dir(config),
            extras=settings.extras,
            groups=settings.groups,
            requirements_files=settings.requirements,
            metadata_cache=_metadata_cache(config, settings.cache_dir),
        )
    except DepboundsError as exc:
        raise pytest.UsageError(redact(str(exc))) from None


def _verify_in_place(config: pytest.Config, bound: str, value: str | None) -> None:
    from pytest_depbounds.errors import DepboundsError  # noqa: PLC0415
    from pytest_depbounds.settings import read_settings  # noqa: PLC0415
    from pytest_depbounds.verify import register  # noqa: PLC0415

    if value is not None:
        msg = (
            "--depbounds-verify runs the tests here, in the running env: it does "
            "not combine with --depbounds, which builds one env per bound"
        )
        raise pytest.UsageError(msg)
    settings = read_settings(config, bound)
    declaration = _declaration(config, settings)
    try:
        constraints = (
            settings.lower_constraints
            if bound == "lower"
            else settings.upper_constraints
        )
        register(config, bound, declaration, constraints)
    except DepboundsError as exc:
        raise pytest.UsageError(str(exc)) from None


def _keep_xdist_for_the_inner_sessions(config: pytest.Config) -> None:
    # ``-n 2`` is for the tests inside each env (they get the original command
    # line); xdist's own session must not start in the outer one, which runs no
    # test. Its pytest_configure is trylast: it reads these after us.
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"
        config.option.tx = []
        config.option.numprocesses = None


def _project_dir(config: pytest.Config) -> Path:
    from pytest_depbounds.declared import BUILD_INPUTS  # noqa: PLC0415

    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath.parent
    for folder in (config.rootpath, *config.rootpath.parents):
        # setup.cfg/setup.py: legacy projects (OpenStack) may have no pyproject.
        if any((folder / name).is_file() for name in BUILD_INPUTS):
            return folder
    return Path(config.rootpath)
