"""The bad-input catalogue: every way a user can get it wrong ends well.

Last, a fuzz test of bound selection on any specifier set and version list.

Each case ends with one clear line saying what is wrong, the documented exit code,
no traceback, and the project's files untouched. Most cases fail before any env
is built; those that need one share a cache dir, so their env is built once.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import http.server
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from pytest_depbounds.bounds import choose_floor, highest_allowed, lowest_allowed
from pytest_depbounds.testing import write_project, write_sdist, write_wheel

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


PASSING = {"test_ok.py": "def test_ok():\n    pass\n"}

#: Folders the run may write in the project: pytest's own cache (where the env
#: cache lives by default) and bytecode, which any pytest run writes.
NOT_PROJECT = frozenset({".pytest_cache", "__pycache__"})

#: A build backend that fails, as a broken setup.py or a missing compiler does.
BROKEN_BACKEND = """
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("this project does not build")

build_editable = build_wheel
"""


#: PEP 517's metadata hook of a backend computing its requirements at build time.
DYNAMIC_METADATA = """

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version = _meta()
    info = f"{name}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info))
    with open("requirements.in", encoding="utf-8") as f:
        requires = f.read().split()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    lines += ["Provides-Extra: fast", 'Requires-Dist: stablelib>=1.1; extra == "fast"']
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write("\\n".join(lines) + "\\n")
    return info
"""
DYNAMIC_FAILS = """

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    raise RuntimeError("cannot compute the dependencies")
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Case:
    """One bad input and how the run must end."""

    id: str
    args: tuple[str, ...]
    code: int
    #: fnmatch pattern of the one line that says what is wrong.
    line: str
    deps: tuple[str, ...] = ("stablelib>=1.0",)
    #: Replaces the whole pyproject.toml.
    pyproject: str | None = None
    extra_pyproject: str = ""
    tests: dict[str, str] = dataclasses.field(default_factory=lambda: PASSING)
    #: Writes more into the project; returns more arguments.
    setup: Callable[[Path, Servers], list[str]] | None = None
    #: Seconds the run may take at most.
    within: float | None = None
    #: The line is an error line (``ERROR``): it must be the only one.
    error: bool = True
    #: Environment variables of the run.
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Use a cache dir of its own instead of the shared one.
    own_cache: bool = False
    #: Run in this process: usage errors end before any subprocess starts, and a
    #: new interpreter per case would cost seconds each.
    inprocess: bool | None = None

    @property
    def in_this_process(self) -> bool:
        return self.code == 4 if self.inprocess is None else self.inprocess


@dataclasses.dataclass
class Servers:
    """Package indexes on 127.0.0.1 that fail in one way each."""

    ports: dict[int, int]
    closed_port: int
    tmp: Path

    def url(self, status: int) -> str:
        return f"http://127.0.0.1:{self.ports[status]}/simple"


def _pyproject(text: str) -> str:
    return textwrap.dedent(text)


def _remove(path: Path) -> list[str]:
    path.unlink()
    return []


def _write(path: Path, text: str) -> list[str]:
    path.write_text(text, encoding="utf-8")
    return []


