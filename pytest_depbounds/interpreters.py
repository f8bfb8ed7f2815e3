"""Find the interpreter each env is built from."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import packaging
from packaging.markers import default_environment

from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.process import ExecuteRequest, child_environ, execute

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Run by another interpreter with our packaging on its path: its marker values.
_MARKERS_SCRIPT = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); "
    "from packaging.markers import default_environment; "
    "print(json.dumps(default_environment()))"
)
#: Seconds an interpreter may take to print its marker values.
_MARKERS_TIMEOUT = 60


@dataclasses.dataclass(frozen=True, kw_only=True)
class Interpreter:
    """A base interpreter: what envs are created from and resolved for."""

    executable: str
    implementation: str
    version: str

    @property
    def label(self) -> str:
        """How reports name it, e.g. ``CPython 3.11.7``."""
        return f"{self.implementation} {self.version}"

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker values of this interpreter (not of the one running us).

        Computed once per interpreter by running it with our ``packaging`` on its
        path; the running interpreter answers in-process.

        :returns: ``python_version``, ``sys_platform`` and the other marker names.
        """
        return dict(_marker_environment(self.executable, self.version))


def current() -> Interpreter:
    """The interpreter running pytest (the default for every env)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Interpreter(
        executable=base if Path(base).exists() else sys.executable,
        implementation=platform.python_implementation(),
        version=platform.python_version(),
    )


def find(spec: str | None) -> Interpreter:
    """Find an interpreter by path or version, as virtualenv's ``--python`` does.

    Besides PATH, pyenv's versions are searched, since pyenv shims of versions
    that are not active do not run.

    :param spec: A path, a version such as ``3.10``, or ``None`` for the current.
    :returns: The interpreter.
    :raises ConfigurationError: When nothing matches.
    """
    if not spec:
        return current()
    from virtualenv.discovery.builtin import get_interpreter  # noqa: PLC0415

    candidates = [spec, *_pyenv_candidates(spec)]
    for candidate in candidates:
        info = get_interpreter(candidate, [], env=os.environ)
        if info is not None:
            return Interpreter(
                executable=str(info.system_executable or info.executable),
                implementation=str(info.implementation),
                version=".".join(str(part) for part in info.version_info[:3]),
            )
    raise ConfigurationError(
        f"--depbounds-python={spec}: no such interpreter on PATH or under pyenv"
    )


def _pyenv_candidates(spec: str) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not root.is_dir() or os.sep in spec:
        return []
    wanted = spec.removeprefix("python")
    found = [
        str(version / "bin" / "python")
        for version in sorted(root.iterdir(), reverse=True)
        if version.name == wanted or version.name.startswith(f"{wanted}.")
    ]
    return [path for path in found if Path(path).exists()]


@functools.cache
def _marker_environment(executable: str, version: str) -> Mapping[str, str]:
    running = getattr(sys, "_base_executable", None) or sys.executable
    if os.path.realpath(executable) in {
        os.path.realpath(running),
        os.path.realpath(sys.executable),
    }:
        return _outer_environment()
    # -I: neither the user's site nor PYTHONPATH may shadow our packaging.
    library = str(Path(packaging.__file__).parent.parent)
    outcome = execute(
        ExecuteRequest(
            argv=(executable, "-I", "-c", _MARKERS_SCRIPT, library),
            env=child_environ(os.environ),
            timeout=_MARKERS_TIMEOUT,
        )
    )
    try:
        found = json.loads(outcome.stdout) if outcome.ok else None
    except ValueError:
        found = None
    if isinstance(found, dict):
        return {str(k): str(v) for k, v in found.items()}
    # An interpreter too old for our packaging: its version at least is known.
    short = ".".join(version.split(".")[:2])
    return {
        **_outer_environment(),
        "python_version": short,
        "python_full_version": version,
        "implementation_version": version,
    }


def _outer_environment() -> dict[str, str]:
    return {str(k): str(v) for k, v in default_environment().items()}
