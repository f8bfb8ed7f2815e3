"""The table of our command-line options and ini keys, shared by both sessions.

Stdlib only: the inner session receives this table as JSON and registers every
entry as an ignored option, so ``addopts = --depbounds`` or a ``depbounds_*`` ini
key in the project's configuration never breaks the run inside an env.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["flag", "value", "list", "int", "float"]

#: The bounds a bare ``--depbounds`` runs.
ALL_BOUNDS = ("lower", "upper")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptionSpec:
    """One ``--depbounds-*`` flag and the ini key that shares its help text."""

    flag: str
    kind: Kind
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    has_ini: bool = True
    #: Words after the value that look like requirements files are values too
    #: (``--depbounds-requirements requirements.txt test-requirements.txt``).
    several_files: bool = False

    @property
    def dest(self) -> str:
        """The argparse dest and ini key: ``--depbounds-find-links`` → ``depbounds_find_links``."""  # noqa: E501
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def takes_value(self) -> bool:
        """Whether the flag consumes the next argument."""
        return self.kind != "flag"


BOUNDS_HELP = (
    "Re-run the session at the lower and/or upper bound of the declared dependency "
    "ranges: --depbounds, --depbounds=lower or --depbounds=upper"
)

OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        flag="--depbounds-extras",
        kind="list",
        metavar="EXTRA,...",
        help="Extras of the project whose requirements are tested too",
    ),
    OptionSpec(
        flag="--depbounds-groups",
        kind="list",
        metavar="GROUP,...",
        help="PEP 735 dependency groups installed too (default: test, tests, testing)",
    ),
    OptionSpec(
        flag="--depbounds-requirements",
        kind="list",
        metavar="FILE,...",
        help="Requirements files whose requirements (-r) and constraints (-c) are "
        "declared too, e.g. requirements.txt test-requirements.txt",
        several_files=True,
    ),
    OptionSpec(
        flag="--depbounds-with",
        kind="list",
        metavar="PKG,...",
        help="More test tooling to install, at its newest compatible version",
    ),
    OptionSpec(
        flag="--depbounds-index-url",
        kind="value",
        metavar="URL",
        help="Package index for resolution and installs (default: PIP_INDEX_URL)",
    ),
    OptionSpec(
        flag="--depbounds-extra-index-url",
        kind="list",
        metavar="URL,...",
        help="Extra package indexes (default: PIP_EXTRA_INDEX_URL)",
    ),
    OptionSpec(
        flag="--depbounds-find-links",
        kind="list",
        metavar="DIR_OR_URL,...",
        help="Directories or pages of distributions (default: PIP_FIND_LINKS)",
    ),
    OptionSpec(
        flag="--depbounds-no-index",
        kind="flag",
        help="Use only --depbounds-find-links, never a package index",
    ),
    OptionSpec(
        flag="--depbounds-python",
        kind="value",
        metavar="PATH_OR_VERSION",
        help="Interpreter of the envs: a path, 3.X or oldest (the oldest one "
        "requires-python admits), or per bound: lower=3.10,upper=3.12 "
        "(default: the one running pytest)",
    ),
    OptionSpec(
        flag="--depbounds-strategy",
        kind="value",
        choices=("lowest-direct", "lowest"),
        help="Lower bound: lowest-direct (direct dependencies at their minimum, "
        "the default) or lowest (transitive ones too; needs uv)",
    ),
    OptionSpec(
        flag="--depbounds-strict-lower",
        kind="flag",
        help="Fail the lower bound when a declared minimum does not install",
    ),
    OptionSpec(
        flag="--depbounds-lower-constraints",
        kind="value",
        metavar="FILE",
        help="Pins of the lower bound (pip freeze format), instead of computing them",
    ),
    OptionSpec(
        flag="--depbounds-upper-constraints",
        kind="value",
        metavar="FILE_OR_URL",
        help="Constraints of the upper bound (pip -c), a file or an http(s) URL",
    ),
    OptionSpec(
        flag="--depbounds-installer",
        kind="value",
        choices=("uv", "pip"),
        help="Engine that resolves and installs: uv (default) or pip",
    ),
    OptionSpec(
        flag="--depbounds-report",
        kind="value",
        metavar="PATH",
        help="Write the per-bound results as JSON to this file",
    ),
    OptionSpec(
        flag="--depbounds-cache-dir",
        kind="value",
        metavar="DIR",
        help="Where envs and resolutions are kept (default: pytest's cache dir)",
    ),
    OptionSpec(
        flag="--depbounds-rebuild",
        kind="flag",
        has_ini=False,
        help="Rebuild the envs and resolve again even if nothing changed",
    ),
    OptionSpec(
        flag="--depbounds-refresh",
        kind="value",
        metavar="SECONDS",
        help="Reuse the upper bound's last pins without looking for new "
        "releases while they are younger than this (default: 0, look on "
        "every run)",
    ),
    OptionSpec(
        flag="--depbounds-offline",
        kind="flag",
        help="Use only cached resolutions and distributions, never the network",
    ),
    OptionSpec(
        flag="--depbounds-timeout",
        kind="float",
        metavar="SECONDS",
        help="Stop a bound's inner pytest session after this many seconds",
    ),
    OptionSpec(
        flag="--depbounds-jobs",
        kind="int",
        metavar="N",
        help="Bounds prepared and run at once (default: the number of bounds, "
        "capped by the CPU count)",
    ),
    OptionSpec(
        flag="--depbounds-freeze",
        kind="value",
        metavar="DIR",
        help="Write DIR/lower-constraints.txt and DIR/upper-constraints.txt from "
        "what each bound's env holds (merged across interpreters)",
    ),
    OptionSpec(
        flag="--depbounds-freeze-all",
        kind="flag",
        help="Keep the project and the test tooling in the --depbounds-freeze files",
    ),
    OptionSpec(
        flag="--depbounds-check",
        kind="flag",
        has_ini=False,
        help="Check the declared ranges and constraints files statically "
        "(depbounds check) and exit without running tests",
    ),
    OptionSpec(
        flag="--depbounds-verify",
        kind="value",
        metavar="BOUND",
        choices=("lower", "upper"),
        has_ini=False,
        help="Build no env: check that the running env holds the bound's pins, "
        "then run the tests here with attribution (tox in-place mode)",
    ),
    OptionSpec(
        flag="--depbounds-strict-deprecations",
        kind="flag",
        help="Fail a bound whose tests use a deprecated dependency API",
    ),
    OptionSpec(
        flag="--depbounds-scan-first",
        kind="flag",
        help="Check statically, before building envs, that the symbols and keywords "
        "the project uses exist at each dependency's floor and newest version",
    ),
    OptionSpec(
        flag="--depbounds-strict-scan",
        kind="flag",
        help="Fail a bound when the static scan finds a use missing at it",
    ),
    OptionSpec(
        flag="--depbounds-lookahead",
        kind="flag",
        help="With --depbounds-upper-constraints, also test the newest releases the "
        "ranges admit and report what would break there, without failing the run",
    ),
    OptionSpec(
        flag="--depbounds-editable",
        kind="flag",
        help="Install the project editable, so source edits need no reinstall",
    ),
    OptionSpec(
        flag="--depbounds-bisect",
        kind="flag",
        help="Bisect each culprit's released versions for the true bound, running "
        "only the failing tests",
    ),
    OptionSpec(
        flag="--depbounds-localize",
        kind="value",
        choices=("auto", "yes", "no"),
        help="Find the culprit dists of a failing bound by moving one direct "
        "dependency at a time: auto (default: when attribution is inconclusive), "
        "yes or no",
    ),
    OptionSpec(
        flag="--depbounds-fix",
        kind="flag",
        has_ini=False,
        help="Raise the failing lower bounds in pyproject.toml and requirements "
        "files in place, and print the diff",
    ),
)


def takes_value(arg: str) -> bool | None:
    """Say whether a command-line word is one of our flags and whether it takes a value.

    :param arg: One word of the command line, e.g. ``--depbounds-python``.
    :returns: ``None`` when the word is not ours, else whether the value follows.
    """
    name, has_equals, _ = arg.partition("=")
    if name == "--depbounds":
        return False
    for spec in OPTIONS:
        if spec.flag == name:
            return spec.takes_value and not has_equals
    return None


def strip_our_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Remove our flags and their values from a command line.

    :param args: The command line as pytest received it.
    :returns: The same words without any ``--depbounds*`` option.
    """
    kept: list[str] = []
    skip_next = more_files = False
    for index, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if more_files and looks_like_requirements_file(arg):
            continue
        more_files = False
        consumes = takes_value(arg)
        if arg == "--depbounds" and index + 1 < len(args):
            # ``--depbounds lower`` is how argparse reads ``--depbounds=lower``.
            consumes = looks_like_bounds(args[index + 1])
        if consumes is None:
            kept.append(arg)
        else:
            skip_next = consumes
            more_files = takes_several_files(arg)
    return kept


