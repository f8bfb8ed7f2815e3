"""Bisection to the true bound, and localisation of the culprit dists."""

from __future__ import annotations

import json
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from packaging.version import Version

from pytest_depbounds import bisection
from pytest_depbounds.bisection import (
    Prober,
    RefineRequest,
    Schedule,
    Trial,
    Workspace,
    candidate_versions,
    choose_schedule,
    expected_probes,
    refine,
    search,
    strip_paths,
)
from pytest_depbounds.envs import env_dir
from pytest_depbounds.installer import IndexSettings, Installer
from pytest_depbounds.interpreters import find as find_interpreter
from pytest_depbounds.results import BoundResult
from pytest_depbounds.testing import write_project, write_wheel

if TYPE_CHECKING:
    from collections.abc import Callable


def _versions(n: int) -> list[Version]:
    return [Version(f"1.{i}") for i in range(n)]


def _probe(
    verdicts: Callable[[Version], str], tried: list[Version]
) -> Callable[[Version], Trial]:
    def probe(version: Version) -> Trial:
        tried.append(version)
        verdict = verdicts(version)
        return Trial(version=version, verdict=verdict, reason="x" * (verdict == "skip"))  # type: ignore[arg-type]

    return probe


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9, 17, 33])
def test_lower_search_finds_the_lowest_passing_in_log_steps(n: int) -> None:
    versions = _versions(n)
    for boundary in range(1, n):
        tried: list[Version] = []
        found = search(
            versions,
            _probe(lambda v, b=boundary: "pass" if v >= versions[b] else "fail", tried),
            dist="lib",
            direction="lower",
        )
        assert (found.good, found.bad) == (versions[boundary], versions[boundary - 1])
        assert len(tried) <= expected_probes(n)
        assert versions[0] not in tried  # the floor's failure is known
    assert expected_probes(8) == 4
    assert expected_probes(2) == 1


@pytest.mark.parametrize("n", [2, 3, 6, 9])
def test_upper_search_finds_the_last_good_and_first_bad(n: int) -> None:
    versions = _versions(n)
    for first_bad in range(1, n):
        tried: list[Version] = []
        found = search(
            versions,
            _probe(
                lambda v, b=first_bad: "fail" if v >= versions[b] else "pass", tried
            ),
            dist="lib",
            direction="upper",
        )
        assert (found.good, found.bad) == (versions[first_bad - 1], versions[first_bad])
        assert len(tried) <= expected_probes(n)
        assert versions[-1] not in tried


def test_versions_that_do_not_install_are_skipped_and_said() -> None:
    versions = _versions(6)
    skipped = {Version("1.2"), Version("1.3")}
    tried: list[Version] = []
    found = search(
        versions,
        _probe(
            lambda v: (
                "skip" if v in skipped else ("pass" if v >= Version("1.4") else "fail")
            ),
            tried,
        ),
        dist="lib",
        direction="lower",
        known_reason="does not import on CPython 3.11",
    )
    assert found.good == Version("1.4")
    assert found.bad == Version("1.1")
    assert found.tried == (
        "1.0 ✗ (does not import on CPython 3.11), 1.1 ✗, 1.2 skipped (x), "
        "1.3 skipped (x), 1.4 ✓, 1.5 ✓"
    )


def test_no_passing_version_is_inconclusive() -> None:
    tried: list[Version] = []
    found = search(
        _versions(4), _probe(lambda _v: "fail", tried), dist="lib", direction="lower"
    )
    assert found.good is None
    assert tried == [Version("1.3")]


