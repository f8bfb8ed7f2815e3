"""Find the interpreter each env is built from."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from pathlib import Path

from pytest_depbounds.errors import ConfigurationError


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