def forwarded_args(args: list[str] | tuple[str, ...], *, xdist: bool) -> list[str]:
    """The command line an inner session receives.

    :param args: The command line as pytest received it.
    :param xdist: Whether the inner session's env holds pytest-xdist.
    :returns: The words without our options, and without the switches that keep
        xdist off (``-n 0``) where xdist is not installed, which would reject them.
    """
    kept = strip_our_args(args)
    return kept if xdist else drop_xdist_off(kept)


def takes_several_files(arg: str) -> bool:
    """Say whether a word is a flag whose value may go on over several files.

    :param arg: One word of the command line.
    :returns: True for ``--depbounds-requirements`` (with or without ``=``).
    """
    name = arg.partition("=")[0]
    return any(spec.flag == name and spec.several_files for spec in OPTIONS)


def looks_like_requirements_file(word: str) -> bool:
    """Say whether a command-line word names a requirements file.

    :param word: A command-line word.
    :returns: True for ``*.txt`` and ``*.in`` that are not options.
    """
    return not word.startswith("-") and word.endswith((".txt", ".in"))


def looks_like_bounds(word: str) -> bool:
    """Say whether a word is a value of ``--depbounds`` (``lower``, ``upper,lower``).

    :param word: A command-line word.
    :returns: True when every comma-separated part names a bound.
    """
    parts = [p.strip().lower() for p in word.split(",")]
    return bool(word) and all(p in {*ALL_BOUNDS, "all", "both"} for p in parts)


