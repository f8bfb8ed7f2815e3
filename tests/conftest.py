from __future__ import annotations

import base64
import functools
import html
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from filelock import FileLock
from packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from pytest_depbounds.installer import Installer
from pytest_depbounds.testing import (
    FAILING_BACKEND,
    INTREE_BACKEND,
    WHEEL_FAILING_BACKEND,
    write_sdist,
    write_wheel,
)

if TYPE_CHECKING:
    from pytest_depbounds.process import ExecuteRequest

pytest_plugins = ["pytester"]

FAKELIB_V1 = """
def old_api():
    return "old"
"""
FAKELIB_V14 = (
    FAKELIB_V1
    + """
def new_api():
    return "new"
"""
)
FAKELIB_V2 = """
def new_api():
    return "new"
"""
KWLIB_V1 = """
def connect(host):
    return host
"""
KWLIB_V12 = """
def connect(host, timeout=None):
    return host
"""
PARSELIB_V1 = """
def parse(text):
    return _strict(text)


def _strict(text):
    raise ValueError(f"cannot parse {text!r}")
"""
TOPLIB = """
import baselib


def run():
    return baselib.feature()
"""


@pytest.fixture(autouse=True)
def _isolate_installers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep this machine's pip and uv configuration, and the CI's, out of the tests.

    pytest itself stops truncating its short summary when ``CI`` or
    ``BUILD_NUMBER`` is set, so the output tests compare against depends on them.
    """
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "PYTEST_", "GITHUB_")) or name in {
            "VIRTUAL_ENV",
            "CI",
            "BUILD_NUMBER",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


#: Downloads wheels of exact requirements into a cache folder once:
#: ``(name, requirements, environ) -> folder``.
WheelDownloader = Callable[[str, Sequence[str], Mapping[str, str] | None], Path]


@pytest.fixture(scope="session")
def cached_wheels(pytestconfig: pytest.Config) -> WheelDownloader:
    """Wheels from the configured index, downloaded once into pytest's cache."""
    cache = pytestconfig.cache
    assert cache is not None

    def download(
        name: str,
        requirements: Sequence[str],
        environ: Mapping[str, str] | None = None,
    ) -> Path:
        folder = cache.mkdir(name)
        complete = folder / "complete"
        # xdist workers share the folder: one downloads while the others wait.
        with FileLock(str(folder.parent / f"{folder.name}.lock")):
            if not complete.exists():
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--only-binary",
                        ":all:",
                        "--disable-pip-version-check",
                        "-d",
                        str(folder),
                        *requirements,
                    ],
                    check=True,
                    env=environ,
                )
                complete.touch()
        return folder

    return download


@pytest.fixture(scope="session")
def tooling_wheels(cached_wheels: WheelDownloader) -> Path:
    """Wheels of the running pytest, pytest-xdist and their dependencies.

    The only distributions tests take from the configured index, once per
    pytest version (then from the cache).
    """
    return cached_wheels(
        f"tooling-wheels-{pytest.__version__}",
        [f"pytest=={pytest.__version__}", "pytest-xdist"],
        None,
    )


@pytest.fixture(scope="session")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links folder of fake libraries whose API changes between versions."""
    folder = tmp_path_factory.mktemp("fake-index")
    write_wheel(folder, "fakelib", "1.0", {"fakelib/__init__.py": FAKELIB_V1})
    write_wheel(folder, "fakelib", "1.4", {"fakelib/__init__.py": FAKELIB_V14})
    write_wheel(folder, "fakelib", "2.0", {"fakelib/__init__.py": FAKELIB_V2})
    # An import name that differs from the distribution name, with a submodule
    # that 3.0 removes (eventlet's ``util``).
    for version in ("0.15.0", "0.15.2"):
        write_wheel(
            folder,
            "green-io",
            version,
            {
                "greenio/__init__.py": "",
                "greenio/util.py": "def helper():\n    return 1\n",
            },
        )
    write_wheel(folder, "green-io", "3.0", {"greenio/__init__.py": ""})
    write_wheel(folder, "stablelib", "1.0", {"stablelib/__init__.py": "VALUE = 1\n"})
    write_wheel(folder, "stablelib", "1.1", {"stablelib/__init__.py": "VALUE = 1\n"})
    _attribution_wheels(folder)
    return folder


def _attribution_wheels(folder: Path) -> None:
    """Libraries whose lowest versions fail in one way each (tests/test_attribution)."""
    # A keyword added in 1.2.
    write_wheel(folder, "kwlib", "1.0", {"kwlib/__init__.py": KWLIB_V1})
    write_wheel(folder, "kwlib", "1.2", {"kwlib/__init__.py": KWLIB_V12})
    # 1.0 raises inside its own files on input 2.0 accepts.
    write_wheel(folder, "parselib", "1.0", {"parselib/__init__.py": PARSELIB_V1})
    write_wheel(
        folder,
        "parselib",
        "2.0",
        {"parselib/__init__.py": "def parse(text):\n    return text\n"},
    )
    # toplib calls baselib.feature, which baselib 3.0 removed: lowest-direct keeps
    # transitive dependencies at their highest, so toplib's floor meets 3.0.
    for version in ("1.0", "1.1"):
        write_wheel(
            folder,
            "toplib",
            version,
            {"toplib/__init__.py": TOPLIB},
            requires=["baselib>=1.0"],
        )
    write_wheel(
        folder,
        "baselib",
        "1.0",
        {"baselib/__init__.py": "def feature():\n    return 1\n"},
    )
    write_wheel(folder, "baselib", "3.0", {"baselib/__init__.py": "VERSION = 3\n"})
    # 1.0 does not import on Python >= 3.10 (collections.Mapping moved to .abc).
    write_wheel(
        folder,
        "brokenlib",
        "1.0",
        {"brokenlib/__init__.py": "from collections import Mapping\n"},
    )
    write_wheel(
        folder,
        "brokenlib",
        "1.1",
        {"brokenlib/__init__.py": "from collections.abc import Mapping\n"},
    )


@pytest.fixture
def local_index(
    monkeypatch: pytest.MonkeyPatch, fake_index: Path, tooling_wheels: Path
) -> Path:
    """Point every resolver and installer at the fake index, never at a real one."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{fake_index} {tooling_wheels}")
    return fake_index


