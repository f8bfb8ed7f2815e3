"""End to end: pytest --depbounds on small projects against the fake index."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from pytest_depbounds.testing import write_project, write_wheel

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

USES_NEW_API = {
    "myproj/__init__.py": """
        import fakelib

        def go():
            return fakelib.new_api()
    """
}
TEST_GO = {
    "test_go.py": """
        import myproj

        def test_go():
            assert myproj.go() == "new"

        def test_trivial():
            pass
    """
}


def _project(pytester: pytest.Pytester, deps: list[str], **kwargs: object) -> Path:
    return write_project(
        pytester.path,
        "myproj",
        dependencies=deps,
        package=kwargs.pop("package", USES_NEW_API),  # type: ignore[arg-type]
        tests=kwargs.pop("tests", TEST_GO),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_lower_bound_fails_where_the_floor_lacks_the_api(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    result.stdout.fnmatch_lines(
        [
            "*depbounds: lower bound*",
            "[[]lower[]] pins: fakelib==1.0*",
            "*depbounds: upper bound*",
            "[[]upper[]] pins: fakelib==2.0*",
            "*depbounds summary*",
            "lower*failed*1 passed, 1 failed*",
            "upper*passed*2 passed*",
            "FAILED tests/test_go.py::test_go@lower - AttributeError*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["reportversion"] == 1
    assert report["exitcode"] == 1
    lower, upper = report["bounds"]
    assert lower["pins"]["fakelib"] == "1.0"
    assert upper["pins"]["fakelib"] == "2.0"
    assert lower["counts"]["failed"] == 1
    assert upper["counts"]["passed"] == 2
    assert {"nodeid": "tests/test_go.py::test_go", "outcome": "failed"}.items() <= (
        next(t for t in lower["tests"] if t["outcome"] == "failed").items()
    )


def test_upper_bound_fails_where_a_module_was_removed(
    pytester: pytest.Pytester,
) -> None:
    _project(
        pytester,
        ["green-io>=0.15"],
        package={"myproj/__init__.py": "from greenio import util\n"},
        tests={
            "test_util.py": "import myproj\n\ndef test_util():\n"
            "    assert myproj.util.helper() == 1\n"
        },
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.fnmatch_lines(
        [
            "lower*passed*1 passed*",
            "upper*failed*",
            "*green-io 3.0*",
        ]
    )
    result.stdout.fnmatch_lines(["ERROR tests/test_util.py@upper*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_both_bounds_pass_then_reuse_their_envs(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    first = pytester.runpytest_subprocess("--depbounds")
    first.stdout.fnmatch_lines(["*installing * packages with uv*"])
    assert first.ret == pytest.ExitCode.OK
    second = pytester.runpytest_subprocess("--depbounds")
    # The lower pins cannot change; the upper ones are looked up again while
    # the session already runs on the last ones.
    # Two threads log for the upper bound: each one's lines are in order,
    # but they may interleave.
    second.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins, cached resolution: fakelib==1.4*",
            "[[]lower[]] env reused*",
            "[[]upper[]] looking for new releases; running on the last pins*",
            "[[]upper[]] resolving (highest*",
            "[[]upper[]] pins: fakelib==2.0*",
        ]
    )
    second.stdout.fnmatch_lines(
        [
            "[[]upper[]] looking for new releases; running on the last pins*",
            "[[]upper[]] env reused*",
            "lower*passed*2 passed*env reused",
            "upper*passed*2 passed*env reused",
        ]
    )
    second.stdout.no_fnmatch_line("[[]lower[]] resolving*")
    second.stdout.no_fnmatch_line("*installing*")
    assert second.ret == pytest.ExitCode.OK
    # Within --depbounds-refresh seconds, the upper pins are reused unlooked.
    third = pytester.runpytest_subprocess("--depbounds", "--depbounds-refresh=3600")
    third.stdout.fnmatch_lines(["[[]upper[]] pins, cached resolution: fakelib==2.0*"])
    third.stdout.no_fnmatch_line("*resolving*")
    assert third.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("slow_suite", [False, True], ids=["quick", "stopped"])
def test_a_new_release_rebuilds_the_upper_env_and_runs_again(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slow_suite: bool
) -> None:
    wheels = pytester.path / "wheels"
    monkeypatch.setenv("PIP_FIND_LINKS", f"{os.environ['PIP_FIND_LINKS']} {wheels}")
    write_wheel(
        wheels, "relib", "1.0", {"relib/__init__.py": "def old():\n    return 1\n"}
    )
    _project(
        pytester,
        ["relib>=1.0"],
        package={"myproj/__init__.py": "import relib\n"},
        tests={
            "test_old.py": """
                import pathlib, time
                import myproj

                def test_old():
                    # Slow on the old pins only: their run must be stopped.
                    if pathlib.Path("slow").exists() and hasattr(myproj.relib, "old"):
                        time.sleep(60)
                    assert myproj.relib.old() == 1
            """
        },
    )
    first = pytester.runpytest_subprocess("--depbounds=upper")
    assert first.ret == pytest.ExitCode.OK
    # relib 1.1 drops ``old``: the last pins would pass, the new ones fail.
    write_wheel(wheels, "relib", "1.1", {"relib/__init__.py": ""})
    if slow_suite:
        (pytester.path / "slow").touch()
    started = time.monotonic()
    second = pytester.runpytest_subprocess("--depbounds=upper")
    second.stdout.fnmatch_lines(
        [
            "[[]upper[]] new releases (relib 1.0 -> 1.1): building their env",
            "[[]upper[]] pins: relib==1.1*",
            "upper*failed*1 failed*env built",
        ]
    )
    # What ran on the old pins is not reported: one test, and it failed.
    second.stdout.no_fnmatch_line("*1 passed*")
    assert second.ret == pytest.ExitCode.TESTS_FAILED
    if slow_suite:
        # The run on the old pins was stopped, not waited for (60 s).
        assert time.monotonic() - started < 40


def test_a_changed_source_reinstalls_only_the_project(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds=lower").ret == 0
    (pytester.path / "myproj" / "__init__.py").write_text(
        "def go():\n    return 'changed'\n", encoding="utf-8"
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["*project changed: reinstalling it only*"])
    result.stdout.no_fnmatch_line("*creating env*")
    result.stdout.fnmatch_lines(["FAILED tests/test_go.py::test_go@lower*changed*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_only_the_requested_bound_runs(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", "upper")
    result.stdout.no_fnmatch_line("*lower bound*")
    result.stdout.fnmatch_lines(["upper*passed*"])
    assert result.ret == pytest.ExitCode.OK


def test_an_inner_crash_is_reported_as_a_crash(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={"test_crash.py": "import os\n\ndef test_dies():\n    os._exit(9)\n"},
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        [
            "*the inner pytest session crashed with exit code 9*",
            "lower*crashed*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_inner_internal_error_is_a_crash_not_a_pass(
    pytester: pytest.Pytester,
) -> None:
    # pytest writes its own end (exit status 3) after an INTERNALERROR, with
    # no test reported: that is a crash, never "passed: no tests ran".
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "conftest.py": (
                "def pytest_runtest_protocol(item):\n"
                "    raise RuntimeError('plugin broke')\n"
            ),
            "test_go.py": "def test_go():\n    pass\n",
        },
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        [
            "*the inner pytest session ended with an internal error (exit status 3)*",
            "*RuntimeError: plugin broke*",
            "lower*crashed*",
        ]
    )
    result.stdout.no_fnmatch_line("lower*passed*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_disabled_cacheprovider_keeps_warnings_as_errors_valid(
    pytester: pytest.Pytester,
) -> None:
    # ``-p no:cacheprovider`` leaves ``cache_dir`` unknown to the inner pytest:
    # the override we pass must not become an INTERNALERROR under "error".
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={"test_go.py": "def test_go():\n    pass\n"},
        extra_pyproject=('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'),
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(["lower*passed*1 passed*"])
    result.stdout.no_fnmatch_line("*cache_dir*")
    assert result.ret == pytest.ExitCode.OK


def test_a_crash_at_start_up_names_the_dependency_behind_it(
    pytester: pytest.Pytester,
) -> None:
    # The conftest imports what only fakelib 1.4 has: pytest stops before any
    # report, at the floor only.
    _project(
        pytester,
        ["fakelib>=1.0"],
        tests={
            "conftest.py": "from fakelib import new_api\n",
            "test_go.py": "def test_go():\n    pass\n",
        },
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.fnmatch_lines(
        [
            "lower*crashed*",
            "upper*passed*",
            "[[]lower[]] fakelib 1.0: `fakelib.new_api` missing — used at*",
            "*the inner session crashes before running a test",
            "*fix: write `fakelib>=2.0`*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_project_that_collects_nothing_is_not_a_pass(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["stablelib>=1.0"], tests={"test_none.py": "X = 1\n"})
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["lower*no tests*"])
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_project_options_and_addopts_reach_the_inner_session(
    pytester: pytest.Pytester,
) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "conftest.py": """
                def pytest_addoption(parser):
                    parser.addoption("--flavour", default="plain")
            """,
            "test_flavour.py": """
                def test_flavour(request):
                    assert request.config.getoption("flavour") == "salty"
            """,
        },
        extra_pyproject="""
            [tool.pytest.ini_options]
            addopts = "--depbounds-jobs=1"
            depbounds_extras = []
        """,
    )
    result = pytester.runpytest_subprocess("--depbounds=lower", "--flavour=salty")
    result.stdout.fnmatch_lines(["lower*passed*1 passed*"])
    assert result.ret == pytest.ExitCode.OK


def test_an_unresolvable_range_fails_with_one_message(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=9"])
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        [
            "*ERROR: lower bound: no version of fakelib that `fakelib>=9` admits*",
            "*installs on CPython * (the index has 1.0, 1.4, 2.0)",
        ]
    )
    assert result.ret == 6
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_pip_fallback_finds_the_same_bounds(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.0,!=1.0"])
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-installer=pip", "--depbounds-jobs=2"
    )
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: fakelib==1.4*",
            "[[]lower[]] installing * packages with pip",
            "[[]upper[]] pins: fakelib==2.0*",
            "lower*passed*",
            "upper*passed*",
        ]
    )
    assert result.ret == pytest.ExitCode.OK


def test_a_hanging_inner_session_is_stopped(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "test_hang.py": "import time\n\ndef test_hangs():\n    time.sleep(60)\n"
        },
    )
    result = pytester.runpytest_subprocess("--depbounds=lower", "--depbounds-timeout=3")
    result.stdout.fnmatch_lines(
        ["*the inner pytest session timed out and was stopped*", "lower*crashed*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.duration < 30


class _InstallerCalls:
    """Records every uv or pip command the outer session starts, in-process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.argvs: list[list[str]] = []
        real = subprocess.Popen
        calls = self

        class Recording(real):  # type: ignore[misc, valid-type]
            def __init__(
                self, argv: list[str], *args: object, **kwargs: object
            ) -> None:
                words = [str(word) for word in argv]
                if Path(words[0]).name in {"uv", "pip"} or words[1:3] == ["-m", "pip"]:
                    calls.argvs.append(words)
                super().__init__(argv, *args, **kwargs)

        monkeypatch.setattr(subprocess, "Popen", Recording)

    def verbs(self) -> list[str]:
        """``compile``/``install``/``build`` per call, in order."""
        verbs = {"compile", "install", "build"}
        return [next(w for w in a if w in verbs) for a in self.argvs]