def asks_for_xdist(args: list[str] | tuple[str, ...]) -> bool:
    """Say whether a command line asks pytest-xdist to distribute the tests.

    :param args: The command line, ``addopts`` included.
    :returns: True on ``-n N``, ``-nN``, ``--numprocesses`` or ``--dist`` other
        than ``no``.
    """
    for index, arg in enumerate(args):
        if arg in {"-n", "--numprocesses", "--dist"}:
            value = args[index + 1] if index + 1 < len(args) else ""
        elif arg.startswith(("--numprocesses=", "--dist=")):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-n") and not arg.startswith("--"):
            value = arg[2:]
        else:
            continue
        if value not in {"0", "no"}:
            return True
    return False


def drop_xdist_off(args: list[str] | tuple[str, ...]) -> list[str]:
    """Remove the switches that keep pytest-xdist off (``-n 0``, ``--dist no``).

    An env without pytest-xdist rejects them as unknown options, while without
    them the session runs unchanged: they are the default.

    :param args: A command line that does not ask xdist to distribute.
    :returns: The same words without those switches and their values.
    """
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in {"-n", "--numprocesses", "--dist"}:
            skip_next = True
        elif not arg.startswith(("--numprocesses=", "--dist=", "-n")):
            kept.append(arg)
    return kept
