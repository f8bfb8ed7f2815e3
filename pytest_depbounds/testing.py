"""Tiny wheels and projects for tests and demos, written with ``zipfile``.

Used by our own test suite and by the bundled example to build a local package
index of fake libraries: several versions, with symbols added and removed
between them. No build backend is involved.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import textwrap
import zipfile
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

#: A PEP 517 backend in one stdlib-only file, for projects built offline in tests:
#: it packs every top-level package folder, and metadata from ``[project]``.
INTREE_BACKEND = '''\
"""Minimal in-tree PEP 517 backend for pytest-depbounds tests."""
import base64, hashlib, os, zipfile
try:
    import tomllib
except ImportError:
    import tomli as tomllib

def _meta():
    with open("pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return project["name"], project["version"]

def _files():
    for top in sorted(os.listdir(".")):
        if os.path.isfile(os.path.join(top, "__init__.py")):
            for root, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for f in sorted(files):
                    if not f.endswith(".pyc"):
                        yield os.path.join(root, f).replace(os.sep, "/")

def _build(wheel_directory, editable):
    name, version = _meta()
    dist = name.replace("-", "_").replace(".", "_").lower()
    filename = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    entries = []
    if editable:
        entries.append((f"_{dist}_editable.pth", os.path.abspath(".") + "\\n"))
    else:
        for path in _files():
            with open(path, encoding="utf-8") as f:
                entries.append((path, f.read()))
    entries.append((f"{info}/METADATA",
                    f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"))
    entries.append((f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: intree\\n"
                    "Root-Is-Purelib: true\\nTag: py3-none-any\\n"))
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, text in entries:
            data = text.encode()
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
            record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
    return filename

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _build(wheel_directory, editable=False)

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _build(wheel_directory, editable=True)

def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("no sdist for test projects")
'''


#: A PEP 517 backend whose every hook fails, as an old sdist that no longer
#: builds (its message is the last line of the build's error).
FAILING_BACKEND = """\
def _fail(*args, **kwargs):
    raise RuntimeError("cannot compile _speedups.c: Cython 3 is not supported")

build_wheel = build_sdist = prepare_metadata_for_build_wheel = _fail

def get_requires_for_build_wheel(config_settings=None):
    return []
"""

#: A PEP 517 backend whose metadata prepares (from ``PKG-INFO``) but whose wheel
#: does not build, as an old sdist whose C extension no longer compiles: a
#: resolver accepts it, only installing it fails.
WHEEL_FAILING_BACKEND = """\
import os

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    name = fields["Name"].replace("-", "_").replace(".", "_").lower()
    info = name + "-" + fields["Version"] + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, info))
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write(text)
    return info

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("cannot compile _speedups.c: Cython 3 is not supported")

build_sdist = build_wheel
"""


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{path},sha256={digest.decode()},{len(data)}"


def _metadata(
    name: str,
    version: str,
    requires: Sequence[str],
    requires_python: str | None,
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
) -> Path:
    """Write a wheel holding the given source files.

    :param directory: Where the wheel goes (a find-links folder).
    :param name: Distribution name.
    :param version: Its version.
    :param files: Archive path → text, e.g. ``{"fakelib/__init__.py": "..."}``.
    :param requires: ``Requires-Dist`` entries.
    :param requires_python: ``Requires-Python``, if any.
    :param tag: The wheel's compatibility tag.
    :returns: The wheel's path.
    """
    dist = canonicalize_name(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    entries = {path: textwrap.dedent(text) for path, text in files.items()}
    entries[f"{info}/METADATA"] = _metadata(name, version, requires, requires_python)
    entries[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: pytest-depbounds\n"
        f"Root-Is-Purelib: true\nTag: {tag}\n"
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dist}-{version}-{tag}.whl"
    record: list[str] = []
    with zipfile.ZipFile(path, "w") as archive:
        for archive_path, text in sorted(entries.items()):
            data = text.encode()
            archive.writestr(archive_path, data)
            record.append(_record_line(archive_path, data))
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def write_sdist(
    directory: Path,
    name: str,
    version: str,
    setup_py: str,
    *,
    files: Mapping[str, str] | None = None,
    backend: str | None = None,
    requires_python: str | None = None,
    static_metadata: bool = False,
) -> Path:
    """Write an sdist whose ``setup.py`` is given (e.g. one that fails to build).

    :param directory: Where the sdist goes.
    :param name: Distribution name.
    :param version: Its version.
    :param setup_py: The text of its ``setup.py``.
    :param files: More files inside the sdist.
    :param backend: The text of an in-tree PEP 517 backend (e.g.
        :data:`FAILING_BACKEND`), built without any download.
    :param requires_python: ``Requires-Python`` of its ``PKG-INFO``.
    :param static_metadata: Write metadata 2.2 without dynamic fields (PEP 643),
        which a resolver reads without building the sdist.
    :returns: The sdist's path.
    """
    dist = canonicalize_name(name).replace("-", "_")
    root = f"{dist}-{version}"
    pkg_info = _metadata(name, version, (), requires_python)
    if static_metadata:
        pkg_info = pkg_info.replace("Metadata-Version: 2.1", "Metadata-Version: 2.2")
    entries = {
        "setup.py": textwrap.dedent(setup_py),
        "PKG-INFO": pkg_info,
        **(files or {}),
    }
    if backend is not None:
        entries["_sdist_backend.py"] = backend
        entries["pyproject.toml"] = (
            '[build-system]\nrequires = []\nbuild-backend = "_sdist_backend"\n'
            'backend-path = ["."]\n'
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for archive_path, text in sorted(entries.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{archive_path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_project(
    directory: Path,
    name: str,
    *,
    dependencies: Sequence[str] = (),
    package: Mapping[str, str] | None = None,
    tests: Mapping[str, str] | None = None,
    extra_pyproject: str = "",
) -> Path:
    """Write a project that builds offline with an in-tree backend.

    :param directory: The project folder.
    :param name: Its distribution name (also its package folder).
    :param dependencies: ``[project].dependencies``.
    :param package: Package path → text (default: an empty ``__init__``).
    :param tests: Test path → text, under ``tests/``.
    :param extra_pyproject: TOML appended to ``pyproject.toml``.
    :returns: The folder.
    """
    directory.mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (directory / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = []
            build-backend = "_intree_backend"
            backend-path = ["."]

            [project]
            name = "{name}"
            version = "0.1.0"
            dependencies = [{deps}]
            """
        )
        + textwrap.dedent(extra_pyproject),
        encoding="utf-8",
    )
    (directory / "_intree_backend.py").write_text(INTREE_BACKEND, encoding="utf-8")
    package_dir = canonicalize_name(name).replace("-", "_")
    for path, text in (package or {f"{package_dir}/__init__.py": ""}).items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    for path, text in (tests or {}).items():
        target = directory / "tests" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory
