"""The ``depbounds`` command: look after the env cache outside a test run."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_depbounds import scan
from pytest_depbounds.envs import list_envs, prune

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_CACHE_DIR = Path(".pytest_cache") / "d" / "depbounds"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``depbounds cache list|prune`` or ``depbounds scan``.

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
                help="Envs kept per bound, most recently used first (default: 1; "
                "0 removes all)",
            )
    scan.add_command(commands)
    args = parser.parse_args(argv)
    if args.command == "scan":
        return scan.run_command(args)
    envs_dir = args.cache_dir / "envs"
    if args.action == "list":
        return _list(envs_dir)
    removed = prune(envs_dir, keep=args.keep)
    for env in removed:
        sys.stdout.write(f"removed {env.path.name} ({_mib(env.size)})\n")
    freed = sum(env.size for env in removed)
    sys.stdout.write(f"{len(removed)} envs removed, {_mib(freed)} freed\n")
    return 0


def _list(envs_dir: Path) -> int:
    envs = list_envs(envs_dir)
    if not envs:
        sys.stdout.write(f"no envs in {envs_dir}\n")
        return 0
    sys.stdout.write(f"{'env':<24} {'size':>9}  last used\n")
    now = time.time()
    for env in envs:
        state = "" if env.complete else "  (incomplete)"
        sys.stdout.write(
            f"{env.path.name:<24} {_mib(env.size):>9}  {_ago(now - env.last_used)}"
            f"{state}\n"
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
