"""The ``depbounds`` command: the env cache, ``check`` and ``coinstall``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pytest_depbounds import scan
from pytest_depbounds.envs import PROBE_FAMILY, list_envs, prune, prune_runs
from pytest_depbounds.errors import DepboundsError
from pytest_depbounds.installer import IndexSettings, add_index_arguments

if TYPE_CHECKING:
    from collections.abc import Sequence

    _Commands = argparse._SubParsersAction[argparse.ArgumentParser]  # noqa: SLF001

DEFAULT_CACHE_DIR = Path(".pytest_cache") / "d" / "depbounds"

#: Exit code of ``check`` and ``coinstall`` on a usage error (argparse's own).
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``depbounds cache list|prune``, ``check``, ``coinstall`` or ``scan``.

    :param argv: Arguments without the program name (default: ``sys.argv``).
    :returns: The exit code.
    """
    parser = argparse.ArgumentParser(prog="depbounds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cache = commands.add_parser("cache", help="Show or remove cached bound envs")
    actions = cache.add_subparsers(dest="action", required=True)
    for name, text in (("list", "Show every env"), ("prune", "Remove old envs")):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--cache-dir",
            type=Path,
            default=DEFAULT_CACHE_DIR,
            help="The depbounds cache dir (default: %(default)s)",
        )
        if name == "prune":
            action.add_argument(
                "--keep",
                type=int,
                default=1,
                help="Envs kept per bound, most recently used first, and probe "
                "envs of bisection of the last N runs (default: 1; 0 removes all)",
            )
    _add_check(commands)
    _add_coinstall(commands)
    scan.add_command(commands)
    args = parser.parse_args(argv)
    if args.command in {"check", "scan"} and args.project.is_file():
        # ``-r a.txt b.txt``: argparse took b.txt for the project folder.
        sys.stderr.write(
            f"depbounds {args.command}: {args.project} is a file, not a project "
            "folder; give each requirements file its own -r (-r a.txt -r b.txt)\n"
        )
        return EXIT_USAGE
    if args.command == "check":
        return run_check_command(args)
    if args.command == "coinstall":
        return _coinstall(args)
    if args.command == "scan":
        return scan.run_command(args)
    envs_dir = args.cache_dir / "envs"
    if args.action == "list":
        return _list(envs_dir)
    removed = prune(envs_dir, keep=args.keep, families=(PROBE_FAMILY,))
    # Each probe env is its own bound: kept by run, as the run itself keeps them.
    removed += prune_runs(envs_dir, family=PROBE_FAMILY, used=None, keep=args.keep)
    for env in removed:
        sys.stdout.write(f"removed {env.path.name} ({_mib(env.size)})\n")
    freed = sum(env.size for env in removed)
    sys.stdout.write(f"{len(removed)} envs removed, {_mib(freed)} freed\n")
    return 0


def _add_index_options(command: argparse.ArgumentParser) -> None:
    add_index_arguments(command)
    command.add_argument(
        "--python", help="Interpreter resolved for (default: the running one)"
    )
    command.add_argument("--format", choices=("text", "json"), default="text")


def _add_check(commands: _Commands) -> None:
    from pytest_depbounds.check import RULES  # noqa: PLC0415

    rules = "; ".join(f"{rule.id}: {rule.summary}" for rule in RULES)
    check = commands.add_parser(
        "check",
        help="Check declared ranges and constraints files, statically",
        description=f"Rules: {rules}. Exit 0 clean, 1 violations, 2 usage error.",
    )
    check.add_argument(
        "project", nargs="?", type=Path, default=Path(), help="Project folder"
    )
    check.add_argument(
        "-r",
        "--requirements",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="Requirements file checked too (repeatable), e.g. requirements.txt",
    )
    check.add_argument(
        "--lower-constraints",
        type=Path,
        metavar="FILE",
        help="Pins of the lower bound (A11-A13)",
    )
    check.add_argument(
        "--upper-constraints",
        type=_path_or_url,
        metavar="FILE_OR_URL",
        help="Pins of the upper bound (B2, B10)",
    )
    check.add_argument(
        "--global-requirements",
        type=Path,
        metavar="FILE",
        help="The shared policy: the only exclusions and caps allowed (A6)",
    )
    check.add_argument(
        "--enable", action="append", default=[], metavar="RULE", help="Turn a rule on"
    )
    check.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE",
        help="Turn a rule off",
    )
    check.add_argument(
        "--resolve",
        action="store_true",
        help="Also resolve the floors together (A14; asks the package index)",
    )
    _add_index_options(check)