def test_candidates_install_on_the_interpreter_and_paths_are_stripped(
    tmp_path: Path,
) -> None:
    for version in ("1.0", "1.3", "2.0rc1"):
        write_wheel(tmp_path, "Two_Lib", version, {"two_lib/__init__.py": ""})
    write_wheel(tmp_path, "two-lib", "1.2", {}, tag="cp27-cp27m-win32")
    write_wheel(tmp_path, "other", "9.0", {"other/__init__.py": ""})
    installer = Installer.select(
        "uv", IndexSettings(find_links=(str(tmp_path),), no_index=True)
    )
    found = candidate_versions(installer, "two-lib", find_interpreter(None))
    assert found == [Version(v) for v in ("1.0", "1.3", "2.0rc1")]
    assert strip_paths(["-x", "tests/test_a.py", "-k", "go"], ["tests/test_a.py"]) == (
        "-x",
        "-k",
        "go",
    )
    # ``-n 2`` with no xdist in the outer env: pytest took ``2`` for a path, and
    # the probes ran ``-n <node id>`` (a usage error, every version skipped).
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("", encoding="utf-8")
    args = ["-n", "2", "tests", "tests/test_a.py::test_x"]
    paths = ["2", "tests", "tests/test_a.py::test_x"]
    assert strip_paths(args, paths, tmp_path) == ("-n", "2")


# -- end to end: envs built from fake wheels -------------------------------------


