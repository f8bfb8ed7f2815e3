"""The static floor check: uses missing at a dependency's floor or newest version."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds import cli
from pytest_depbounds.declared import read_declaration
from pytest_depbounds.index import Index
from pytest_depbounds.installer import IndexSettings
from pytest_depbounds.scan import (
    Scanner,
    ScanResult,
    Usage,
    accepts,
    load_api,
    read_uses,
)
from pytest_depbounds.testing import write_project, write_wheel

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

LIBFOO_1_0 = """\
    def old_api():
        return 1


    def connect(host):
        return host


    class Client:
        def __init__(self, url):
            self.url = url
"""
LIBFOO_1_2 = """\
    def old_api():
        return 1


    def connect(host, timeout=None):
        return host


    class Client:
        def __init__(self, url):
            self.url = url
"""
LIBFOO_1_4 = """\
    from libfoo._impl import new_api


    def old_api():
        return 1


    def connect(host, timeout=None):
        return host


    class Client:
        def __init__(self, url, retries=3):
            self.url = url
"""
LIBFOO_2_0 = """\
    from libfoo._impl import new_api


    def connect(host, *, timeout=None):
        return host


    class Client:
        def __init__(self, url, **options):
            self.url = url
"""
#: Every version: a module whose attributes are dynamic, and a compiled one.
LIBFOO_COMMON = {
    "libfoo/lazy.py": "def __getattr__(name):\n    return name\n",
    "libfoo/_impl.py": "def new_api():\n    return 2\n",
    "libfoo/speedups.cpython-311-x86_64-linux-gnu.so": "not really ELF",
}
PROJECT = {
    "myproj/__init__.py": """\
        import barlib.sub
        import libfoo
        import libfoo.speedups
        from libfoo import new_api
        from libfoo.lazy import anything
        from libfoo import *
        from os.path import *

        from . import helpers

        try:
            from libfoo import optional_api
        except ImportError:
            optional_api = None


        def go():
            libfoo.old_api()
            libfoo.connect("h", timeout=3)
            libfoo.Client("u", retries=2)
            libfoo.Client("u", anything=2)
            libfoo.speedups.fast()
            if hasattr(libfoo, "maybe"):
                libfoo.maybe()
            return new_api(), barlib.sub.helper()
    """,
    "myproj/helpers.py": """\
        import libfoo

        libfoo.patched = True


        def shadow(libfoo):
            return libfoo.not_the_module
    """,
}


def _listing(folder: Path) -> Index:
    return Index(IndexSettings(find_links=(str(folder),), no_index=True))


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scan-index")
    for version, init in (
        ("1.0", LIBFOO_1_0),
        ("1.2", LIBFOO_1_2),
        ("1.4", LIBFOO_1_4),
        ("2.0", LIBFOO_2_0),
    ):
        files = {"libfoo/__init__.py": init, **LIBFOO_COMMON}
        write_wheel(folder, "libfoo", version, files)
    # eventlet's lesson: a submodule that 2.0 removes.
    write_wheel(
        folder,
        "barlib",
        "1.0",
        {"barlib/__init__.py": "", "barlib/sub.py": "def helper():\n    return 1\n"},
    )
    write_wheel(folder, "barlib", "2.0", {"barlib/__init__.py": ""})
    # A floor with a wheel for Python 2 only: the dynamic floor is 1.0, so is ours.
    write_wheel(folder, "barlib", "0.9", {"barlib/__init__.py": ""}, tag="py2-none-any")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj",
        "myproj",
        dependencies=["libfoo>=1.0", "barlib>=0.5", "tomli>=1; python_version<'3'"],
        package=PROJECT,
    )


def test_uses_are_read_from_imports_attributes_and_keywords(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        textwrap.dedent(
            """\
            import a.b
            import c as d
            from e.f import g as h
            from . import local

            a.b.x.y(kw=1, **extra)
            d.z = 3
            h(key=2)
            try:
                import guarded.fast
            except (ImportError, OSError):
                pass
            guarded.fast.go()
            guarded.slow.go()
            if TYPE_CHECKING:
                from e.f import typing_only
            """
        ),
        encoding="utf-8",
    )
    uses = read_uses(tmp_path)
    assert uses.uses == (
        Usage(symbol="a.b", site="m.py:1"),
        Usage(symbol="c", site="m.py:2"),
        Usage(symbol="e.f.g", site="m.py:3"),
        Usage(symbol="a.b.x.y", keyword="kw", site="m.py:6"),
        Usage(symbol="a.b.x.y", site="m.py:6"),
        Usage(symbol="e.f.g", keyword="key", site="m.py:8"),
        Usage(symbol="guarded.slow.go", site="m.py:14"),
    )


def test_scan_finds_every_missing_use_with_the_version_that_has_it(
    index: Path, project: Path, tmp_path: Path
) -> None:
    declaration = read_declaration(project, extras=(), groups=None)
    scanner = Scanner(_listing(index), tmp_path / "cache")
    result = scanner.scan(declaration)
    messages = {(f.bound, f.what): f for f in result.findings}
    assert set(messages) == {
        ("lower", "libfoo.new_api"),
        ("lower", "libfoo.connect(timeout=)"),
        ("lower", "libfoo.Client(retries=)"),
        ("lower", "libfoo.Client(anything=)"),
        ("upper", "libfoo.old_api"),
        ("upper", "barlib.sub"),
    }
    new_api = messages["lower", "libfoo.new_api"]
    assert new_api.message == (
        "static: `libfoo.new_api` used at myproj/__init__.py:4 does not exist in "
        "libfoo 1.0; first present in 1.4"
    )
    assert new_api.note(strict=False).fix == "libfoo>=1.4"
    assert messages["lower", "libfoo.connect(timeout=)"].message == (
        "static: `libfoo.connect(timeout=)` used at myproj/__init__.py:19 is not "
        "accepted by libfoo 1.0; first accepted in 1.2"
    )
    assert messages["lower", "libfoo.Client(anything=)"].other == "2.0"
    assert messages["lower", "libfoo.Client(retries=)"].other == "1.4"
    assert messages["upper", "libfoo.old_api"].message == (
        "static: `libfoo.old_api` used at myproj/__init__.py:18 does not exist in "
        "libfoo 2.0 (the newest release the range admits); last present in 1.4"
    )
    removed = messages["upper", "barlib.sub"]
    assert (removed.sites, removed.other) == (
        ("myproj/__init__.py:1", "myproj/__init__.py:25"),
        "1.0",
    )
    # What cannot be known is said, never guessed.
    skipped = "\n".join(result.skipped)
    assert "`libfoo.lazy` defines __getattr__: 1 use not checked" in skipped
    assert "`libfoo.speedups` is a compiled module: 2 uses not checked" in skipped
    assert "`from libfoo import *` at myproj/__init__.py:6" in skipped
    assert "os.path" not in skipped
    assert (
        "barlib 0.9: no wheel that installs here (an sdist only, or wheels for other "
        "interpreters): scanned from 1.0"
    ) in skipped
    # Guarded, patched and shadowed names are the project's own business.
    assert not {"optional_api", "maybe", "patched", "not_the_module"} & {
        f.symbol.rpartition(".")[2] for f in result.findings
    }
    assert result.versions == {"libfoo": ("1.0", "2.0"), "barlib": ("1.0", "2.0")}
    notes = result.notes("lower", strict=True)
    assert {n.kind for n in notes} == {"static-missing"}
    assert all(n.fails for n in notes)


def test_namespace_packages_are_settled_by_the_longest_module(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "wheels"
    write_wheel(
        folder, "nsp-alpha", "1.0", {"nsp/alpha/__init__.py": "def f():\n    pass\n"}
    )
    write_wheel(
        folder,
        "nsp-alpha",
        "2.0",
        {"nsp/alpha/__init__.py": "def f():\n    pass\n\n\ndef g():\n    pass\n"},
    )
    write_wheel(
        folder, "nsp-beta", "1.0", {"nsp/beta/__init__.py": "def h():\n    pass\n"}
    )
    project = write_project(
        tmp_path / "proj",
        "myproj",
        dependencies=["nsp-alpha>=1.0", "nsp-beta>=1.0"],
        package={
            "myproj/__init__.py": (
                "import nsp.alpha\nimport nsp.beta\nimport nsp.gamma\n\n\n"
                "def go():\n    nsp.alpha.g()\n    nsp.beta.h()\n    nsp.beta.nope()\n"
                "    nsp.gamma.x()\n"
            )
        },
    )
    declaration = read_declaration(project, extras=(), groups=None)
    result = Scanner(_listing(folder), tmp_path / "cache").scan(declaration)
    assert [f.message for f in result.findings] == [
        (
            "static: `nsp.alpha.g` used at myproj/__init__.py:7 does not exist in "
            "nsp-alpha 1.0; first present in 2.0"
        ),
        (
            "static: `nsp.beta.nope` used at myproj/__init__.py:9 does not exist in "
            "nsp-beta 1.0 (the only release the range admits)"
        ),
    ]
    # ``nsp.gamma`` is in the shared namespace but neither dist has it: not theirs.
    assert result.checked == 5


def test_griffe_says_nothing_while_a_wheel_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # wrapt's fallback for inspect.formatargspec: griffe cannot follow the alias
    # into the stdlib and logs a warning per annotation, which `depbounds scan`
    # printed as lines of its own output.
    code = """
        from typing import List, Optional
        try:
            from inspect import formatargspec
        except ImportError:
            def formatargspec(args: List[str], varargs: Optional[str] = None) -> str:
                return ""
    """
    wheel = write_wheel(
        tmp_path, "aliaslib", "1.0", {"aliaslib/__init__.py": textwrap.dedent(code)}
    )
    api = load_api(wheel, "aliaslib", "1.0")
    assert api.objects["aliaslib.formatargspec"] == "fargs:K,varargs:K"
    assert [r.getMessage() for r in caplog.records] == []


def test_a_name_bound_to_another_modules_class_is_that_class(tmp_path: Path) -> None:
    # keystoneauth1.identity: ``Token = generic.Token``; the keywords novaclient
    # passes to it were "not checked: not a function".
    files = {
        "authlib/__init__.py": "from authlib import generic\n\nToken = generic.Token\n"
        "LIMIT = generic.LIMIT\nNAME = len('x')\n",
        "authlib/generic.py": "LIMIT = 3\n\n\nclass Token:\n"
        "    def __init__(self, auth_url, token=None):\n        pass\n",
    }
    api = load_api(write_wheel(tmp_path, "authlib", "1.0", files), "authlib", "1.0")
    assert accepts(api, "authlib.Token", "token").state == "present"
    assert accepts(api, "authlib.Token", "tenant").state == "missing"
    assert api.objects["authlib.LIMIT"] == "aauthlib.generic.LIMIT"
    # A call's result is a value, whatever it calls.
    assert api.objects["authlib.NAME"] == "v"


def test_the_project_own_tests_package_is_not_a_dependency(tmp_path: Path) -> None:
    # httpbin 0.10.0's wheel installs a top-level ``tests``; requests' tests
    # import their own ``tests.testserver``. Neither is httpbin's API.
    folder = tmp_path / "wheels"
    shared = {
        "nsp/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    }
    write_wheel(
        folder,
        "badlib",
        "1.0",
        {"badlib/__init__.py": "", "tests/__init__.py": "", "tests/x.py": "X = 1\n"},
    )
    write_wheel(folder, "badlib", "2.0", {"badlib/__init__.py": ""})
    write_wheel(folder, "nsp-alpha", "1.0", {**shared, "nsp/alpha.py": "A = 1\n"})
    project = write_project(
        tmp_path / "proj",
        "myproj",
        dependencies=["badlib>=1.0", "nsp-alpha>=1.0"],
        package={**shared, "nsp/mine.py": "M = 1\n", "myproj/__init__.py": ""},
        tests={
            "__init__.py": "",
            "testserver.py": "class Server:\n    pass\n",
            "test_a.py": (
                "from tests.testserver import Server\nimport nsp.alpha\n"
                "import nsp.mine\n\n\ndef test_a():\n    nsp.alpha.B\n"
                "    nsp.mine.M\n    Server()\n"
            ),
        },
    )
    declaration = read_declaration(project, extras=(), groups=None)
    result = Scanner(_listing(folder), tmp_path / "cache").scan(declaration)
    # The shared namespace stays checked beyond the project's own modules.
    assert [f.message for f in result.findings] == [
        (
            "static: `nsp.alpha.B` used at tests/test_a.py:7 does not exist in "
            "nsp-alpha 1.0 (the only release the range admits)"
        )
    ]


def test_a_warm_scan_reads_no_wheel(index: Path, project: Path, tmp_path: Path) -> None:
    declaration = read_declaration(project, extras=(), groups=None)
    cold = Scanner(_listing(index), tmp_path / "cache").scan(declaration)
    warm = Scanner(_listing(index), tmp_path / "cache").scan(declaration)
    assert cold.built == 6  # every version of libfoo scanned for first/last present
    assert warm.built == 0
    assert warm.findings == cold.findings


def test_the_scan_command(
    index: Path,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["scan", str(project), "--find-links", str(index), "--no-index"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "first present in 1.4" in out
    assert "scan: 14 uses of 2 dependencies checked" in out
    report = tmp_path / "scan.json"
    assert cli.main([*args, "--strict", "--json", str(report)]) == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert {f["symbol"] for f in data["findings"]} >= {"libfoo.new_api"}


def test_the_scan_command_says_what_is_wrong_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["scan", str(tmp_path)]) == 4
    assert "no pyproject.toml" in capsys.readouterr().err


@pytest.mark.slow
def test_scan_first_runs_before_the_envs(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    index: Path,
    tooling_wheels: Path,
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{index} {tooling_wheels}")
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["libfoo>=1.0"],
        package={
            "myproj/__init__.py": "import libfoo\n\n\ndef go():\n    return libfoo.new_api()\n"
        },
        tests={"test_go.py": "def test_nothing():\n    pass\n"},
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower", "--depbounds-scan-first"
    )
    result.stdout.fnmatch_lines(
        [
            "*depbounds: static scan*",
            (
                "static: `libfoo.new_api` used at myproj/__init__.py:5 does not exist "
                "in libfoo 1.0; first present in 1.4"
            ),
            "*depbounds: lower bound*",
            "lower*passed*",
            "[[]lower[]] static: `libfoo.new_api`*; write libfoo>=1.4",
        ]
    )
    # The tests never call it: only the scan sees it, and it does not fail the run.
    assert result.ret == pytest.ExitCode.OK
    strict = pytester.runpytest_subprocess(
        "--depbounds=lower", "--depbounds-scan-first", "--depbounds-strict-scan"
    )
    strict.stdout.fnmatch_lines(["lower*failed*"])
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


SCAN_TOKEN = "tok-SECRET-scan-4e1b"  # noqa: S105


@pytest.mark.parametrize("where", ["url", "netrc"])
def test_the_scan_downloads_wheels_with_the_index_credentials(
    where: str,
    index: Path,
    project: Path,
    *,
    tmp_path: Path,
    serve_index: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = serve_index([index], {f"user:{SCAN_TOKEN}"})
    url = f"http://127.0.0.1:{port}/simple"
    if where == "url":
        url = f"http://user:{SCAN_TOKEN}@127.0.0.1:{port}/simple"
    else:
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login user password {SCAN_TOKEN}\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
    cache = tmp_path / "cache"
    args = ["scan", str(project), "--index-url", url, "--cache-dir", str(cache)]
    assert cli.main([*args, "--json", str(tmp_path / "scan.json")]) == 0
    out, err = capsys.readouterr()
    assert "first present in 1.4" in out
    written = [p.read_bytes() for p in cache.rglob("*") if p.is_file()]
    written += [(tmp_path / "scan.json").read_bytes(), out.encode(), err.encode()]
    assert not [text for text in written if SCAN_TOKEN.encode() in text]


def test_a_refused_download_is_said_without_the_password(
    index: Path,
    project: Path,
    tmp_path: Path,
    serve_index: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = serve_index([index], {"user:right"})
    url = f"http://user:{SCAN_TOKEN}@127.0.0.1:{port}/simple"
    args = ["scan", str(project), "--index-url", url]
    assert cli.main([*args, "--cache-dir", str(tmp_path / "cache")]) == 6
    out, err = capsys.readouterr()
    assert f"http://user:****@127.0.0.1:{port}/simple/libfoo/" in err
    assert "HTTP 401" in err
    assert SCAN_TOKEN not in out + err


def test_the_scan_command_reads_requirements_files(
    index: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenStack's layout: the metadata in setup.cfg, the dependencies in
    # requirements.txt, the test ones in test-requirements.txt.
    root = tmp_path / "proj"
    (root / "myproj").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["pbr"]\nbuild-backend = "pbr.build"\n', "utf-8"
    )
    (root / "setup.cfg").write_text(
        "[metadata]\nname = myproj\nversion = 0.1.0\n", "utf-8"
    )
    (root / "myproj" / "__init__.py").write_text(
        "import libfoo\n\n\ndef go():\n    return libfoo.new_api()\n", "utf-8"
    )
    (root / "requirements.txt").write_text("libfoo>=1.0  # new_api\n", "utf-8")
    (root / "test-requirements.txt").write_text("barlib>=1.0\n", "utf-8")
    monkeypatch.chdir(root)
    args = ["scan", "--find-links", str(index), "--no-index", "--strict"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert cli.main(args) == 0
    assert "libfoo" not in capsys.readouterr().out
    files = ["-r", "requirements.txt", "--requirements", "test-requirements.txt"]
    assert cli.main([*args, *files]) == 1
    out = capsys.readouterr().out
    assert "`libfoo.new_api` used at myproj/__init__.py:5" in out
    assert "first present in 1.4" in out
    assert "2 dependencies checked" in out
    assert cli.main([*args, "-r", "requirements.txt", "test-requirements.txt"]) == 2
    assert "give each requirements file its own -r" in capsys.readouterr().err


def test_keywords_reached_through_a_value_or_a_module_alias(tmp_path: Path) -> None:
    # pytest's ``mark = MARK_GEN`` (a MarkGenerator instance): every plugin's
    # ``pytest.mark.skipif(..., reason=...)`` was "skipped: not found"; and a
    # function reached through a re-exported module was never checked.
    files = {
        "marklib/__init__.py": "from marklib import _impl as impl\n"
        "from marklib._impl import MARK as mark\n",
        "marklib/_impl.py": "class Gen:\n    def __getattr__(self, name):\n"
        "        return name\n\n\nMARK = Gen()\n\n\n"
        "def run(path, *, quiet=False):\n    pass\n",
    }
    api = load_api(write_wheel(tmp_path, "marklib", "1.0", files), "marklib", "1.0")
    assert accepts(api, "marklib.mark.skipif", "reason").state == "present"
    assert accepts(api, "marklib.impl.run", "quiet").state == "present"
    assert accepts(api, "marklib.impl.run", "loud").state == "missing"


def test_the_summary_line_counts_one_use_in_the_singular() -> None:
    result = ScanResult(
        findings=(),
        skipped=(),
        versions={"click": ("5.0", "8.5.1")},
        checked=1,
        seconds=0.5,
        built=0,
    )
    assert result.lines()[-1].startswith("scan: 1 use of 1 dependency checked")