def _add_coinstall(commands: _Commands) -> None:
    coinstall = commands.add_parser(
        "coinstall",
        help="Resolve several projects together and name each conflict",
        description="Exit 0 when the projects install together, 1 on a conflict, "
        "2 on a usage error.",
    )
    coinstall.add_argument("projects", nargs="+", type=Path, metavar="PATH")
    coinstall.add_argument(
        "-c",
        "--constraint",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="Upper-constraints file of the upper resolution (repeatable)",
    )
    coinstall.add_argument(
        "--mode",
        choices=("upper", "floors", "both"),
        default="both",
        help="Resolve at the upper constraints, at the floors, or both (default: both)",
    )
    _add_index_options(coinstall)


def _path_or_url(value: str) -> Path | str:
    return value if "://" in value else Path(value)


def run_check_command(args: argparse.Namespace) -> int:
    """Run ``depbounds check`` with parsed arguments.

    :param args: The parsed command line.
    :returns: 0 clean, 1 violations, 2 usage error.
    """
    from pytest_depbounds.check import (  # noqa: PLC0415
        format_text,
        read_config,
        run_check,
    )

    try:
        config = read_config(
            args.project,
            requirements=args.requirements,
            lower_constraints=args.lower_constraints,
            upper_constraints=args.upper_constraints,
            global_requirements=args.global_requirements,
            enable=args.enable,
            disable=args.disable,
            resolve=args.resolve,
        )
        result = run_check(
            config,
            index=IndexSettings.from_arguments(args, os.environ),
            python=args.python,
        )
    except DepboundsError as exc:
        sys.stderr.write(f"depbounds check: {exc}\n")
        return EXIT_USAGE
    if args.format == "json":
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(format_text(result))
    return 1 if result.violations else 0


def _coinstall(args: argparse.Namespace) -> int:
    from pytest_depbounds.coinstall import (  # noqa: PLC0415
        Mode,
        find_conflicts,
        read_project,
    )

    modes = cast(
        "tuple[Mode, ...]",
        ("upper", "floors") if args.mode == "both" else (args.mode,),
    )
    try:
        projects = [read_project(path) for path in args.projects]
        conflicts = find_conflicts(
            projects,
            modes=modes,
            constraints=args.constraint,
            index=IndexSettings.from_arguments(args, os.environ),
            python=args.python,
        )
    except DepboundsError as exc:
        sys.stderr.write(f"depbounds coinstall: {exc}\n")
        return EXIT_USAGE
    names = ", ".join(p.name for p in projects)
    if args.format == "json":
        data = {
            "projects": [p.name for p in projects],
            "modes": list(modes),
            "conflicts": [c.as_json() for c in conflicts],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        for conflict in conflicts:
            sys.stdout.write("\n".join(conflict.lines()) + "\n")
        if not conflicts:
            sys.stdout.write(f"{names}: install together ({', '.join(modes)})\n")
        else:
            sys.stdout.write(f"{len(conflicts)} conflicts among {names}\n")
    return 1 if conflicts else 0


def _list(envs_dir: Path) -> int:
    envs = list_envs(envs_dir)
    if not envs:
        sys.stdout.write(f"no envs in {envs_dir}\n")
        return 0
    width = max(len("env"), *(len(env.path.name) for env in envs))
    sys.stdout.write(f"{'env':<{width}} {'size':>9}  last used\n")
    now = time.time()
    for env in envs:
        state = "" if env.complete else "  (incomplete)"
        sys.stdout.write(
            f"{env.path.name:<{width}} {_mib(env.size):>9}  "
            f"{_ago(now - env.last_used)}{state}\n"
        )
    total = sum(env.size for env in envs)
    sys.stdout.write(f"{len(envs)} envs, {_mib(total)} in {envs_dir}\n")
    return 0


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _ago(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit} ago"
    return "just now"


if __name__ == "__main__":
    sys.exit(main())