# -- an index of floors that do not install, for tests/test_resolution ---------

#: Files of the HTTP index marked yanked (PEP 592), with their reasons.
YANKED = {"oldlib-1.3-py3-none-any.whl": "broken import"}


@pytest.fixture(scope="session")
def floors_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links folder whose lowest versions do not install on this Python."""
    folder = tmp_path_factory.mktemp("floors-index")
    module = {"oldlib/__init__.py": ""}
    # 1.0: only an sdist, and it does not build.
    write_sdist(folder, "oldlib", "1.0", "", backend=FAILING_BACKEND)
    # 1.1: only a wheel for another platform.
    write_wheel(folder, "oldlib", "1.1", module, tag="cp27-cp27m-win32")
    # 1.2: a Python this interpreter is not.
    write_wheel(folder, "oldlib", "1.2", module, requires_python=">=3.99")
    # 1.3: yanked on the HTTP index (YANKED); fine in a find-links folder.
    write_wheel(folder, "oldlib", "1.3", module)
    write_wheel(folder, "oldlib", "1.4", module)
    write_wheel(folder, "oldlib", "2.0", module)
    # Floors that cannot be installed together: alib 1.0 needs blib>=2.0.
    for version in ("1.0", "1.5"):
        write_wheel(
            folder, "alib", version, {"alib/__init__.py": ""}, requires=["blib>=2.0"]
        )
    for version in ("1.0", "2.0", "2.1"):
        write_wheel(folder, "blib", version, {"blib/__init__.py": ""})
    # A floor moved by a transitive dependency: outerlib needs innerlib, whose
    # only release needs blib>=2.1.
    write_wheel(
        folder, "outerlib", "1.0", {"outerlib/__init__.py": ""}, requires=["innerlib"]
    )
    write_wheel(
        folder, "innerlib", "1.0", {"innerlib/__init__.py": ""}, requires=["blib>=2.1"]
    )
    # `lowest` lowers transitive dependencies too; lowest-direct does not.
    write_wheel(folder, "topx", "1.0", {"topx/__init__.py": ""}, requires=["basex>=1"])
    for version in ("1.0", "3.0"):
        write_wheel(folder, "basex", version, {"basex/__init__.py": ""})
    # 1.0's sdist declares static metadata (uv resolves it without building;
    # pip prepares it) and its wheel fails to build: only installing it shows.
    write_sdist(
        folder,
        "staticlib",
        "1.0",
        "",
        backend=WHEEL_FAILING_BACKEND,
        static_metadata=True,
    )
    write_wheel(folder, "staticlib", "1.1", {"staticlib/__init__.py": ""})
    # The floor depends on the env's interpreter: 1.0 is for Pythons before 3.12.
    write_wheel(
        folder, "pyfloor", "1.0", {"pyfloor/__init__.py": ""}, requires_python="<3.12"
    )
    write_wheel(folder, "pyfloor", "1.1", {"pyfloor/__init__.py": ""})
    # Many old sdists in a row that no longer build (as simplejson 1.1 to 2.x on
    # a current Python), then sdists whose metadata builds, then a wheel.
    for minor in range(MANYLIB_BROKEN):
        write_sdist(folder, "manylib", f"1.{minor}", "", backend=FAILING_BACKEND)
    for minor in range(MANYLIB_BROKEN, MANYLIB_BROKEN + 3):
        write_sdist(folder, "manylib", f"1.{minor}", "", backend=WHEEL_FAILING_BACKEND)
    write_wheel(folder, "manylib", "2.0", {"manylib/__init__.py": ""})
    return folder


#: How many of manylib's oldest sdists fail to build (1.0 to 1.13).
MANYLIB_BROKEN = 14


@pytest.fixture(scope="session")
def http_index(
    floors_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The floors index served as PEP 503 pages on 127.0.0.1, with yanked files.

    :returns: The ``/simple/`` URL.
    """
    root = tmp_path_factory.mktemp("http-index")
    files = root / "files"
    files.mkdir()
    projects: dict[str, list[str]] = {}
    for path in sorted(floors_index.iterdir()):
        (files / path.name).write_bytes(path.read_bytes())
        name = (
            parse_wheel_filename(path.name)[0]
            if path.name.endswith(".whl")
            else parse_sdist_filename(path.name)[0]
        )
        requires_python = ">=3.99" if path.name.startswith("oldlib-1.2") else None
        attrs = (
            f' data-requires-python="{html.escape(requires_python)}"'
            if requires_python
            else ""
        )
        if path.name in YANKED:
            attrs += f' data-yanked="{html.escape(YANKED[path.name])}"'
        projects.setdefault(name, []).append(
            f'<a href="../../files/{path.name}"{attrs}>{path.name}</a><br>'
        )
    for name, anchors in projects.items():
        page = root / "simple" / name / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(
            "<!DOCTYPE html><html><body>" + "\n".join(anchors) + "</body></html>"
        )

    # An upper-constraints file served over http (--depbounds-upper-constraints URL).
    (root / "upper-constraints.txt").write_text("blib==2.0\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


def _content(path: str, files: dict[str, Path]) -> bytes | None:
    """A simple-index page or a file's bytes, ``None`` for a 404."""
    kind, _, name = path.strip("/").partition("/")
    if kind == "files":
        return files[name].read_bytes() if name in files else None
    if kind != "simple":
        return None
    links = "".join(
        f'<a href="/files/{html.escape(found)}">{html.escape(found)}</a>\n'
        for found in sorted(files)
        if _project_of(found) == canonicalize_name(name.strip("/"))
    )
    return f"<html><body>\n{links}</body></html>".encode() if links else None


def _simple_index(folders: Sequence[Path], credentials: set[str]) -> type:
    """A PEP 503 index of the given folders that wants one of the credentials."""
    files = {
        p.name: p
        for folder in folders
        for p in folder.iterdir()
        if p.name.endswith((".whl", ".tar.gz"))
    }

    class Index(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.do_GET(body=False)

        def do_GET(self, *, body: bool = True) -> None:
            auth = self.headers.get("Authorization", "").removeprefix("Basic ")
            if base64.b64decode(auth).decode() not in credentials:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            content = _content(self.path, files)
            self.send_response(404 if content is None else 200)
            page = self.path.startswith("/simple")
            self.send_header("Content-Type", "text/html" if page else "application/zip")
            self.send_header("Content-Length", str(len(content or b"")))
            self.end_headers()
            if body and content:
                self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    return Index


@pytest.fixture
def serve_index() -> Iterator[Callable[[Sequence[Path], set[str]], int]]:
    """Serve folders of wheels as a PEP 503 index on 127.0.0.1 wanting credentials.

    :returns: A function of the folders and the ``user:password`` pairs it
        accepts, giving the server's port; every server stops after the test.
    """
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(folders: Sequence[Path], credentials: set[str]) -> int:
        handler = _simple_index(folders, credentials)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pins each env was installed from, one per env built in this process.

    :returns: A list that ``Installer.install_pins`` calls append to.
    """
    seen: list[str] = []
    original = Installer.install_pins

    def counting(self: Installer, env_python: Path, pins: Path) -> ExecuteRequest:
        seen.append(pins.read_text(encoding="utf-8"))
        return original(self, env_python, pins)

    monkeypatch.setattr(Installer, "install_pins", counting)
    return seen


OPENSTACK_FIXTURE = Path(__file__).parent / "fixtures" / "openstack"


def _openstack_project(folder: Path) -> Path:
    """A copy of tests/fixtures/openstack, with its package, tests and backend."""
    shutil.copytree(OPENSTACK_FIXTURE, folder, dirs_exist_ok=True)
    (folder / "_intree_backend.py").write_text(INTREE_BACKEND)
    (folder / "osproj").mkdir(exist_ok=True)
    (folder / "osproj" / "__init__.py").write_text(
        "import stablelib\n\n\ndef value():\n    return stablelib.VALUE\n"
    )
    (folder / "tests").mkdir(exist_ok=True)
    (folder / "tests" / "test_osproj.py").write_text(
        "import osproj\n\n\ndef test_value():\n    assert osproj.value() == 1\n"
    )
    return folder


@pytest.fixture
def openstack_project() -> Callable[[Path], Path]:
    """Writes the OpenStack-layout project (requirements.txt, test-requirements.txt,
    lower-, upper-constraints.txt, global-requirements.txt) into a folder.
    """
    return _openstack_project