@pytest.fixture(scope="module")
def bisect_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Libraries whose API grows across several releases."""
    folder = tmp_path_factory.mktemp("bisect-index")
    # Two names: ``b`` from 1.3, ``c`` from 1.6 (the true minimum is 1.6).
    for version in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "2.0"):
        code = "def a():\n    return 1\n"
        if Version(version) >= Version("1.3"):
            code += "def b():\n    return 2\n"
        if Version(version) >= Version("1.6"):
            code += "def c():\n    return 3\n"
        write_wheel(folder, "twolib", version, {"twolib/__init__.py": code})
    # A submodule added in 2.0.
    write_wheel(folder, "sublib", "1.0", {"sublib/__init__.py": ""})
    write_wheel(
        folder,
        "sublib",
        "2.0",
        {"sublib/__init__.py": "", "sublib/extra.py": "def f():\n    return 1\n"},
    )
    # A return type changed in 2.0: a list of pairs, then a dict.
    write_wheel(
        folder,
        "retlib",
        "1.0",
        {"retlib/__init__.py": "def items():\n    return [('a', 1)]\n"},
    )
    write_wheel(
        folder,
        "retlib",
        "2.0",
        {"retlib/__init__.py": "def items():\n    return {'a': 1}\n"},
    )
    # A value that changed: no exception names it (localisation finds it).
    write_wheel(folder, "valuelib", "1.0", {"valuelib/__init__.py": "VALUE = 1\n"})
    write_wheel(folder, "valuelib", "2.0", {"valuelib/__init__.py": "VALUE = 2\n"})
    # The same, fixed in 1.5: localisation says 2.0 (the upper bound's), bisection 1.5.
    for version, value in (("1.0", 1), ("1.5", 2), ("2.0", 2)):
        write_wheel(
            folder, "steplib", version, {"steplib/__init__.py": f"VALUE = {value}\n"}
        )
    # chainlib 1.0 calls corelib.feature, which corelib 3.0 removed; 1.1 does not.
    # Lowest-direct keeps corelib at 3.0 under chainlib's floor: a transitive gap.
    write_wheel(
        folder,
        "chainlib",
        "1.0",
        {
            "chainlib/__init__.py": "import corelib\n\n\ndef run():\n    return corelib.feature()\n"
        },
        requires=["corelib>=1.0"],
    )
    write_wheel(
        folder,
        "chainlib",
        "1.1",
        {"chainlib/__init__.py": "def run():\n    return 1\n"},
        requires=["corelib>=1.0"],
    )
    write_wheel(
        folder,
        "corelib",
        "1.0",
        {"corelib/__init__.py": "def feature():\n    return 1\n"},
    )
    write_wheel(folder, "corelib", "3.0", {"corelib/__init__.py": ""})
    # A name a test module imports, from 1.3 on: before, the module does not
    # collect (tornado 6.0's AsyncTestCase under pytest 9: exit status 2).
    for version in ("1.0", "1.1", "1.2", "1.3", "2.0"):
        code = "" if Version(version) < Version("1.3") else "FEATURE = 1\n"
        write_wheel(folder, "collectlib", version, {"collectlib/__init__.py": code})
    # A failure needing both at 1.0: each alone at 1.0 passes (an interaction).
    for name in ("pairone", "pairtwo"):
        for version in ("1.0", "2.0"):
            code = f"VALUE = {version[0]}\n"
            write_wheel(folder, name, version, {f"{name}/__init__.py": code})
    return folder


@pytest.fixture
def bisect_links(
    local_index: Path, bisect_index: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    import os  # noqa: PLC0415

    monkeypatch.setenv(
        "PIP_FIND_LINKS", f"{os.environ['PIP_FIND_LINKS']} {bisect_index}"
    )
    return bisect_index


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_bisection_finds_each_true_floor_with_log_builds(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, installs: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["twolib>=1.0", "sublib>=1.0", "retlib>=1.0"],
        package={
            "myproj/__init__.py": "",
            "myproj/two.py": "import twolib\n\n\ndef go():\n    return twolib.b() + twolib.c()\n",
            "myproj/sub.py": "from sublib import extra\n",
            "myproj/ret.py": "import retlib\n\n\ndef first():\n    return retlib.items()['a']\n",
        },
        tests={
            "test_two.py": "from myproj import two\n\n\ndef test_two():\n    assert two.go() == 5\n",
            "test_sub.py": "def test_sub():\n    from myproj import sub\n    assert sub.extra.f() == 1\n",
            "test_ret.py": "from myproj import ret\n\n\ndef test_ret():\n    assert ret.first() == 1\n",
            "test_fine.py": "def test_fine():\n    pass\n",
        },
    )
    before = (pytester.path / "pyproject.toml").read_text(encoding="utf-8")
    result = pytester.runpytest_inprocess(
        "--depbounds",
        "--depbounds-bisect",
        "--depbounds-fix",
        "--depbounds-report=r.json",
        "-p",
        "no:randomly",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    lower, upper = report["bounds"]
    assert upper["status"] == "passed"
    assert upper["notes"] == []
    findings = {f["dist"]: f for f in lower["findings"]}
    assert {
        d: (f["kind"], f["version"], f["symbol"], f["usage"], f["fix"])
        for d, f in findings.items()
    } == {
        "twolib": (
            "missing-attribute",
            "1.0",
            "twolib.b",
            ["myproj/two.py:5"],
            "twolib>=1.6",
        ),
        "sublib": (
            "missing-module",
            "1.0",
            "sublib.extra",
            ["myproj/sub.py:1"],
            "sublib>=2.0",
        ),
        "retlib": (
            "project-error-with-dependency",
            "1.0",
            "retlib.items",
            ["myproj/ret.py:5"],
            "retlib>=2.0",
        ),
    }
    assert findings["twolib"]["advice"] == (
        "write `twolib>=1.6` (bisected: the failing tests pass from 1.6)"
    )
    notes = {n["dist"]: n for n in lower["notes"]}
    assert notes["twolib"] == {
        "kind": "true-lower-bound",
        "dist": "twolib",
        "message": (
            "twolib: the failing tests pass from 1.6 "
            "(tried 1.0 ✗, 1.3 ✗, 1.5 ✗, 1.6 ✓, 2.0 ✓)"
        ),
        "location": "pyproject.toml:9",
        "fix": "twolib>=1.6",
        "fails": False,
    }
    assert notes["sublib"]["fix"] == "sublib>=2.0"
    assert notes["retlib"]["fix"] == "retlib>=2.0"
    # Two bound envs, then ceil(log2(n - 1)) + 1 per culprit: 4 for twolib's 8
    # candidates, 1 each for sublib and retlib (2 candidates each).
    builds: dict[str, int] = {}
    for text in installs:
        pins = dict(line.split("==") for line in text.split() if "==" in line)
        moved = [d for d in ("twolib", "sublib", "retlib") if pins[d] != "1.0"]
        key = moved[0] if len(moved) == 1 else "bound"
        builds[key] = builds.get(key, 0) + 1
    assert builds == {
        "bound": 2,
        "twolib": expected_probes(8),
        "sublib": 1,
        "retlib": 1,
    }
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] bisect twolib: 2.0 ✓ (1 of 4)",
            "[[]lower[]] bisect twolib: 1.3 ✗ (2 of 4)",
            "[[]lower[]] bisect twolib: 1.5 ✗ (3 of 4)",
            "[[]lower[]] bisect twolib: 1.6 ✓ (4 of 4)",
            "*depbounds: --depbounds-fix*",
            "--- a/pyproject.toml",
            "+++ b/pyproject.toml",
            "*",
            "-dependencies = [[]*[]]",
            '+dependencies = ["twolib>=1.6", "sublib>=2.0", "retlib>=2.0"]',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "findings:",
            (
                "[[]lower[]] twolib: the failing tests pass from 1.6 (tried 1.0 ✗, 1.3 ✗, "
                "1.5 ✗, 1.6 ✓, 2.0 ✓); write twolib>=1.6"
            ),
        ]
    )
    after = (pytester.path / "pyproject.toml").read_text(encoding="utf-8")
    assert after == before.replace(
        'dependencies = ["twolib>=1.0", "sublib>=1.0", "retlib>=1.0"]',
        'dependencies = ["twolib>=1.6", "sublib>=2.0", "retlib>=2.0"]',
    )
    # A re-run reuses every env: no install at all.
    installs.clear()
    (pytester.path / "pyproject.toml").write_text(before, encoding="utf-8")
    result = pytester.runpytest_inprocess(
        "--depbounds", "--depbounds-bisect", "-p", "no:randomly"
    )
    assert installs == []
    assert (pytester.path / "pyproject.toml").read_text(encoding="utf-8") == before


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_a_test_module_that_does_not_collect_is_a_failing_probe(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A collection error ends pytest with 2, not 1: each probe that reproduced
    # it was "skipped (pytest exited with 2)", and the search tried every version
    # (tornado 6.0.1 to 6.4 for tenacity's `tornado>=6.0`).
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["collectlib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "test_feature.py": (
                "from collectlib import FEATURE\n\n\n"
                "def test_feature():\n    assert FEATURE == 1\n"
            ),
            "test_fine.py": "def test_fine():\n    pass\n",
        },
    )
    result = pytester.runpytest_inprocess(
        "--depbounds=lower",
        "--depbounds-bisect",
        "--depbounds-report=r.json",
        "-p",
        "no:randomly",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    (lower,) = report["bounds"]
    notes = {n["dist"]: n for n in lower["notes"]}
    assert notes["collectlib"]["message"] == (
        "collectlib: the failing tests pass from 1.3 (tried 1.0 ✗, 1.2 ✗, 1.3 ✓, 2.0 ✓)"
    )
    assert notes["collectlib"]["fix"] == "collectlib>=1.3"


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_unexplained_failures_are_localised_then_bisected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["valuelib>=1.0", "sublib>=1.0", "chainlib>=1.0"],
        tests={
            "test_value.py": (
                "import valuelib\n\n\ndef test_value():\n    assert valuelib.VALUE == 2\n"
            ),
            "test_chain.py": (
                "import chainlib\n\n\ndef test_chain():\n    assert chainlib.run() == 1\n"
            ),
            # Fails in every lower env whatever its pins: no dependency explains it.
            "test_odd.py": (
                "import sys\nfrom pathlib import Path\n\n\ndef test_odd():\n"
                "    assert 'lower' not in Path(sys.prefix).name\n"
            ),
        },
    )
    before = (pytester.path / "pyproject.toml").read_bytes()
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-bisect", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lower = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))[
        "bounds"
    ][0]
    # A value that changed: no exception names a dependency, but localisation
    # does, so only the failure nothing explains stays unattributed.
    assert lower["unattributed"] == ["tests/test_odd.py::test_odd"]
    result.stdout.fnmatch_lines(
        [
            "findings:",
            "[[]lower[]] localised 1 failure to valuelib 1.0 *",
            "         tests: tests/test_value.py::test_value@lower",
            "[[]lower[]] 1 failure not attributed to a dependency",
        ]
    )
    (chained,) = lower["findings"]
    assert (
        chained["kind"],
        chained["dist"],
        chained["version"],
        chained["symbol"],
    ) == (
        "missing-attribute",
        "corelib",
        "3.0",
        "corelib.feature",
    )
    assert chained["relation"] == "transitive"
    assert chained["usage"] == ["tests/test_chain.py:5"]
    assert chained["fix"] == "chainlib>=1.1"
    notes = {(n["kind"], n["dist"]): n for n in lower["notes"]}
    assert notes[("culprit", "valuelib")]["message"] == (
        "localised 1 failure to valuelib 1.0 (leave-one-out): held at the upper "
        "bound's 2.0 (the rest at the lower bound) it passes"
    )
    assert notes[("culprit", "chainlib")]["message"] == (
        "localised 1 failure to chainlib 1.0 (leave-one-out): held at the upper "
        "bound's 1.1 (the rest at the lower bound) it passes"
    )
    assert notes[("culprit", "chainlib")]["fix"] == "chainlib>=1.1"
    assert notes[("culprit", "valuelib")]["tests"] == [
        "tests/test_value.py::test_value"
    ]
    assert notes[("true-lower-bound", "valuelib")]["fix"] == "valuelib>=2.0"
    assert notes[("true-lower-bound", "chainlib")]["fix"] == "chainlib>=1.1"
    assert len(notes) == 4
    # Nothing cached, a tie: leave-one-out, whose envs bisection reuses.
    result.stdout.fnmatch_lines(
        [
            (
                "[[]lower[]] localize: 3 deps differ; leave-one-out (0 envs cached, 3 "
                "to build; one alone: 3 to build)"
            ),
            "[[]lower[]] localize: chainlib held at 1.1: 1 of 3 pass (1 of 3)",
            "[[]lower[]] localize: sublib held at 2.0: fails (2 of 3)",
            "[[]lower[]] localize: valuelib held at 2.0: 1 of 3 pass (3 of 3)",
            "[[]lower[]] bisect chainlib: 1.1 ✓ (1 of 1)",
            "[[]lower[]] bisect valuelib: 2.0 ✓ (1 of 1)",
        ]
    )
    # Three probe envs in all: each bisection's one probe reused its env.
    assert _probe_envs(pytester.path) == [
        "bisect-lower-chainlib-1.1",
        "bisect-lower-sublib-2.0",
        "bisect-lower-valuelib-2.0",
    ]
    # Without --depbounds-fix nothing is modified.
    assert (pytester.path / "pyproject.toml").read_bytes() == before


def test_the_schedule_building_fewer_envs_is_chosen() -> None:
    def pair(alone: int, left_out: int, *, bisect: bool) -> tuple[str, str]:
        chosen, fallback = choose_schedule(
            Schedule(name="one alone", probes=3, cached=alone),
            Schedule(name="leave-one-out", probes=3, cached=left_out),
            bisect=bisect,
        )
        return chosen.name, fallback.name

    for bisect in (False, True):
        assert pair(2, 0, bisect=bisect) == ("one alone", "leave-one-out")
        assert pair(0, 1, bisect=bisect) == ("leave-one-out", "one alone")
        assert pair(3, 3, bisect=bisect) == pair(0, 0, bisect=bisect)
    # A tie: leave-one-out's envs are the bisection's first probes.
    assert pair(1, 1, bisect=True) == ("leave-one-out", "one alone")
    assert pair(1, 1, bisect=False) == ("one alone", "leave-one-out")
    assert Schedule(name="one alone", probes=3, cached=2).builds == 1


def _workspace(tmp_path: Path, *, rebuild: bool) -> Workspace:
    fake = cast("Any", types.SimpleNamespace)
    return Workspace(
        interpreter=fake(executable="python", version="3"),
        installer=fake(name="uv"),
        cache_dir=tmp_path,
        inner_dir=tmp_path,
        declaration=fake(
            under_test=(), project_dir=tmp_path, project_name="p", build_inputs=()
        ),
        tooling=(),
        args=(),
        cwd=tmp_path,
        rootdir=tmp_path,
        timeout=None,
        rebuild=rebuild,
        editable=False,
        stop=threading.Event(),
    )


@pytest.mark.parametrize("rebuild", [False, True])
def test_under_rebuild_no_probe_env_counts_as_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, rebuild: bool
) -> None:
    # The resolution and the env of every probe are cached...
    monkeypatch.setattr(
        bisection, "cached_pins", lambda *_a, **_k: types.SimpleNamespace(lines=())
    )
    monkeypatch.setattr(bisection, "is_built", lambda *_a, **_k: True)
    workspace = _workspace(tmp_path, rebuild=rebuild)
    prober = Prober(workspace, "lower", {"a": "1.0", "b": "1.0"}, ["t"])
    # ...but --depbounds-rebuild resolves every probe again: none is cached.
    assert prober.cached({"a": "2.0"}) is not rebuild


@pytest.mark.parametrize("rebuild", [False, True])
def test_under_rebuild_a_probe_is_resolved_and_built_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, rebuild: bool
) -> None:
    calls: list[tuple[str, bool]] = []

    def ensure_env(
        plan: Any, *_a: Any, envs_dir: Path, rebuild: bool, **_k: Any
    ) -> Any:
        path = env_dir(plan, envs_dir)
        calls.append((path.name, rebuild))
        return types.SimpleNamespace(path=path, python=path, reused=not rebuild)

    resolutions: list[bool] = []

    def resolve(*_a: Any, rebuild: bool, **_k: Any) -> Any:
        resolutions.append(rebuild)
        return types.SimpleNamespace(lines=())

    monkeypatch.setattr(bisection, "resolve", resolve)
    monkeypatch.setattr(bisection, "ensure_env", ensure_env)
    monkeypatch.setattr(Prober, "_run_tests", lambda *_a: "ran")
    prober = Prober(_workspace(tmp_path, rebuild=rebuild), "lower", {"a": "1"}, ["t"])
    for overrides in ({"a": "2"}, {"a": "3"}, {"a": "2"}):
        assert prober.run(overrides) == "ran"
    # Bisection's first probe is localisation's: resolved and rebuilt once,
    # then reused.
    assert resolutions == [rebuild, rebuild, False]
    assert [r for _, r in calls] == [rebuild, rebuild, False]
    assert calls[0][0] == calls[2][0] != calls[1][0]


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_an_interaction_is_localised_by_leave_one_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["pairone>=1.0", "pairtwo>=1.0"],
        tests={
            "test_pair.py": (
                "import pairone, pairtwo\n\n\ndef test_pair():\n"
                "    assert pairone.VALUE == 2 or pairtwo.VALUE == 2\n"
            ),
        },
    )
    # A probe env of an older run, which no recent run used: pruned.
    stale = pytester.path / ".pytest_cache/d/depbounds/envs/bisect-lower-x-1.0-0"
    (stale / "bin").mkdir(parents=True)
    (stale / "bin" / "python").touch()
    (stale / "depbounds-stamp.json").write_text('{"key": "0"}', encoding="utf-8")
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Each alone at 1.0 passes: one alone names nothing, leave-one-out does, and
    # stops once the failure is explained.
    result.stdout.fnmatch_lines(
        [
            (
                "[[]lower[]] localize: 2 deps differ; one alone (0 envs cached, 2 to "
                "build; leave-one-out: 2 to build)"
            ),
            "[[]lower[]] localize: pairone 1.0 alone: ✓ (1 of 2)",
            "[[]lower[]] localize: pairtwo 1.0 alone: ✓ (2 of 2)",
            "[[]lower[]] localize: one alone names no culprit; trying leave-one-out",
            "[[]lower[]] localize: pairone held at 2.0: ✓ (1 of 2)",
        ]
    )
    result.stdout.no_fnmatch_line("*pairtwo held at*")
    lower = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))[
        "bounds"
    ][0]
    assert [(n["kind"], n["dist"], n["message"], n["fix"]) for n in lower["notes"]] == [
        (
            "culprit",
            "pairone",
            (
                "localised 1 failure to pairone 1.0 (leave-one-out): held at the "
                "upper bound's 2.0 (the rest at the lower bound) it passes"
            ),
            "pairone>=2.0",
        )
    ]
    assert not stale.exists()
    assert _probe_envs(pytester.path) == [
        "bisect-lower-pairone-2.0",
        "bisect-upper-pairone-1.0",
        "bisect-upper-pairtwo-1.0",
    ]
    # Bisecting prefers leave-one-out on a tie, but one alone is all cached now:
    # it is chosen, and the run builds no env at all.
    envs = sorted((pytester.path / ".pytest_cache/d/depbounds/envs").iterdir())
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-bisect")
    result.stdout.fnmatch_lines(
        [
            (
                "[[]lower[]] localize: 2 deps differ; one alone (2 envs cached, 0 to "
                "build; leave-one-out: 1 to build)"
            ),
            "[[]lower[]] localize: one alone names no culprit; trying leave-one-out",
            "[[]lower[]] localize: pairone held at 2.0: ✓ (1 of 2)",
            "[[]lower[]] bisect pairone: 2.0 ✓ (1 of 1)",
        ]
    )
    assert sorted((pytester.path / ".pytest_cache/d/depbounds/envs").iterdir()) == envs
    result.stdout.no_fnmatch_line("*creating env*")


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_a_module_that_fails_to_collect_is_localised(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A collection error makes pytest exit with 2, not 1: the probes still
    # fail or pass with it, they are not skipped as if they had not run.
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["pairone>=1.0", "pairtwo>=1.0"],
        tests={
            "test_pair.py": (
                "import pairone, pairtwo\n\n"
                "if pairone.VALUE != 2:\n"
                "    raise RuntimeError('needs a 2')\n\n\n"
                "def test_pair():\n    pass\n"
            ),
        },
    )
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-localize=yes")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] localize: pairone 1.0 alone: fails (1 of 2)",
            "*localised 1 failure to pairone 1.0 (one alone)*",
        ]
    )
    result.stdout.no_fnmatch_line("*skipped*")
    result.stdout.no_fnmatch_line("*pairtwo 1.0 alone*")


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_a_session_that_crashes_at_start_is_bisected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A conftest.py (or a pytest plugin a dependency registers) that does not
    # import at the floor: no test runs, and the finding promises that
    # --depbounds-bisect finds the lowest version where the session starts.
    monkeypatch.setenv("COLUMNS", "250")
    write_project(
        pytester.path,
        "myproj",
        dependencies=["twolib>=1.0"],
        tests={"test_it.py": "def test_it():\n    pass\n"},
    )
    (pytester.path / "conftest.py").write_text("from twolib import b\n")
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-bisect", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] crashed*",
            "[[]lower[]] bisect twolib: * (1 of *)",
            "*twolib: the session starts from 1.3 (tried *1.2 ✗*1.3 ✓*); write twolib>=1.3",
        ]
    )
    lower = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))[
        "bounds"
    ][0]
    notes = {(n["kind"], n["dist"]): n for n in lower["notes"]}
    assert notes[("true-lower-bound", "twolib")]["fix"] == "twolib>=1.3"
    (finding,) = lower["findings"]
    assert finding["advice"] == (
        "write `twolib>=1.3` (bisected: the session starts from 1.3)"
    )


def _probe_envs(project: Path) -> list[str]:
    """The bisection and localisation envs in a project's cache, by pinned set."""
    envs = project / ".pytest_cache" / "d" / "depbounds" / "envs"
    return sorted(p.name.rsplit("-", 1)[0] for p in envs.glob("bisect-*") if p.is_dir())