def test_installers_run_only_for_what_changed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester, ["fakelib>=1.4"])
    calls = _InstallerCalls(monkeypatch)
    assert pytester.runpytest_inprocess("--depbounds", "-p", "no:randomly").ret == 0
    # Per bound: two compiles (dependencies, then tooling), one install of the
    # pins, one of the project, from a wheel built once for both.
    verbs = ["compile"] * 4 + ["install"] * 4 + ["build"]
    assert sorted(calls.verbs()) == sorted(verbs)

    # Unchanged: the lower pins are reused; the upper ones are resolved again
    # (new releases appear), and being the same, nothing is installed.
    calls.argvs.clear()
    assert pytester.runpytest_inprocess("--depbounds", "-p", "no:randomly").ret == 0
    assert calls.verbs() == ["compile", "compile"]
    assert all("highest" in argv for argv in calls.argvs)

    # A new floor changes the lower pins only: a new lower env, while the upper
    # env is kept and only the project (whose metadata changed) reinstalled.
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("fakelib>=1.4", "fakelib>=1.4,!=1.4")
    )
    calls.argvs.clear()
    result = pytester.runpytest_inprocess("--depbounds", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["lower*passed*env built", "upper*passed*env updated"])
    installs = [" ".join(a) for a in calls.argvs if "install" in a]
    assert len(installs) == 3
    # pyproject.toml changed: the project's wheel is built again, once.
    assert calls.verbs().count("build") == 1
    assert sum("/envs/lower-" in a for a in installs) == 2
    assert sum("/envs/upper-" in a for a in installs) == 1


