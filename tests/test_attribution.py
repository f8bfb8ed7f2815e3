"""Attribution: each failure named by dist, version, symbol and project line."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from typing import TYPE_CHECKING, Any

import pytest
from packaging.requirements import Requirement

from pytest_depbounds import _inner
from pytest_depbounds.attribution import (
    Attributor,
    Finding,
    SiteIndex,
    attribute_failures,
    crash_facts,
    group,
    site_packages,
)
from pytest_depbounds.declared import Declaration, DeclaredRequirement
from pytest_depbounds.results import rebuild_report, split_facts
from pytest_depbounds.testing import write_project, write_wheel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

# -- in-process: real exceptions from the inner plugin, a hand-made site-packages --

#: name → (version, files, requires), unpacked into one site-packages folder.
SITE_WHEELS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "fakelib": ("1.0", {"fakelib/__init__.py": "def old_api():\n    return 1\n"}, []),
    # The import name differs from the dist name; 3.0 removed ``greenio.util``.
    "green-io": ("3.0", {"greenio/__init__.py": ""}, []),
    # One dist, two top-level names.
    "twotops": (
        "1.0",
        {"alpha/__init__.py": "A = 1\n", "beta.py": "B = 1\n"},
        [],
    ),
    "kwlib": (
        "1.0",
        {"kwlib/__init__.py": "def connect(host):\n    return host\n"},
        [],
    ),
    "forwardlib": (
        "1.0",
        {
            "forwardlib/__init__.py": (
                "def connect(host, **options):\n"
                "    return _open(host, **options)\n\n\n"
                "def _open(host):\n"
                "    return host\n"
            )
        },
        [],
    ),
    "warnlib": (
        "1.0",
        {
            "warnlib/__init__.py": (
                "import warnings\n\n\n"
                "def old():\n"
                '    warnings.warn("old() is deprecated", DeprecationWarning, '
                "stacklevel=2)\n"
                "    return 1\n"
            )
        },
        [],
    ),
    "retlib": (
        "2.0",
        {"retlib/__init__.py": 'def items():\n    return {"a": 1}\n'},
        [],
    ),
    "toplib": (
        "1.0",
        {"toplib/__init__.py": "import baselib\n\n\ndef run():\n    return 1\n"},
        ["baselib>=1.0"],
    ),
    "baselib": ("3.0", {"baselib/__init__.py": "VERSION = 3\n"}, []),
    # A dist re-exporting another under its own namespace, and a vendored copy.
    "hostlib": (
        "1.0",
        {
            "hostlib/__init__.py": "from hostlib import packages\n",
            "hostlib/packages.py": "import innerlib\n",
            "hostlib/_vendor/__init__.py": "",
            "hostlib/_vendor/vlib.py": "V = 1\n",
        },
        ["innerlib"],
    ),
    "innerlib": ("1.0", {"innerlib/__init__.py": "VALUE = 1\n"}, []),
    "syntaxlib": ("1.0", {"syntaxlib/__init__.py": "def broken(:\n    pass\n"}, []),
    # requests' import-time version check: an assertion it catches, then a
    # warning (an error under "error") raised while handling it.
    "guardlib": ("1.0", {"guardlib/__init__.py": "import checklib\n"}, ["checklib"]),
    "checklib": (
        "1.0",
        {
            "checklib/__init__.py": (
                "try:\n"
                "    assert False, 'too old'\n"
                "except AssertionError:\n"
                "    raise RuntimeError('checklib: unsupported versions')\n"
            )
        },
        [],
    ),
    # pbr 5's VersionInfo imports pkg_resources when called, undeclared.
    "lazylib": (
        "1.0",
        {"lazylib/__init__.py": "def version():\n    import gone_module\n"},
        [],
    ),
}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """One finding per line, whatever the width of the terminal running the tests."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One site-packages folder holding every library of ``SITE_WHEELS``."""
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("env") / "site-packages"
    for name, (version, files, requires) in SITE_WHEELS.items():
        wheel = write_wheel(wheels, name, version, files, requires=requires)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    return target


def _declaration(project: Path, *requirements: str) -> Declaration:
    return Declaration(
        project_dir=project,
        project_name="myproj",  # type: ignore[arg-type]
        requirements=tuple(
            DeclaredRequirement(
                requirement=Requirement(r), location="pyproject.toml", origin=""
            )
            for r in requirements
        ),
        build_inputs=(),
    )