@pytest.mark.network
@pytest.mark.slow
def test_bisection_on_a_real_package(pytester: pytest.Pytester) -> None:
    # six.ensure_str appeared in six 1.12.0; the project claims six>=1.10.
    write_project(
        pytester.path,
        "realproj",
        dependencies=["six>=1.10"],
        package={
            "realproj/__init__.py": (
                "import six\n\n\ndef text(data):\n    return six.ensure_str(data)\n"
            )
        },
        tests={
            "test_text.py": (
                "import realproj\n\n\ndef test_text():\n"
                "    assert realproj.text(b'x') == 'x'\n"
            )
        },
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-bisect", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lower = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))[
        "bounds"
    ][0]
    (finding,) = lower["findings"]
    assert (finding["kind"], finding["dist"], finding["version"]) == (
        "missing-attribute",
        "six",
        "1.10.0",
    )
    assert (finding["symbol"], finding["usage"]) == (
        "six.ensure_str",
        ["realproj/__init__.py:5"],
    )
    assert finding["fix"] == "six>=1.12.0"
    (note,) = lower["notes"]
    assert note["kind"] == "true-lower-bound"
    assert note["fix"] == "six>=1.12.0"
    assert "1.11.0 ✗" in note["message"]
    assert "1.12.0 ✓" in note["message"]