def _dynamic(project: Path, hook: str) -> list[str]:
    """Dependencies and extras computed by the backend (as setuptools does)."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'dependencies = ["stablelib>=1.0"]',
            'dynamic = ["dependencies", "optional-dependencies"]',
        ),
        encoding="utf-8",
    )
    (project / "requirements.in").write_text("fakelib>=1.0\n", encoding="utf-8")
    with (project / "_intree_backend.py").open("a", encoding="utf-8") as backend:
        backend.write(hook)
    return []


def _setup_cfg_only(project: Path, text: str) -> list[str]:
    (project / "pyproject.toml").unlink()
    (project / "setup.cfg").write_text(text, encoding="utf-8")
    return []


def _find_links_with_page() -> list[str]:
    # A find-links page, not a folder: only a page can say a file is yanked.
    links = os.environ["PIP_FIND_LINKS"].split()
    bad_index = Path(links[-1])
    page = bad_index / "yanked.html"
    return [f"--depbounds-find-links={' '.join([*links[:-1], str(page)])}"]


def _with_index(url: Callable[[Servers], str]) -> Callable[[Path, Servers], list[str]]:
    def setup(project: Path, servers: Servers) -> list[str]:
        del project
        # An index instead of the fake find-links folder: nothing is found locally.
        return [f"--depbounds-index-url={url(servers)}", "--depbounds-find-links= "]

    return setup


def _broken_backend(project: Path, servers: Servers) -> list[str]:
    del servers
    (project / "_intree_backend.py").write_text(BROKEN_BACKEND, encoding="utf-8")
    return []


def _unwritable_cache(project: Path, servers: Servers) -> list[str]:
    del project
    if os.geteuid() == 0:
        # root writes through any mode bits; sysfs refuses new entries even to root.
        return ["--depbounds-cache-dir=/sys/depbounds-cache"]
    folder = servers.tmp / "read-only-cache"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    return [f"--depbounds-cache-dir={folder}"]


def _file_as_dir(name: str, option: str) -> Callable[[Path, Servers], list[str]]:
    def setup(project: Path, servers: Servers) -> list[str]:
        del servers
        (project / "afile").write_text("not a folder\n", encoding="utf-8")
        return [f"{option}=afile/{name}"]

    return setup


GROUPS_CYCLE = """
[dependency-groups]
test = [{include-group = "docs"}]
docs = [{include-group = "test"}]
"""

CASES = [
    # -- the declaration ----------------------------------------------------
    Case(
        id="no-pyproject",
        args=("--depbounds",),
        code=4,
        line="ERROR: no pyproject.toml in *",
        setup=lambda p, _s: _remove(p / "pyproject.toml"),
    ),
    Case(
        id="malformed-toml",
        args=("--depbounds",),
        code=4,
        line="ERROR: */pyproject.toml: Invalid value (at line 6, column 17)",
        pyproject="""
            [build-system]
            requires = []
            [project]
            name = "myproj"
            dependencies = [,
        """,
    ),
    Case(
        id="malformed-toml-in-another-ini",
        args=("--depbounds", "-c", "pytest.ini"),
        code=4,
        line="ERROR: */pyproject.toml:3:14: invalid TOML: Expected newline or end *",
        pyproject='[project]\nname = "myproj"\nversion = 0.1.0"\n',
        setup=lambda p, _s: _write(p / "pytest.ini", "[pytest]\n"),
    ),
    Case(
        id="project-is-not-a-table",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml: [[]project[]] must be a table",
        pyproject='project = "myproj"\n',
    ),
    Case(
        id="dependencies-not-a-list",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml: dependencies must be a list of requirement strings",
        pyproject='[project]\nname = "myproj"\nversion = "1"\ndependencies = "x>=1"\n',
    ),
    Case(
        id="invalid-specifier",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml:9: invalid requirement 'stablelib>=>1.0': "
        "Expected * (at column 10)",
        deps=("stablelib>=>1.0",),
    ),
    Case(
        id="invalid-version-in-specifier",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml:9: invalid requirement 'stablelib>=1.0.x': *",
        deps=("stablelib>=1.0.x",),
    ),
    Case(
        id="invalid-marker",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml:9: invalid requirement *python_version >> *"
        "(at column *)",
        deps=("stablelib>=1.0; python_version >> '3'",),
    ),
    Case(
        id="invalid-requirement-in-an-extra",
        args=("--depbounds", "--depbounds-extras=fast"),
        code=4,
        line="ERROR: pyproject.toml:12: invalid requirement 'fastlib=1': *",
        extra_pyproject='[project.optional-dependencies]\nfast = [\n  "fastlib=1",\n]\n',
    ),
    Case(
        id="unknown-extra",
        args=("--depbounds", "--depbounds-extras=nope"),
        code=4,
        line="ERROR: pyproject.toml: unknown extra 'nope' (declared extras: fast)",
        extra_pyproject='[project.optional-dependencies]\nfast = ["stablelib>=1.1"]\n',
    ),
    Case(
        id="unknown-group",
        args=("--depbounds", "--depbounds-groups=nope"),
        code=4,
        line="ERROR: pyproject.toml: unknown dependency group 'nope' "
        "(declared groups: test)",
        extra_pyproject='[dependency-groups]\ntest = ["stablelib>=1.1"]\n',
    ),
    Case(
        id="include-group-cycle",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml: [[]dependency-groups[]] test: Cyclic dependency "
        "group include while resolving test: test -> docs, docs -> test",
        extra_pyproject=GROUPS_CYCLE,
    ),
    Case(
        id="include-unknown-group",
        args=("--depbounds",),
        code=4,
        line="ERROR: pyproject.toml: [[]dependency-groups[]] test: Dependency group "
        "'gone' not found",
        extra_pyproject='[dependency-groups]\ntest = [{include-group = "gone"}]\n',
    ),
    Case(
        id="dynamic-dependencies-read-from-the-backend",
        args=("--depbounds=lower", "--depbounds-extras=fast"),
        code=0,
        line="[[]lower[]] pins: fakelib==1.0 stablelib==1.1*",
        setup=lambda p, _s: _dynamic(p, DYNAMIC_METADATA),
        error=False,
    ),
    Case(
        id="dynamic-dependencies-backend-fails",
        args=("--depbounds=lower",),
        code=4,
        line="ERROR: */pyproject.toml: dynamic dependencies: the build backend "
        "_intree_backend failed: RuntimeError: cannot compute the dependencies",
        setup=lambda p, _s: _dynamic(p, DYNAMIC_FAILS),
        inprocess=False,
    ),
    Case(
        id="requirements-file-missing",
        args=("--depbounds=lower", "--depbounds-requirements=nope.txt"),
        code=4,
        line="ERROR: *cannot read requirements file nope.txt: *",
    ),
    Case(
        id="requirements-file-invalid-line",
        args=("--depbounds=lower", "--depbounds-requirements=requirements.txt"),
        code=4,
        line="ERROR: requirements.txt:2: invalid requirement: 'stablelib>=>1': *",
        setup=lambda p, _s: _write(
            p / "requirements.txt", "# runtime\nstablelib>=>1\n"
        ),
    ),
    Case(
        id="requirements-file-invalid-marker",
        args=("--depbounds=lower", "--depbounds-requirements=requirements.txt"),
        code=4,
        line="ERROR: requirements.txt:1: invalid requirement: *python_version >> *",
        setup=lambda p, _s: _write(
            p / "requirements.txt", "stablelib>=1.0; python_version >> '3'\n"
        ),
    ),
    Case(
        id="requirements-file-includes-a-missing-file",
        args=("--depbounds=lower", "--depbounds-requirements=requirements.txt"),
        code=4,
        line="ERROR: requirements.txt:2: cannot read requirements file base.txt: "
        "No such file or directory",
        setup=lambda p, _s: _write(p / "requirements.txt", "# all\n-r base.txt\n"),
    ),
    Case(
        id="requirements-file-bad-hash",
        args=("--depbounds=lower", "--depbounds-requirements=requirements.txt"),
        code=4,
        line="ERROR: requirements.txt:1: --hash must be sha256:, sha384: or sha512: *",
        setup=lambda p, _s: _write(
            p / "requirements.txt", "stablelib>=1.0 --hash=md5:abc\n"
        ),
    ),
    Case(
        id="malformed-setup-cfg",
        args=("--depbounds",),
        code=4,
        line="ERROR: setup.cfg:3: invalid setup.cfg: '[options'",
        setup=lambda p, _s: _setup_cfg_only(p, "[metadata]\nname = x\n[options\n"),
    ),
    # -- our options ----------------------------------------------------------
    Case(
        id="unknown-bound",
        args=("--depbounds=middle",),
        code=4,
        line="ERROR: --depbounds: unknown bound middle: use lower, upper or lower,upper",
    ),
    Case(
        id="unknown-bound-in-ini",
        args=("--depbounds",),
        code=4,
        line="ERROR: --depbounds: unknown bound sideways*",
        extra_pyproject='[tool.pytest.ini_options]\ndepbounds = "sideways"\n',
    ),
    Case(
        id="timeout-not-a-number",
        args=("--depbounds", "--depbounds-timeout=soon"),
        code=4,
        line="ERROR: --depbounds-timeout: not a number: 'soon'",
    ),
    Case(
        id="negative-refresh",
        args=("--depbounds", "--depbounds-refresh=-5"),
        code=4,
        line="ERROR: --depbounds-refresh: must not be negative: '-5'",
    ),
    Case(
        id="jobs-not-a-number",
        args=("--depbounds", "--depbounds-jobs=many"),
        code=4,
        line="ERROR: --depbounds-jobs: not a number: 'many'",
    ),
    Case(
        id="unknown-installer",
        args=("--depbounds", "--depbounds-installer=conda"),
        code=4,
        line="*--depbounds-installer: invalid choice: 'conda'*",
        # argparse's own two lines: usage, then the error.
        error=False,
    ),
    Case(
        id="interpreter-path-not-found",
        args=("--depbounds", "--depbounds-python=/nonexistent/python3"),
        code=4,
        line="ERROR: --depbounds-python=/nonexistent/python3: no such interpreter*",
    ),
    Case(
        id="interpreter-version-not-found",
        args=("--depbounds", "--depbounds-python=2.1"),
        code=4,
        line="ERROR: --depbounds-python=2.1: no such interpreter*",
    ),
    Case(
        id="cache-dir-is-a-file",
        args=("--depbounds=lower",),
        code=6,
        line="ERROR: cannot write to the cache dir */afile/cache: Not a directory",
        setup=_file_as_dir("cache", "--depbounds-cache-dir"),
        own_cache=True,
    ),
    Case(
        id="read-only-cache-dir",
        args=("--depbounds=lower",),
        code=6,
        line="ERROR: cannot write to the cache dir *: *",
        setup=_unwritable_cache,
        own_cache=True,
    ),
    # -- resolution -------------------------------------------------------------
    Case(
        id="distribution-does-not-exist",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: lower bound: uv could not resolve the dependencies "
        "(nosuchdist>=1.0) for CPython * from no index, find-links *: "
        "*nosuchdist was not found in the provided package locations*",
        deps=("nosuchdist>=1.0",),
    ),
    Case(
        id="no-release-in-range",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: lower bound: no version of stablelib that "
        "`stablelib>=5` admits installs on CPython 3.* (the index has 1.0, 1.1)",
        deps=("stablelib>=5",),
    ),
    Case(
        id="contradictory-ranges",
        args=("--depbounds=upper",),
        code=6,
        line="[[]upper[]] ERROR: upper bound: uv could not resolve the dependencies "
        "(stablelib>=1.1, stablelib<1.1) *unsatisfiable*",
        deps=("stablelib>=1.1", "stablelib<1.1"),
    ),
    Case(
        id="no-version-for-this-python",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: *futurelib* requires Python >=3.99*",
        deps=("futurelib>=1.0",),
    ),
    Case(
        id="no-wheel-for-this-platform",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: lower bound: no version of winlib that "
        "`winlib>=1.0` admits installs on CPython 3.* (1.0: no wheel for cp3* "
        "(only *win_amd64))",
        deps=("winlib>=1.0",),
    ),
    Case(
        id="dependency-sdist-does-not-build",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: lower bound: no version of brokensdist that "
        "`brokensdist>=1.0` admits installs on CPython 3.* (1.0: no wheel for cp3*, "
        "sdist build failed: RuntimeError: brokensdist does not build)",
        deps=("brokensdist>=1.0",),
    ),
    Case(
        id="only-yanked-versions",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: lower bound: no version of yankedlib that "
        "`yankedlib>=1.0` admits installs on CPython 3.* (1.0: yanked (broken))",
        deps=("yankedlib>=1.0",),
        setup=lambda _p, _s: _find_links_with_page(),
    ),
    Case(
        id="lower-constraints-file-missing",
        args=("--depbounds=lower", "--depbounds-lower-constraints=nope.txt"),
        code=4,
        line="ERROR: --depbounds-lower-constraints=*/nope.txt: No such file or directory",
        inprocess=False,
    ),
    Case(
        id="upper-constraints-file-missing",
        args=("--depbounds=upper", "--depbounds-upper-constraints=nope.txt"),
        code=4,
        line="ERROR: --depbounds-upper-constraints=*/nope.txt: No such file or directory",
        inprocess=False,
    ),
    Case(
        id="lower-constraints-contradict-the-ranges",
        args=("--depbounds=lower", "--depbounds-lower-constraints=lower.txt"),
        code=6,
        line="[[]lower[]] ERROR: lower bound: * `stablelib==0.5` (lower.txt:1) "
        "contradicts the declared `stablelib>=1.0` (pyproject.toml:9); *",
        setup=lambda p, _s: _write(p / "lower.txt", "stablelib==0.5\n"),
    ),
    Case(
        id="unknown-strategy",
        args=("--depbounds", "--depbounds-strategy=median"),
        code=4,
        line="*--depbounds-strategy: invalid choice: 'median'*",
        error=False,
    ),
    Case(
        id="unknown-verify-bound",
        args=("--depbounds-verify=middle",),
        code=4,
        line="*--depbounds-verify: invalid choice: 'middle'*",
        error=False,
    ),
    # -- the index ---------------------------------------------------------------
    Case(
        id="index-answers-500",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: the package index http://127.0.0.1:*/simple/stablelib/ "
        "could not be read (3 attempts): HTTP 500 Internal Server Error",
        setup=_with_index(lambda s: s.url(500)),
        within=30,
    ),
    Case(
        # The upper bound asks uv alone: uv's own bounded retries, then one line.
        id="index-answers-500-to-the-resolver",
        args=("--depbounds=upper",),
        code=6,
        line="[[]upper[]] ERROR: upper bound: uv could not resolve the dependencies "
        "(stablelib>=1.0) for CPython * from index http://127.0.0.1:*/simple: "
        "Request failed after * retries*500 Internal Server Error*",
        setup=_with_index(lambda s: s.url(500)),
        # uv's retries take about 11 s; the rest is two interpreters starting on a
        # machine that may be busy with other test runs.
        within=45,
    ),
    Case(
        id="index-answers-404",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: *from index http://127.0.0.1:*/simple: "
        "*stablelib was not found in the package registry*",
        setup=_with_index(lambda s: s.url(404)),
        within=30,
    ),
    Case(
        id="index-unreachable",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: the package index http://127.0.0.1:*/simple/stablelib/ "
        "could not be read (3 attempts): *Connection refused",
        setup=_with_index(lambda s: f"http://127.0.0.1:{s.closed_port}/simple"),
        within=30,
    ),
    Case(
        id="index-host-does-not-resolve",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: the package index "
        "http://depbounds-no-such-host.invalid/simple/stablelib/ could not be read "
        "(3 attempts): *",
        setup=_with_index(lambda _s: "http://depbounds-no-such-host.invalid/simple"),
        within=30,
    ),
    # -- building and running -----------------------------------------------------
    Case(
        id="project-does-not-build",
        args=("--depbounds=lower",),
        code=6,
        line="[[]lower[]] ERROR: could not install the project: Failed to build "
        "*RuntimeError: this project does not build (full output: *.log)",
        setup=_broken_backend,
    ),
    Case(
        id="project-without-dependencies-runs",
        args=("--depbounds=lower",),
        code=0,
        line="lower*passed*1 passed*",
        deps=(),
        error=False,
    ),
    Case(
        id="suite-collects-nothing",
        args=("--depbounds=lower",),
        code=5,
        line="lower*no tests*",
        tests={"test_none.py": "VALUE = 1\n"},
        error=False,
    ),
    Case(
        id="inner-session-killed-by-a-signal",
        args=("--depbounds=lower",),
        code=1,
        line="[[]lower[]] ERROR: the inner pytest session was killed by signal 9 "
        "(SIGKILL*",
        tests={
            "test_kill.py": "import os, signal\n\ndef test_dies():\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
        },
    ),
    Case(
        id="inner-session-hangs",
        args=("--depbounds=lower", "--depbounds-timeout=2"),
        code=1,
        line="[[]lower[]] ERROR: the inner pytest session timed out and was stopped",
        tests={
            "test_hang.py": "import time\n\ndef test_hangs():\n    time.sleep(120)\n"
        },
        within=30,
    ),
    Case(
        id="report-path-not-writable",
        args=("--depbounds=lower",),
        code=4,
        line="ERROR: cannot write the report */afile/r.json: *",
        setup=_file_as_dir("r.json", "--depbounds-report"),
        inprocess=False,
    ),
]


def _tree_digest(root: Path) -> dict[str, str]:
    """Digest of every file under a folder, but pytest's cache and bytecode."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in NOT_PROJECT)
        for name in sorted(files):
            path = Path(folder, name)
            data = path.read_bytes()
            found[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture(scope="module")
def bad_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Distributions that cannot be installed here, each for one reason."""
    folder = tmp_path_factory.mktemp("bad-index")
    write_wheel(
        folder,
        "futurelib",
        "1.0",
        {"futurelib/__init__.py": ""},
        requires_python=">=3.99",
    )
    write_wheel(
        folder, "winlib", "1.0", {"winlib/__init__.py": ""}, tag="cp311-cp311-win_amd64"
    )
    write_wheel(folder, "yankedlib", "1.0", {"yankedlib/__init__.py": ""})
    wheel = "yankedlib-1.0-py3-none-any.whl"
    (folder / "yanked.html").write_text(
        f'<a href="{(folder / wheel).as_uri()}" data-yanked="broken">{wheel}</a>\n',
        encoding="utf-8",
    )
    write_sdist(
        folder,
        "brokensdist",
        "1.0",
        "raise RuntimeError('brokensdist does not build')\n",
        files={
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "be"\n'
            'backend-path = ["."]\n',
            "be.py": "raise RuntimeError('brokensdist does not build')\n",
        },
    )
    return folder


def _answering(status: int) -> type[http.server.BaseHTTPRequestHandler]:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Answer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """One index answering 500 to everything, one answering 404."""
    running = []
    ports = {}
    for status in (500, 404):
        handler = _answering(status)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        ports[status] = server.server_address[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    yield Servers(
        ports=ports, closed_port=closed_port, tmp=tmp_path_factory.mktemp("srv")
    )
    for server in running:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _home_outside_the_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # pytester makes the project folder HOME: virtualenv's app data (in HOME)
    # would then look like a change to the project.
    del pytester
    monkeypatch.setenv("HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache dir for the whole catalogue: an env is built once per pin set."""
    return tmp_path_factory.mktemp("catalogue-cache")


@pytest.fixture
def _find_bad_index(
    monkeypatch: pytest.MonkeyPatch, bad_index: Path, local_index: Path
) -> None:
    del local_index
    monkeypatch.setenv("PIP_FIND_LINKS", f"{os.environ['PIP_FIND_LINKS']} {bad_index}")


@pytest.mark.slow
@pytest.mark.usefixtures("local_index", "_find_bad_index")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_with_one_clear_line(
    case: Case,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    servers: Servers,
    shared_cache: Path,
) -> None:
    # Not pytester.path itself, where pytester writes the run's stdout and stderr.
    project = write_project(
        pytester.path / "proj",
        "myproj",
        dependencies=case.deps,
        tests=case.tests,
        extra_pyproject=case.extra_pyproject,
    )
    if case.pyproject is not None:
        (project / "pyproject.toml").write_text(
            _pyproject(case.pyproject), encoding="utf-8"
        )
    args = list(case.args)
    if case.setup is not None:
        args += case.setup(project, servers)
    if any("--depbounds-index-url" in a for a in args):
        monkeypatch.delenv("PIP_NO_INDEX")
        monkeypatch.delenv("PIP_FIND_LINKS")
        args.remove("--depbounds-find-links= ")
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if not case.own_cache:
        args.append(f"--depbounds-cache-dir={shared_cache}")
    monkeypatch.chdir(project)
    before = _tree_digest(project)
    start = time.monotonic()
    if case.in_this_process:
        result = pytester.runpytest_inprocess(*args)
    else:
        result = pytester.runpytest_subprocess(*args)
    elapsed = time.monotonic() - start
    output = result.stdout.lines + result.stderr.lines
    text = "\n".join(output)
    assert "Traceback" not in text
    matching = [line for line in output if fnmatch.fnmatch(line, case.line)]
    assert matching, f"no line matches {case.line!r} in:\n{text}"
    if case.error:
        errors = [line for line in output if "ERROR" in line]
        assert errors == matching[:1], text
    assert result.ret == case.code, text
    if case.within is not None:
        assert elapsed < case.within
    assert _tree_digest(project) == before


def test_the_catalogue_is_long_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_a_full_disk_during_install_ends_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Writes that fail mid-install, simulated with a file size limit.

    No small filesystem can be mounted here; RLIMIT_FSIZE makes every write past
    the limit fail, for the run and every process it starts, as a full disk
    does. The installer must then write a file larger than the limit: a fresh
    uv cache and a dependency holding a large file.
    """
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "fatlib", "1.0", {"fatlib/data.py": "# " + "x" * 4_000_000})
    monkeypatch.setenv("PIP_FIND_LINKS", f"{os.environ['PIP_FIND_LINKS']} {wheels}")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    project = write_project(
        pytester.path, "myproj", dependencies=["fatlib>=1.0"], tests=PASSING
    )
    before = _tree_digest(project)
    limit = 2_000_000

    def limit_writes() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--depbounds=lower", "-p", "no:randomly"],
        cwd=project,
        capture_output=True,
        text=True,
        preexec_fn=limit_writes,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, output
    assert (
        fnmatch.fnmatch(
            errors[0],
            "[[]lower[]] ERROR: could not install the pins: *"
            f"{signal.Signals.SIGXFSZ.name}*",
        )
        or "File too large" in errors[0]
    ), output
    assert result.returncode == 6, output
    assert _tree_digest(project) == before


# -- fuzz: any specifier set, any version list ------------------------------------

_RELEASES = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(
    lambda parts: ".".join(map(str, parts))
)
_VERSIONS = st.builds(
    lambda release, pre, post, dev: release + pre + post + dev,
    _RELEASES,
    st.sampled_from(["", "a1", "b2", "rc1"]),
    st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev0"]),
)
_CLAUSES = st.one_of(
    st.tuples(st.sampled_from(["==", "!=", "<=", ">=", "<", ">", "~="]), _VERSIONS).map(
        "".join
    ),
    st.tuples(st.sampled_from(["==", "!="]), _RELEASES).map(
        lambda t: f"{t[0]}{t[1]}.*"
    ),
)


@st.composite
def _specifiers(draw: st.DrawFn) -> SpecifierSet:
    text = ",".join(draw(st.lists(_CLAUSES, max_size=3)))
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        reject()  # e.g. ``~=1``: one release segment


@given(
    specifier=_specifiers(),
    candidates=st.lists(_VERSIONS.map(Version), max_size=12),
    broken=st.sets(st.integers(0, 11)),
)
def test_bounds_never_leave_the_specifier(
    specifier: SpecifierSet, candidates: list[Version], broken: set[int]
) -> None:
    admitted = list(specifier.filter(candidates))
    low = lowest_allowed(specifier, candidates)
    high = highest_allowed(specifier, candidates)
    assert low == min(admitted, default=None)
    assert high == max(admitted, default=None)
    for pin in (low, high):
        if pin is not None:
            assert pin in candidates
            # filter() admits pre-releases when nothing else matches: so must we.
            assert specifier.contains(pin, prereleases=True)
    # With some versions that do not install: the floor is the lowest admitted
    # one that does, and every version skipped below it is admitted and explained.
    reasons = {
        v: "no wheel for cp311" if i in broken else None
        for i, v in enumerate(dict.fromkeys(candidates))
    }
    floor = choose_floor(Requirement(f"fuzzlib{specifier}"), reasons)
    installable = [v for v, why in reasons.items() if why is None]
    assert floor.chosen == lowest_allowed(specifier, installable)
    for version, why in floor.skipped:
        assert version in admitted
        assert why
        assert floor.chosen is None or version < floor.chosen