def test_xdist_runs_inside_each_env(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        ["fakelib>=1.0"],
        tests={
            **TEST_GO,
            "test_worker.py": """
                import os

                def test_on_a_worker():
                    assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
            """,
        },
    )
    result = pytester.runpytest_subprocess("--depbounds", "-n", "2")
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: fakelib==1.0; tooling: pytest *, pytest-xdist *",
            "[[]lower[]] collected 3 items",
            "lower*failed*2 passed, 1 failed*",
            "upper*passed*3 passed*",
            "*fakelib 1.0: `fakelib.new_api` missing*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_xdist_kept_off_needs_no_xdist_in_the_env(pytester: pytest.Pytester) -> None:
    # ``-n 0`` (xdist installed where pytest runs, kept off) installs no xdist in
    # the env, whose pytest would reject ``-n`` as an unknown option.
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds=upper", "-n", "0")
    result.stdout.fnmatch_lines(
        ["[[]upper[]] pins: fakelib==2.0; tooling: pytest *", "upper*passed*2 passed*"]
    )
    result.stdout.no_fnmatch_line("*pytest-xdist*")
    assert result.ret == pytest.ExitCode.OK


def test_parallel_bounds_keep_their_output_apart(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-jobs=2")
    lines = result.stdout.lines
    upper_start = next(i for i, x in enumerate(lines) if "depbounds: upper bound" in x)
    summary = next(i for i, x in enumerate(lines) if "depbounds summary" in x)
    assert any(x.startswith("[lower]") for x in lines[:upper_start])
    assert not any(x.startswith("[upper]") for x in lines[:upper_start])
    assert not any(x.startswith("[lower]") for x in lines[upper_start:summary])
    assert any(x.startswith("[upper]") for x in lines[upper_start:summary])


def test_bytecode_is_kept_in_the_cache_not_beside_the_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    _project(pytester, ["fakelib>=1.4"])
    result = pytester.runpytest_subprocess("--depbounds=lower", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.OK
    assert not list((pytester.path / "tests").rglob("*.pyc"))
    assert not list((pytester.path / "myproj").rglob("*.pyc"))
    cached = list((pytester.path / ".pytest_cache").rglob("pycache/**/*.pyc"))
    assert any("test_go" in p.name for p in cached)
    assert any(p.name.startswith("fakelib") or "fakelib" in p.parts for p in cached)


def test_an_index_gone_since_the_last_run_says_how_to_run_offline(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = pytester.path / "wheels"
    monkeypatch.setenv("PIP_FIND_LINKS", f"{os.environ['PIP_FIND_LINKS']} {wheels}")
    write_wheel(wheels, "relib", "1.0", {"relib/__init__.py": ""})
    _project(
        pytester,
        ["relib>=1.0"],
        package={"myproj/__init__.py": "import relib\n"},
        tests={"test_it.py": "import myproj\n\ndef test_it():\n    pass\n"},
    )
    assert pytester.runpytest_subprocess("--depbounds=upper").ret == 0
    wheels.rename(pytester.path / "gone")
    result = pytester.runpytest_subprocess("--depbounds=upper")
    result.stdout.fnmatch_lines(
        ["*ERROR: upper bound: *--depbounds-offline runs on the last pins, resolved *"]
    )
    result.stdout.no_fnmatch_line("*1 passed*")
    assert result.ret == 6
    offline = pytester.runpytest_subprocess("--depbounds=upper", "--depbounds-offline")
    offline.stdout.fnmatch_lines(["upper*passed*1 passed*env reused"])
    assert offline.ret == pytest.ExitCode.OK


def test_a_project_folder_not_on_the_path_says_how_to_put_it_there(
    pytester: pytest.Pytester,
) -> None:
    # django-model-utils: pytest-django imports `tests.settings`, which only
    # `python -m pytest` (the current folder on sys.path) finds; the inner
    # session runs the env's `pytest` and crashed with no advice.
    write_project(
        pytester.path,
        "myproj",
        dependencies=["stablelib>=1.0"],
        tests={"test_ok.py": "def test_ok():\n    pass\n"},
        extra_pyproject='[tool.pytest.ini_options]\naddopts = "-p helpers"\n',
    )
    (pytester.path / "helpers.py").write_text("")  # not in the wheel
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        [
            "lower*crashed*",
            "findings:",
            "[[]lower[]] `helpers` is a module of the project that the inner session*",
            "*python -m pytest* does; add `pythonpath = .` to",
        ]
    )
    assert result.ret == 1