def test_localize_takes_auto_yes_or_no(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndepbounds_localize = maybe\n")
    result = pytester.runpytest_inprocess("--depbounds")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--depbounds-localize: use auto, yes or no, not 'maybe'*"]
    )


@pytest.mark.slow
@pytest.mark.usefixtures("bisect_links")
def test_a_localised_culprit_takes_the_bisected_fix(pytester: pytest.Pytester) -> None:
    # python-dotenv: "localised ... write click>=8.5.1" beside "click: the failing
    # tests pass from 7.0; write click>=7.0": two fixes for one requirement.
    write_project(
        pytester.path,
        "myproj",
        dependencies=["steplib>=1.0"],
        tests={
            "test_value.py": (
                "import steplib\n\n\ndef test_value():\n    assert steplib.VALUE == 2\n"
            )
        },
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-bisect", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lower = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))[
        "bounds"
    ][0]
    fixes = {n["kind"]: n["fix"] for n in lower["notes"] if n["dist"] == "steplib"}
    assert fixes == {"culprit": "steplib>=1.5", "true-lower-bound": "steplib>=1.5"}
    result.stdout.no_fnmatch_line("*steplib>=2.0*")


def _failed_bound(bound: str, status: str = "failed") -> BoundResult:
    return BoundResult(
        bound=bound,
        interpreter="CPython 3.11.7",
        pins={"a": "1.0"},
        direct=("a",),
        resolution="lowest-direct",
        env_path=None,
        env_reused=True,
        env_seconds=0.0,
        run_seconds=0.0,
        counts={status: 1},
        collected=1,
        exitstatus=1 if status == "failed" else 0,
        error=None,
        crash=None,
        tests=(),
        unattributed=("tests/test_a.py::test_a",),
    )


@pytest.mark.parametrize(
    ("others", "why"),
    [
        ((), "it needs the other bound's passing pins: run both bounds"),
        (("upper",), "the upper bound did not pass either"),
    ],
    ids=["alone", "both-fail"],
)
def test_failures_that_cannot_be_localised_say_why(
    tmp_path: Path, others: tuple[str, ...], why: str
) -> None:
    logged: list[tuple[str, str]] = []
    results = [_failed_bound("lower"), *(_failed_bound(b) for b in others)]
    refined = refine(
        results,
        RefineRequest(
            workspace=_workspace(tmp_path, rebuild=False),
            bisect=False,
            localize="auto",
            log=lambda bound, message: logged.append((bound, message)),
        ),
    )
    assert ("lower", f"failures not localised: {why}") in [
        (b, m.removesuffix(" (--depbounds)")) for b, m in logged
    ], logged
    assert refined[0].unattributed == ("tests/test_a.py::test_a",)
