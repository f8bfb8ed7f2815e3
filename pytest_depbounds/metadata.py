"""Dependencies a project computes when it builds, read from its build backend.

``dynamic = ["dependencies"]`` (setuptools reading ``requirements.txt``, a
``setup.py`` that computes ``install_requires``) leaves nothing to read in
``pyproject.toml``: the build backend's own metadata is the truth. It is asked
through PEP 517's ``prepare_metadata_for_build_wheel`` (or a wheel build, for a
backend without it), in an isolated env holding ``[build-system].requires``, as
pip and uv do before an install: ``build`` (PyPA) does exactly that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import hashlib
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.process import exception_line

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Files whose content decides what the backend reports (with the backend itself).
_INPUTS = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackendMetadata:
    """The requirements a build backend reports for the project."""

    #: ``Requires-Dist`` without an ``extra`` marker.
    dependencies: tuple[str, ...]
    #: Extra name → its requirements, the ``extra == ...`` marker removed.
    extras: Mapping[str, tuple[str, ...]]
    #: How a requirement's location reads, e.g. ``setup.py (setuptools.build_meta)``.
    source: str
    #: The project's name (``Name``), which a ``setup.py`` may be alone to know.
    name: str | None = None


def backend_metadata(
    project_dir: Path, build_system: Mapping[str, object], *, cache_dir: Path | None
) -> BackendMetadata:
    """Ask the project's build backend for its requirements, cached by its inputs.

    :param project_dir: The project.
    :param build_system: Its ``[build-system]`` table.
    :param cache_dir: Where the answer is kept until a build input changes.
    :returns: The requirements.
    :raises ConfigurationError: When the backend cannot be set up or fails.
    """
    backend = str(
        build_system.get("build-backend") or "setuptools.build_meta:__legacy__"
    )
    key = _key(project_dir, build_system)
    cached = cache_dir / f"metadata-{key[:16]}.json" if cache_dir else None
    if cached is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(cached.read_text(encoding="utf-8"))
            return _from_text(data["metadata"], _source(project_dir, backend))
    text = _prepare(project_dir, backend)
    if cached is not None:
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({"metadata": text}), encoding="utf-8")
    return _from_text(text, _source(project_dir, backend))


def _prepare(project_dir: Path, backend: str) -> str:
    from build import (  # noqa: PLC0415 - slow imports, only for dynamic metadata
        BuildBackendException,
        BuildException,
        ProjectBuilder,
    )
    from build.env import DefaultIsolatedEnv  # noqa: PLC0415
    from pyproject_hooks import (  # noqa: PLC0415
        BuildBackendWarning,
        quiet_subprocess_runner,
    )

    from pytest_depbounds.installer import (  # noqa: PLC0415
        build_outside_environ,
        find_uv,
    )

    where = f"{project_dir / 'pyproject.toml'}: dynamic dependencies"
    try:
        with (
            # The backend's warnings are about the project's packaging (a
            # deprecated license table), not its bounds: pyproject-hooks would
            # re-raise each in this process, above pytest's own output.
            warnings.catch_warnings(),
            DefaultIsolatedEnv(installer="uv" if find_uv() else "pip") as env,
            tempfile.TemporaryDirectory() as out,
        ):
            warnings.simplefilter("ignore", BuildBackendWarning)
            # setuptools writes ``*.egg-info`` beside the sources: in ours.
            outside = build_outside_environ(Path(out) / "scratch")

            def runner(
                cmd: Sequence[str],
                cwd: str | None = None,
                extra_environ: Mapping[str, str] | None = None,
            ) -> None:
                quiet_subprocess_runner(cmd, cwd, {**(extra_environ or {}), **outside})

            builder = ProjectBuilder.from_isolated_env(env, project_dir, runner=runner)
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("wheel"))
            info = Path(builder.metadata_path(str(Path(out) / "metadata")))
            return (info / "METADATA").read_text(encoding="utf-8")
    except BuildBackendException as exc:
        raise ConfigurationError(
            f"{where}: the build backend {backend} failed: {_why(exc.exception)}"
        ) from None
    except BuildException as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    except (subprocess.SubprocessError, OSError) as exc:
        # Installing [build-system].requires failed, or no metadata was written.
        raise ConfigurationError(
            f"{where}: could not set up the build backend {backend}: {_why(exc)}"
        ) from None


def _why(exc: BaseException) -> str:
    output = getattr(exc, "output", None) or getattr(exc, "stderr", None)
    if isinstance(output, bytes):
        output = output.decode("utf-8", errors="replace")
    lines = [line.strip() for line in str(output or "").splitlines() if line.strip()]
    return exception_line(lines) if lines else str(exc) or type(exc).__name__


def _from_text(text: str, source: str) -> BackendMetadata:
    message = email.parser.Parser().parsestr(text)
    dependencies: list[str] = []
    extras: dict[str, list[str]] = {
        canonicalize_name(e): [] for e in message.get_all("Provides-Extra") or []
    }
    for raw in message.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(raw)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            dependencies.append(raw)
            continue
        for extra, found in extras.items():
            # The rest of the marker is evaluated here, for the running
            # interpreter: uv would otherwise read ``extra`` as unset.
            if marker.evaluate({"extra": extra}):
                requirement.marker = None
                found.append(str(requirement))
    return BackendMetadata(
        name=message.get("Name"),
        dependencies=tuple(dependencies),
        extras={k: tuple(v) for k, v in extras.items()},
        source=source,
    )


def _source(project_dir: Path, backend: str) -> str:
    name = next(
        (f for f in ("setup.py", "setup.cfg") if (project_dir / f).is_file()),
        "pyproject.toml",
    )
    return f"{name} (metadata from {backend.split(':', maxsplit=1)[0]})"


def _key(project_dir: Path, build_system: Mapping[str, object]) -> str:
    digest = hashlib.sha256(json.dumps(build_system, sort_keys=True).encode())
    digest.update(f"{sys.version_info[:2]}".encode())
    for name in _INPUTS:
        with contextlib.suppress(OSError):
            digest.update(name.encode() + (project_dir / name).read_bytes())
    # A backend inside the tree (``backend-path``) is an input too.
    for entry in build_system.get("backend-path") or ():  # type: ignore[attr-defined]
        folder = project_dir / str(entry)
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
            digest.update(path.read_bytes())
    return digest.hexdigest()