def _failures(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    files: Mapping[str, str],
    *args: str,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Run a session with the inner plugin; the facts of each failure."""
    for path, text in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    results = pytester.path / "results.jsonl"
    monkeypatch.setenv(_inner.RESULTS_VAR, str(results))
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytester.runpytest_subprocess("-p", "pytest_depbounds._inner", *args)
    found = []
    for line in results.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["event"] not in {"report", "collectreport"}:
            continue
        data, facts = split_facts(record["data"])
        if facts is not None:
            when = "collect" if record["event"] == "collectreport" else data["when"]
            found.append((data["nodeid"], when, dict(facts)))
    return found


def _attribute(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    files: Mapping[str, str],
    declared: Sequence[str] = (),
    *,
    others: Sequence[SiteIndex] = (),
) -> dict[str, Finding | None]:
    failures = _failures(pytester, monkeypatch, site, files)
    attributor = Attributor(
        SiteIndex([site]),
        _declaration(pytester.path, *declared),
        implementation="CPython",
        python="3.11.4",
        others=others,
    )
    return {nodeid: attributor.attribute(facts) for nodeid, _, facts in failures}


def _check(finding: Finding | None, *expected: str | None) -> Finding:
    """Assert kind, dist, version, symbol, usage and relation (default direct)."""
    assert finding is not None
    kind, dist, version, symbol, usage, *relation = expected
    assert (finding.kind, finding.dist, finding.version) == (kind, dist, version)
    assert (finding.symbol, finding.usage) == (symbol, usage)
    assert finding.relation == (relation[0] if relation else "direct")
    return finding


def test_a_module_a_dependency_imports_undeclared_is_the_dependencys(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    # python-cinderclient calls pbr's version_string(), which imports
    # pkg_resources: pbr's undeclared need, not an import of the project.
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "myproj/__init__.py": "import lazylib\n\nVERSION = lazylib.version()\n",
            "test_a.py": "import myproj\n\n\ndef test_go():\n    pass\n",
        },
        ["lazylib>=1.0"],
    )
    finding = _check(
        found["test_a.py"],
        "error-in-dependency",
        "lazylib",
        "1.0",
        "lazylib.version",
        "myproj/__init__.py:3",
    )
    assert finding.message.startswith(
        "lazylib 1.0: ModuleNotFoundError: No module named 'gone_module' raised in "
        "`lazylib.version`"
    )


def test_a_finding_names_five_usage_sites_and_counts_the_rest() -> None:
    # python-cinderclient: 12 test modules import ddt; the summary named them all.
    finding = Finding(
        kind="missing-module",
        dist=None,
        version=None,
        symbol="ddt",
        usage=None,
        relation="undeclared",
        chain=(),
        detail="",
        headline="myproj imports `ddt` but does not declare it",
    )
    sites = [f"tests/test_{n}.py:3" for n in range(12)]
    assert finding.describe(sites) == (
        "myproj imports `ddt` but does not declare it — used at tests/test_0.py:3, "
        "tests/test_1.py:3, tests/test_2.py:3, tests/test_3.py:3, tests/test_4.py:3, "
        "7 more"
    )


def test_missing_attribute_and_missing_name(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "myproj/__init__.py": "import fakelib\n\n\ndef go():\n    return fakelib.new_api()\n",
            "test_a.py": "import myproj\n\n\ndef test_go():\n    myproj.go()\n",
            "test_b.py": "def test_name():\n    from fakelib import new_api\n",
        },
        ["fakelib>=1.0"],
    )
    finding = _check(
        found["test_a.py::test_go"],
        "missing-attribute",
        "fakelib",
        "1.0",
        "fakelib.new_api",
        "myproj/__init__.py:5",
    )
    assert finding.message == (
        "fakelib 1.0: `fakelib.new_api` missing — used at myproj/__init__.py:5"
    )
    _check(
        found["test_b.py::test_name"],
        "missing-name",
        "fakelib",
        "1.0",
        "fakelib.new_api",
        "test_b.py:2",
    )


def test_import_name_differs_from_dist_name(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    tmp_path: Path,
) -> None:
    files = {
        "test_a.py": "def test_import():\n    import greenio.util\n",
        "test_b.py": "def test_from():\n    from greenio import util\n",
    }
    found = _attribute(pytester, monkeypatch, site, files, ["green-io>=0.15"])
    _check(
        found["test_a.py::test_import"],
        "missing-module",
        "green-io",
        "3.0",
        "greenio.util",
        "test_a.py:2",
    )
    # ``from pkg import sub`` cannot tell a submodule from a name by itself.
    assert found["test_b.py::test_from"].kind == "missing-name"  # type: ignore[union-attr]
    # Another bound's env, which has the submodule, tells it.
    older = tmp_path / "site-packages"
    wheel = write_wheel(
        tmp_path,
        "green-io",
        "0.15.2",
        {"greenio/__init__.py": "", "greenio/util.py": ""},
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(older)
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        files,
        ["green-io>=0.15"],
        others=[SiteIndex([older])],
    )
    _check(
        found["test_b.py::test_from"],
        "missing-module",
        "green-io",
        "3.0",
        "greenio.util",
        "test_b.py:2",
    )


def test_call_mismatch_on_the_project_line_and_inside_the_dependency(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "test_a.py": (
                "import kwlib\nimport forwardlib\n\n\n"
                "def test_kw():\n    kwlib.connect('h', timeout=3)\n\n\n"
                "def test_forwarded():\n    forwardlib.connect('h', timeout=3)\n"
            )
        },
        ["kwlib>=1.0", "forwardlib>=1.0"],
    )
    _check(
        found["test_a.py::test_kw"],
        "call-mismatch",
        "kwlib",
        "1.0",
        "kwlib.connect(timeout=)",
        "test_a.py:6",
    )
    _check(
        found["test_a.py::test_forwarded"],
        "call-mismatch",
        "forwardlib",
        "1.0",
        "forwardlib.connect(timeout=)",
        "test_a.py:10",
    )


def test_warning_turned_error_and_project_error_with_a_dependency(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "test_a.py": (
                "import pytest\nimport retlib\nimport warnlib\n\n\n"
                "@pytest.mark.filterwarnings('error')\n"
                "def test_warns():\n    warnlib.old()\n\n\n"
                "def test_changed_return():\n    assert retlib.items()[0]\n\n\n"
                "def test_verdict():\n    assert retlib.items() == []\n"
            )
        },
        ["warnlib>=1.0", "retlib>=1.0"],
    )
    finding = _check(
        found["test_a.py::test_warns"],
        "warning-from-dependency",
        "warnlib",
        "1.0",
        "warnlib.old",
        "test_a.py:8",
    )
    assert "DeprecationWarning: old() is deprecated" in finding.message
    _check(
        found["test_a.py::test_changed_return"],
        "project-error-with-dependency",
        "retlib",
        "2.0",
        "retlib.items",
        "test_a.py:12",
    )
    # A failed assertion is the test's verdict, not a dependency's fault.
    assert found["test_a.py::test_verdict"] is None


def test_undeclared_imports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "test_a.py": (
                "import baselib\n\n\n"
                "def test_ghost():\n    import ghostlib\n\n\n"
                "def test_through():\n    baselib.feature()\n"
            )
        },
        ["toplib>=1.0"],
    )
    finding = _check(
        found["test_a.py::test_ghost"],
        "missing-module",
        None,
        None,
        "ghostlib",
        "test_a.py:5",
        "undeclared",
    )
    assert "myproj imports `ghostlib` but does not declare it" in finding.message
    finding = _check(
        found["test_a.py::test_through"],
        "missing-attribute",
        "baselib",
        "3.0",
        "baselib.feature",
        "test_a.py:9",
        "undeclared",
    )
    assert finding.chain == ("myproj", "toplib 1.0", "baselib 3.0")
    assert finding.message.endswith(
        "; not declared, installed through myproj → toplib 1.0 → baselib 3.0"
    )


def test_vendored_aliases_and_several_top_level_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "test_a.py": (
                "import alpha\nimport beta\nimport hostlib\n"
                "import hostlib._vendor.vlib\n\n\n"
                "def test_alias():\n    hostlib.packages.innerlib.gone()\n\n\n"
                "def test_vendored():\n    hostlib._vendor.vlib.gone()\n\n\n"
                "def test_alpha():\n    alpha.gone()\n\n\n"
                "def test_beta():\n    beta.gone()\n"
            )
        },
        ["hostlib>=1.0", "twotops>=1.0"],
    )
    # Reached through hostlib's namespace, but innerlib's own module.
    alias = _check(
        found["test_a.py::test_alias"],
        "missing-attribute",
        "innerlib",
        "1.0",
        "innerlib.gone",
        "test_a.py:8",
        "undeclared",
    )
    assert alias.chain == ("myproj", "hostlib 1.0", "innerlib 1.0")
    _check(
        found["test_a.py::test_vendored"],
        "missing-attribute",
        "hostlib",
        "1.0",
        "hostlib._vendor.vlib.gone",
        "test_a.py:12",
    )
    for test, module in (("alpha", "alpha"), ("beta", "beta")):
        _check(
            found[f"test_a.py::test_{test}"],
            "missing-attribute",
            "twotops",
            "1.0",
            f"{module}.gone",
            f"test_a.py:{16 if test == 'alpha' else 20}",
        )


def test_a_dependency_that_does_not_compile_is_broken(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {"test_a.py": "def test_import():\n    import syntaxlib\n"},
        ["syntaxlib>=1.0"],
    )
    finding = _check(
        found["test_a.py::test_import"],
        "broken-dependency",
        "syntaxlib",
        "1.0",
        "syntaxlib",
        "test_a.py:2",
    )
    assert finding.message.startswith(
        "syntaxlib 1.0 does not import on CPython 3.11: SyntaxError"
    )


def test_a_dependency_broken_while_handling_its_own_check_is_transitive(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    # moto imports requests, whose version check fails: the exception pytest
    # shows came through moto; the one it replaced never left requests. The
    # project does not use requests itself: it is no undeclared import of it.
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {"test_a.py": "def test_import():\n    import guardlib\n"},
        ["guardlib>=1.0"],
    )
    finding = _check(
        found["test_a.py::test_import"],
        "broken-dependency",
        "checklib",
        "1.0",
        "checklib",
        "test_a.py:2",
        "transitive",
    )
    assert finding.chain == ("myproj", "guardlib 1.0", "checklib 1.0")


def test_the_project_own_bugs_are_not_attributed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    found = _attribute(
        pytester,
        monkeypatch,
        site,
        {
            "myproj/__init__.py": "def helper():\n    return {}['x']\n",
            "test_a.py": (
                "import myproj\n\n\n"
                "def test_key():\n    myproj.helper()\n\n\n"
                "def test_own_module():\n    import myproj.nothing\n\n\n"
                "def test_stdlib():\n    import collections.gone\n"
            ),
        },
        ["fakelib>=1.0"],
    )
    assert found["test_a.py::test_key"] is None
    assert found["test_a.py::test_own_module"] is None
    assert found["test_a.py::test_stdlib"] is None


def test_collection_errors_carry_facts_and_group_with_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    failures = _failures(
        pytester,
        monkeypatch,
        site,
        {
            "test_a.py": "from fakelib import new_api\n",
            "test_b.py": "def test_one():\n    from fakelib import new_api\n",
            "test_c.py": "def test_two():\n    from fakelib import new_api\n",
        },
        "--continue-on-collection-errors",
    )
    assert {(n, w) for n, w, _ in failures} == {
        ("test_a.py", "collect"),
        ("test_b.py::test_one", "call"),
        ("test_c.py::test_two", "call"),
    }
    attributor = Attributor(
        SiteIndex([site]), _declaration(pytester.path, "fakelib>=1.0")
    )
    culprits, unattributed = attribute_failures(attributor, failures)
    assert unattributed == ()
    (culprit,) = culprits
    assert culprit.tests == ("test_b.py::test_one", "test_c.py::test_two")
    assert culprit.collectors == ("test_a.py",)
    assert culprit.summary == (
        "fakelib 1.0: `fakelib.new_api` missing — used at test_a.py:1, test_b.py:2, "
        "test_c.py:2, 2 tests fail, 1 file fails to collect"
    )


def test_facts_round_trip_and_stay_off_the_replayed_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    failures = _failures(
        pytester,
        monkeypatch,
        site,
        {"test_a.py": "import fakelib\n\n\ndef test_go():\n    fakelib.new_api()\n"},
    )
    ((nodeid, when, facts),) = failures
    assert (nodeid, when) == ("test_a.py::test_go", "call")
    (exc,) = facts["chain"]
    assert exc["type"] == "builtins.AttributeError"
    assert exc["name"] == "new_api"
    assert exc["obj"]["kind"] == "module"
    assert exc["obj"]["module"] == "fakelib"
    assert exc["frames"][-1]["line"] == "fakelib.new_api()"
    assert {"expr": "fakelib", "missing": "new_api"}.items() <= (
        exc["frames"][-1]["names"][0].items()
    )
    data = {"nodeid": nodeid, "outcome": "failed", _inner.FACTS_KEY: facts}
    rest, split = split_facts(data)
    assert split == facts
    assert _inner.FACTS_KEY not in rest
    report = rebuild_report(pytester.parseconfig(), rest, "lower")
    assert not hasattr(report, _inner.FACTS_KEY)


# -- pure units -------------------------------------------------------------------


def test_site_index_maps_files_modules_and_top_level_names(site: Path) -> None:
    index = SiteIndex([site, site])
    assert index.dist_of_module("greenio.util").name == "green-io"  # type: ignore[union-attr]
    assert index.dist_of_module("alpha").name == "twotops"  # type: ignore[union-attr]
    assert index.dist_of_module("beta").name == "twotops"  # type: ignore[union-attr]
    assert index.dist_of_module("nothing_provides_this") is None
    assert index.dist_of_file(str(site / "kwlib" / "__init__.py")).name == "kwlib"  # type: ignore[union-attr]
    assert index.has_module("hostlib._vendor.vlib")
    assert not index.has_module("greenio.util")
    assert index.dists["toplib"].requires == (Requirement("baselib>=1.0"),)


def test_site_packages_of_an_env(tmp_path: Path) -> None:
    purelib = tmp_path / "lib" / "python3.11" / "site-packages"
    purelib.mkdir(parents=True)
    (tmp_path / "lib64").symlink_to(tmp_path / "lib")
    assert site_packages(tmp_path) == (purelib,)


def test_frames_of_an_installed_project_map_to_its_source(
    tmp_path: Path, site: Path
) -> None:
    project = write_project(
        tmp_path / "proj", "myproj", package={"src/myproj/core.py": ""}
    )
    installed = tmp_path / "env" / "site-packages"
    wheel = write_wheel(tmp_path, "myproj", "0.1.0", {"myproj/core.py": "X = 1\n"})
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    facts = {
        "chain": [
            {
                "type": "builtins.AttributeError",
                "message": "module 'fakelib' has no attribute 'new_api'",
                "name": "new_api",
                "frames": [
                    {
                        "file": str(installed / "myproj" / "core.py"),
                        "lineno": 7,
                        "function": "go",
                        "module": "myproj.core",
                    }
                ],
            }
        ]
    }
    attributor = Attributor(
        SiteIndex([installed, site]), _declaration(project, "fakelib>=1.0")
    )
    _check(
        attributor.attribute(facts),
        "missing-attribute",
        "fakelib",
        "1.0",
        "fakelib.new_api",
        "src/myproj/core.py:7",
    )


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {"chain": "nonsense"},
        {"chain": [{"type": "facts-error", "message": "boom", "frames": []}]},
        {"chain": [{"type": "builtins.ValueError", "frames": [{"file": 3}]}]},
    ],
)
def test_odd_facts_attribute_to_nothing(
    facts: dict[str, Any], tmp_path: Path, site: Path
) -> None:
    attributor = Attributor(SiteIndex([site]), _declaration(tmp_path))
    assert attributor.attribute(facts) is None


def test_group_keeps_culprits_apart_and_counts_failures() -> None:
    def finding(symbol: str, usage: str) -> Finding:
        return Finding(
            kind="missing-attribute",
            dist="libfoo",
            version="1.0",
            symbol=symbol,
            usage=usage,
            relation="direct",
            chain=(),
            detail="AttributeError: …",
            headline=f"libfoo 1.0: `{symbol}` missing",
        )

    culprits = group(
        [
            (f"t.py::test_{n}", "call", finding("libfoo.new_api", "pkg/client.py:3"))
            for n in range(12)
        ]
        + [("t.py::test_x", "setup", finding("libfoo.other", "pkg/other.py:9"))]
    )
    assert [c.summary for c in culprits] == [
        "libfoo 1.0: `libfoo.new_api` missing — used at pkg/client.py:3, 12 tests fail",
        "libfoo 1.0: `libfoo.other` missing — used at pkg/other.py:9, 1 test fails",
    ]


# -- end to end: envs built from the fake index -------------------------------------

FLOOR_GAPS = {
    "myproj/__init__.py": "",
    "myproj/client.py": "import fakelib\n\n\ndef go():\n    return fakelib.new_api()\n",
    "myproj/conn.py": (
        "import kwlib\n\n\ndef connect():\n    return kwlib.connect('db', timeout=3)\n"
    ),
    "myproj/parse.py": "import parselib\n\n\ndef load():\n    return parselib.parse('x')\n",
    "myproj/chain.py": "import toplib\n\n\ndef run():\n    return toplib.run()\n",
    "myproj/legacy.py": "import ghostlib\n",
    "myproj/broken.py": "import brokenlib\n",
}
FLOOR_TESTS = {
    "test_client.py": (
        "from myproj import client\n\n\n"
        "def test_go():\n    assert client.go() == 'new'\n\n\n"
        "def test_go_again():\n    assert client.go() == 'new'\n"
    ),
    "test_name.py": "from fakelib import new_api\n",
    "test_others.py": (
        "def test_connect():\n    from myproj import conn\n    conn.connect()\n\n\n"
        "def test_parse():\n    from myproj import parse\n    parse.load()\n\n\n"
        "def test_chain():\n    from myproj import chain\n    chain.run()\n\n\n"
        "def test_legacy():\n    import myproj.legacy\n\n\n"
        "def test_broken():\n    import myproj.broken\n"
    ),
}


def _findings(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    return {b["bound"]: b for b in report["bounds"]}


def _key(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        finding["kind"],
        finding["dist"],
        finding["version"],
        finding["symbol"],
        tuple(finding["usage"]),
        finding["relation"],
    )


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_each_gap_at_the_floor_is_attributed(pytester: pytest.Pytester) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=[
            "fakelib>=1.0",
            "kwlib>=1.0",
            "parselib>=1.0",
            "toplib>=1.0",
            "brokenlib>=1.0",
        ],
        package=FLOOR_GAPS,
        tests=FLOOR_TESTS,
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower",
        "--depbounds-bisect",
        "--depbounds-report=r.json",
        "--continue-on-collection-errors",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lower = _findings(pytester)["lower"]
    assert lower["unattributed"] == []
    findings = {f["symbol"]: f for f in lower["findings"]}
    # The specifier to write: bisected over the released versions (no upper
    # bound ran here), or advice where no floor can fix it.
    assert {(f["kind"], f["symbol"]): f["fix"] for f in lower["findings"]} == {
        ("missing-attribute", "fakelib.new_api"): "fakelib>=1.4",
        ("missing-name", "fakelib.new_api"): "fakelib>=1.4",
        ("call-mismatch", "kwlib.connect(timeout=)"): "kwlib>=1.2",
        ("error-in-dependency", "parselib.parse"): "parselib>=2.0",
        ("missing-attribute", "baselib.feature"): "baselib<3.0",
        ("missing-module", "ghostlib"): None,
        ("broken-dependency", "brokenlib"): "brokenlib>=1.1",
    }
    assert findings["ghostlib"]["advice"] == (
        "declare the distribution that provides `ghostlib`"
    )
    assert findings["baselib.feature"]["advice"] == (
        "raise `toplib` to a release that works with baselib 3.0, or constrain "
        "`baselib<3.0` with a reason"
    )
    notes = {n["dist"]: n["message"] for n in lower["notes"]}
    assert notes == {
        "fakelib": "fakelib: the failing tests pass from 1.4 (tried 1.0 ✗, 1.4 ✓, 2.0 ✓)",
        "kwlib": "kwlib: the failing tests pass from 1.2 (tried 1.0 ✗, 1.2 ✓)",
        "parselib": "parselib: the failing tests pass from 2.0 (tried 1.0 ✗, 2.0 ✓)",
        "toplib": (
            "toplib: the failing tests fail even at 1.1 with the other dependencies "
            "at the lower bound (tried 1.0 ✗, 1.1 ✗): another dependency is involved"
        ),
        "brokenlib": (
            "brokenlib: the failing tests pass from 1.1 (tried 1.0 ✗ (does not "
            "import on CPython 3.11), 1.1 ✓)"
        ),
    }
    assert {_key(f) for f in lower["findings"]} == {
        (
            "missing-attribute",
            "fakelib",
            "1.0",
            "fakelib.new_api",
            ("myproj/client.py:5",),
            "direct",
        ),
        (
            "missing-name",
            "fakelib",
            "1.0",
            "fakelib.new_api",
            ("tests/test_name.py:1",),
            "direct",
        ),
        (
            "call-mismatch",
            "kwlib",
            "1.0",
            "kwlib.connect(timeout=)",
            ("myproj/conn.py:5",),
            "direct",
        ),
        (
            "error-in-dependency",
            "parselib",
            "1.0",
            "parselib.parse",
            ("myproj/parse.py:5",),
            "direct",
        ),
        (
            "missing-attribute",
            "baselib",
            "3.0",
            "baselib.feature",
            ("myproj/chain.py:5",),
            "transitive",
        ),
        (
            "missing-module",
            None,
            None,
            "ghostlib",
            ("myproj/legacy.py:1",),
            "undeclared",
        ),
        (
            "broken-dependency",
            "brokenlib",
            "1.0",
            "brokenlib",
            ("myproj/broken.py:1",),
            "direct",
        ),
    }
    attribute = next(f for f in lower["findings"] if f["kind"] == "missing-attribute")
    assert attribute["tests"] == [
        "tests/test_client.py::test_go",
        "tests/test_client.py::test_go_again",
    ]
    assert findings["baselib.feature"]["chain"] == [
        "myproj",
        "toplib 1.0",
        "baselib 3.0",
    ]
    name = next(f for f in lower["findings"] if f["kind"] == "missing-name")
    assert name["collection_errors"] == ["tests/test_name.py"]
    result.stdout.fnmatch_lines(
        [
            "*depbounds summary*",
            "lower*failed*",
            "findings:",
            (
                "[[]lower[]] fakelib 1.0: `fakelib.new_api` missing — used at "
                "tests/test_name.py:1, 1 file fails to collect"
            ),
            "*fix: write `fakelib>=1.4` (bisected: the failing tests pass from 1.4)",
            (
                "[[]lower[]] fakelib 1.0: `fakelib.new_api` missing — used at "
                "myproj/client.py:5, 2 tests fail"
            ),
            "*fix: write `fakelib>=1.4`*",
            "[[]lower[]] kwlib 1.0: `kwlib.connect(timeout=)` not accepted*",
            (
                "[[]lower[]] parselib 1.0: ValueError: cannot parse 'x' raised in "
                "`parselib.parse` — used at myproj/parse.py:5, 1 test fails"
            ),
            "*fix: write `parselib>=2.0`*",
            (
                "[[]lower[]] baselib 3.0: `baselib.feature` missing — used at "
                "myproj/chain.py:5 (via myproj → toplib 1.0 → baselib 3.0), 1 test "
                "fails"
            ),
            "*fix: raise `toplib` to a release that works with baselib 3.0*",
            "[[]lower[]] myproj imports `ghostlib` but does not declare it*",
            "*advice: declare the distribution that provides `ghostlib`",
            (
                "[[]lower[]] brokenlib 1.0 does not import on CPython 3.*: ImportError: "
                "cannot import name 'Mapping' from 'collections' — imported at "
                "myproj/broken.py:1, 1 test fails"
            ),
            (
                "*fix: the lowest that imports and passes the failing tests is 1.1: "
                "write `brokenlib>=1.1`"
            ),
        ]
    )


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_a_submodule_removed_upstream_is_a_missing_module(
    pytester: pytest.Pytester,
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["green-io>=0.15"],
        package={"myproj/__init__.py": "from greenio import util\n"},
        tests={
            "test_util.py": "import myproj\n\n\ndef test_util():\n    assert myproj.util\n"
        },
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-bisect", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    bounds = _findings(pytester)
    assert bounds["lower"]["findings"] == []
    assert bounds["lower"]["notes"] == []
    (finding,) = bounds["upper"]["findings"]
    assert _key(finding) == (
        "missing-module",
        "green-io",
        "3.0",
        "greenio.util",
        ("myproj/__init__.py:1",),
        "direct",
    )
    assert finding["collection_errors"] == ["tests/test_util.py"]
    # No floor to raise: the last good and first bad release, and the advice.
    assert finding["fix"] is None
    assert finding["advice"] == (
        "last good 0.15.2, first bad 3.0: prefer fixing the code over a cap; cap "
        "(`green-io<3.0`) only with a reason, written beside it"
    )
    (note,) = bounds["upper"]["notes"]
    assert note == {
        "kind": "upper-break",
        "dist": "green-io",
        "message": (
            "green-io: 0.15.2 is the last good version, 3.0 the first bad (tried "
            "0.15.0 ✓, 0.15.2 ✓, 3.0 ✗); prefer fixing the code over a cap; cap "
            "(`green-io<3.0`) only with a reason, written beside it"
        ),
        "location": "pyproject.toml:9",
        "fix": None,
        "fails": False,
    }
    result.stdout.fnmatch_lines(["[[]upper[]] bisect green-io: 0.15.0 ✓ (1 of 2)"])


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_bounds_that_hold_have_no_finding(pytester: pytest.Pytester) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["fakelib>=1.4", "stablelib>=1.0"],
        package={
            "myproj/__init__.py": (
                "import fakelib\nimport stablelib\n\n\n"
                "def go():\n    return fakelib.new_api(), stablelib.VALUE\n"
            )
        },
        tests={
            "test_go.py": "import myproj\n\n\ndef test_go():\n    assert myproj.go() == ('new', 1)\n"
        },
    )
    result = pytester.runpytest_subprocess(
        "--depbounds",
        "--depbounds-report=r.json",
        "--depbounds-bisect",
        "--depbounds-localize=yes",
        "--depbounds-fix",
    )
    assert result.ret == pytest.ExitCode.OK
    for bound in _findings(pytester).values():
        assert bound["findings"] == []
        assert bound["unattributed"] == []
        assert bound["notes"] == []
    result.stdout.no_fnmatch_line("findings:")
    result.stdout.no_fnmatch_line("*bisect*")
    result.stdout.no_fnmatch_line("*--depbounds-fix*")
    envs = pytester.path / ".pytest_cache" / "d" / "depbounds" / "envs"
    assert not list(envs.glob("bisect-*"))


def test_a_session_that_crashes_at_start_up_is_attributed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    # A conftest (or a plugin) that does not import at the floor stops pytest
    # before any report: only its printed traceback tells why.
    pytester.makeconftest("from fakelib import new_api\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    facts = crash_facts("\n".join(result.errlines), pytester.path)
    assert facts is not None
    attributor = Attributor(
        SiteIndex([site]),
        _declaration(pytester.path, "fakelib>=1.0", "syntaxlib>=1.0"),
        implementation="CPython",
        python="3.11.4",
    )
    finding = _check(
        attributor.attribute(facts),
        "missing-name",
        "fakelib",
        "1.0",
        "fakelib.new_api",
        "conftest.py:1",
    )
    (culprit,) = group([("depbounds::inner-session", "session", finding)])
    assert culprit.summary.endswith(
        "used at conftest.py:1, the inner session crashes before running a test"
    )

    # A dependency that does not compile, as pytest prints it (hypothesis 3.30
    # under Python 3.11, through its pytest plugin).
    broken = site / "syntaxlib" / "__init__.py"
    output = (
        'Error while loading plugin "pytest11".\n'
        f"{site}/syntaxlib/plug.py:2: in <module>\n"
        "    import syntaxlib\n"
        f'E     File "{broken}", line 1\n'
        "E       def broken(:\n"
        "E                  ^\n"
        "E   SyntaxError: invalid syntax\n"
    )
    facts = crash_facts(output, pytester.path)
    assert facts is not None
    finding = _check(
        attributor.attribute(facts),
        "broken-dependency",
        "syntaxlib",
        "1.0",
        "syntaxlib",
        None,
    )
    assert finding.message.startswith("syntaxlib 1.0 does not import on CPython 3.11")
    assert crash_facts("Killed\n", pytester.path) is None


def test_a_module_of_an_extra_not_under_test_says_which_extra(
    tmp_path: Path, site: Path
) -> None:
    # cattrs' layout: its msgspec and bson extras are not tested by default.
    declaration = dataclasses.replace(
        _declaration(tmp_path, "fakelib>=1.0"),
        unselected={
            "msgspec": "extra msgspec",
            "pymongo": "extra bson",
            "pyyaml": "group dev",
            "fixtures": "file test-requirements.txt",
        },
    )
    attributor = Attributor(SiteIndex([site]), declaration, python="3.11.4")

    def missing(module: str) -> Finding:
        frame = {"file": str(tmp_path / "test_a.py"), "lineno": 3}
        facts = {
            "type": "builtins.ModuleNotFoundError",
            "message": f"No module named '{module}'",
            "name": module,
            "frames": [frame | {"function": "<module>", "line": f"import {module}"}],
        }
        finding = attributor.attribute({"chain": [facts]})
        assert finding is not None
        assert (finding.dist, finding.relation) == (None, "undeclared")
        return finding

    msgspec = missing("msgspec")
    assert msgspec.message == (
        "myproj imports `msgspec`, which only its extra `msgspec` declares, not "
        "under test: no installed distribution provides `msgspec` — used at "
        "test_a.py:3"
    )
    assert msgspec.advice == (
        "add `msgspec` to --depbounds-extras to test it, or skip what needs it "
        "when it is missing (pytest.importorskip)"
    )
    assert "only its extra `bson` declares" in missing("bson").message
    # ``yaml`` is PyYAML's, as the usual spelling says; groups are named too.
    assert "only its group `dev` declares" in missing("yaml").message
    assert missing("yaml").advice is not None
    assert "to --depbounds-groups" in str(missing("yaml").advice)
    # OpenStack's test-requirements.txt, not given to --depbounds-requirements.
    fixtures = missing("fixtures")
    assert fixtures.message.startswith(
        "myproj imports `fixtures`, which only test-requirements.txt declares, not "
        "under test"
    )
    assert fixtures.advice == (
        "add test-requirements.txt to --depbounds-requirements to test it"
    )
    unknown = missing("nowhere_lib")
    assert "imports `nowhere_lib` but does not declare it" in unknown.message
    assert unknown.advice == (
        "declare the distribution that provides `nowhere_lib`, or, if one of the "
        "extras not under test (bson, msgspec) does, name it in --depbounds-extras"
    )


def test_a_dependency_needing_setuptools_undeclared_says_so(
    tmp_path: Path, site: Path
) -> None:
    # Sphinx 2.0 imports pkg_resources: a Python 3.11 venv seeds setuptools,
    # the bound envs do not.
    attributor = Attributor(
        SiteIndex([site]), _declaration(tmp_path, "fakelib>=1.0"), python="3.11.4"
    )
    frames = [
        {"file": str(tmp_path / "test_a.py"), "lineno": 1, "function": "<module>"},
        {
            "file": str(site / "fakelib" / "__init__.py"),
            "lineno": 1,
            "function": "<module>",
            "module": "fakelib",
        },
    ]
    facts = {
        "type": "builtins.ModuleNotFoundError",
        "message": "No module named 'pkg_resources'",
        "name": "pkg_resources",
        "frames": frames,
    }
    finding = attributor.attribute({"chain": [facts]})
    assert finding is not None
    assert (finding.kind, finding.dist) == ("broken-dependency", "fakelib")
    assert finding.headline == (
        "fakelib 1.0 does not import on 3.11: ModuleNotFoundError: No module named "
        "'pkg_resources' (`pkg_resources` is setuptools', which fakelib uses without "
        "declaring it; the envs install only declared distributions)"
    )


@pytest.mark.slow
def test_an_error_raised_alike_at_every_bound_is_no_bound_s_doing(
    pytester: pytest.Pytester, local_index: Path
) -> None:
    # django-model-utils on SQLite: Django 3.2 and 5.2 both raise "You can only
    # execute one statement at a time."; each bound blamed its Django and the
    # upper one advised a cap.
    code = "def execute(sql):\n    raise ValueError('one statement at a time')\n"
    for version in ("1.0", "2.0"):
        write_wheel(local_index, "samelib", version, {"samelib/__init__.py": code})
    write_project(
        pytester.path,
        "myproj",
        dependencies=["samelib>=1.0"],
        package={
            "myproj/__init__.py": "import samelib\n\ndef go():\n    samelib.execute('a; b')\n"
        },
        tests={"test_go.py": "import myproj\n\ndef test_go():\n    myproj.go()\n"},
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.fnmatch_lines(
        [
            "findings:",
            (
                "[[]lower[]] 1 failure not attributed to a dependency (it fails at the "
                "upper bound too)"
            ),
            (
                "[[]upper[]] 1 failure not attributed to a dependency (it fails at the "
                "lower bound too)"
            ),
        ]
    )
    result.stdout.no_fnmatch_line("*samelib<2.0*")
    assert result.ret == 1
