"""Find the interpreter each env is built from."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_depbounds.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping


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

        Asked once per interpreter (:func:`target`); for an interpreter too old
        to run our ``packaging``, the running one's values with this version.

        :returns: ``python_version``, ``sys_platform`` and the other marker names.
        """
        from packaging.markers import default_environment  # noqa: PLC0415

        markers = target(self).markers
        if markers:
            return {str(k): str(v) for k, v in markers.items()}
        fallback = {str(k): str(v) for k, v in default_environment().items()}
        fallback["python_version"] = ".".join(self.version.split(".")[:2])
        fallback["python_full_version"] = self.version
        fallback["implementation_version"] = self.version
        return fallback


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


# -- what an interpreter accepts, and which interpreter each bound uses --------

#: Run inside the target interpreter with our ``packaging`` on its path.
_PROBE = """
import json, platform, sys
from packaging.markers import default_environment
from packaging.tags import sys_tags
print(json.dumps({
    "tags": [str(tag) for tag in sys_tags()],
    "markers": default_environment(),
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
}))
"""

#: The oldest Python virtualenv still creates envs for: the floor of ``oldest``.
OLDEST_SUPPORTED = (3, 8)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """What decides whether a file installs on an interpreter."""

    #: Its wheel tags, most specific first (``packaging.tags.sys_tags`` there).
    #: Empty when it could not be asked: then tags are not checked.
    tags: tuple[str, ...]
    #: Its full version, checked against ``Requires-Python``.
    python_version: str
    #: e.g. ``CPython 3.11``, as findings name it.
    label: str
    #: Its PEP 508 marker environment; empty when it could not be asked.
    markers: Mapping[str, str] = dataclasses.field(default_factory=dict)


_targets: dict[tuple[str, float], Target] = {}


def target(interpreter: Interpreter) -> Target:
    """Ask an interpreter for its wheel tags, once per interpreter.

    Runs it with our ``packaging`` on ``PYTHONPATH``: the tags of the env's
    interpreter, not of the one running pytest, decide which wheels install.

    :param interpreter: The base interpreter of an env.
    :returns: Its tags and version; no tags when it cannot run our packaging.
    """
    import packaging  # noqa: PLC0415

    from pytest_depbounds.process import (  # noqa: PLC0415 - no cycle at import
        ExecuteRequest,
        child_environ,
        execute,
    )

    try:
        stamp = Path(interpreter.executable).stat().st_mtime
    except OSError:
        stamp = 0.0
    key = (interpreter.executable, stamp)
    if key in _targets:
        return _targets[key]
    major_minor = ".".join(interpreter.version.split(".")[:2])
    label = f"{interpreter.implementation} {major_minor}"
    site = str(Path(packaging.__file__).parent.parent)
    outcome = execute(
        ExecuteRequest(
            argv=(interpreter.executable, "-c", _PROBE),
            env=child_environ(os.environ, python_path=site),
            timeout=60,
        )
    )
    tags: tuple[str, ...] = ()
    markers: dict[str, str] = {}
    if outcome.ok:
        try:
            data = json.loads(outcome.stdout.strip().splitlines()[-1])
            tags, markers = tuple(data["tags"]), dict(data["markers"])
        except (ValueError, KeyError, IndexError, TypeError):
            tags, markers = (), {}
    found = Target(
        tags=tags, python_version=interpreter.version, label=label, markers=markers
    )
    _targets[key] = found
    return found


def parse_python_option(value: str | None) -> dict[str, str | None]:
    """Read ``--depbounds-python``: one interpreter for every env, or one per bound.

    :param value: ``3.11``, a path, ``oldest``, or ``lower=3.10,upper=3.12``.
    :returns: ``{"lower": spec, "upper": spec}``; ``None`` is the current one.
    :raises ConfigurationError: On an unknown bound name.
    """
    if not value or "=" not in value:
        return {"lower": value or None, "upper": value or None}
    chosen: dict[str, str | None] = {"lower": None, "upper": None}
    for part in value.split(","):
        bound, sep, spec = part.partition("=")
        bound = bound.strip().lower()
        if not sep or bound not in chosen or not spec.strip():
            raise ConfigurationError(
                f"--depbounds-python={value}: use a path or version for every env, "
                "or lower=SPEC,upper=SPEC (SPEC: a path, 3.X or oldest)"
            )
        chosen[bound] = spec.strip()
    return chosen


def find_for(spec: str | None, requires_python: str | None) -> Interpreter:
    """Find a bound's interpreter: :func:`find`, plus the word ``oldest``.

    :param spec: A path, a version, ``oldest``, or ``None`` for the current one.
    :param requires_python: The project's ``requires-python``, for ``oldest``.
    :returns: The interpreter.
    :raises ConfigurationError: When nothing matches.
    """
    if spec is None or spec.strip().lower() != "oldest":
        return find(spec)
    return oldest(requires_python)


def oldest(requires_python: str | None) -> Interpreter:
    """The oldest interpreter on this machine the project's ``requires-python`` admits.

    Looks on PATH, under pyenv and among uv-managed interpreters, from 3.8 up.

    :param requires_python: The project's ``requires-python`` (``None``: any).
    :returns: The interpreter.
    :raises ConfigurationError: When none is found.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # noqa: PLC0415

    try:
        admitted = SpecifierSet(requires_python or "")
    except InvalidSpecifier:
        raise ConfigurationError(
            f"requires-python {requires_python!r} is not a valid specifier"
        ) from None
    candidates = sorted(_installed_pythons().items())
    for version, executable in candidates:
        if version[:2] < OLDEST_SUPPORTED:
            continue
        text = ".".join(str(part) for part in version)
        if not admitted.contains(text, prereleases=True):
            continue
        with contextlib.suppress(ConfigurationError):
            return find(executable)
    raise ConfigurationError(
        "--depbounds-python=oldest: no interpreter found on PATH, under pyenv or "
        f"among uv's that requires-python {requires_python or '(any)'} admits "
        f"(from {'.'.join(map(str, OLDEST_SUPPORTED))} on)"
    )


def _installed_pythons() -> dict[tuple[int, ...], str]:
    """Interpreters found without running each: version → executable."""
    found: dict[tuple[int, ...], str] = {}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        for folder in root.iterdir():
            version = _version_tuple(folder.name)
            executable = folder / "bin" / "python"
            if version and executable.exists():
                found.setdefault(version, str(executable))
    for entry in _uv_pythons():
        found.setdefault(*entry)
    for minor in range(OLDEST_SUPPORTED[1], 20):
        path = shutil.which(f"python3.{minor}")
        if path and ".pyenv/shims" not in path:
            found.setdefault((3, minor), path)
    return found


def _uv_pythons() -> list[tuple[tuple[int, ...], str]]:
    from pytest_depbounds.installer import find_uv  # noqa: PLC0415 - no cycle
    from pytest_depbounds.process import (  # noqa: PLC0415
        ExecuteRequest,
        child_environ,
        execute,
    )

    uv = find_uv()
    if uv is None:
        return []
    argv = (uv, "python", "list", "--only-installed", "--output-format", "json")
    outcome = execute(
        ExecuteRequest(argv=argv, env=child_environ(os.environ), timeout=60)
    )
    if not outcome.ok:
        return []
    try:
        items = json.loads(outcome.stdout)
    except ValueError:
        return []
    found = []
    for item in items:
        version = _version_tuple(str(item.get("version", "")))
        path = item.get("path")
        if version and path and item.get("implementation", "cpython") == "cpython":
            found.append((version, str(path)))
    return found


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:3]):  # noqa: PLR2004
        return None
    return tuple(int(p) for p in parts[:3])
