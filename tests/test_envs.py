"""Env reuse, rebuilds, stamps, offline mode and the cache command."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.cli import main as depbounds_main
from pytest_depbounds.testing import write_project

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

PACKAGE = {
    "myproj/__init__.py": "import fakelib\n\ndef go():\n    return fakelib.new_api()\n"
}
TESTS = {
    "test_go.py": "import myproj\n\ndef test_go():\n    assert myproj.go() == 'new'\n"
}


def _project(pytester: pytest.Pytester, deps: list[str]) -> Path:
    return write_project(
        pytester.path, "myproj", dependencies=deps, package=PACKAGE, tests=TESTS
    )


def _envs(pytester: pytest.Pytester) -> list[Path]:
    return sorted((pytester.path / ".pytest_cache/d/depbounds/envs").glob("*-*[!k]"))


def test_a_changed_floor_rebuilds_only_the_lower_env(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds").ret == 0
    _project(pytester, ["fakelib>=1.4,!=1.4"])
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: fakelib==2.0*",
            "[[]lower[]] creating env*",
            "[[]upper[]] project changed: reinstalling it only",
        ]
    )
    result.stdout.no_fnmatch_line("[[]upper[]] creating env*")
    assert result.ret == 0


def test_an_env_without_its_stamp_is_rebuilt(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds=lower").ret == 0
    (env,) = [p for p in _envs(pytester) if p.is_dir()]
    (env / "depbounds-stamp.json").unlink()  # as a run killed mid-install leaves it
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["[[]lower[]] creating env*", "lower*passed*"])
    assert result.ret == 0


def test_a_stamp_that_does_not_match_is_not_trusted(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds=lower").ret == 0
    (env,) = [p for p in _envs(pytester) if p.is_dir()]
    stamp = env / "depbounds-stamp.json"
    stamp.write_text(json.dumps({"key": "something else", "source": ""}))
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["[[]lower[]] creating env*", "lower*passed*"])


def test_rebuild_forces_a_new_env(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds=upper").ret == 0
    result = pytester.runpytest_subprocess("--depbounds=upper", "--depbounds-rebuild")
    result.stdout.fnmatch_lines(["[[]upper[]] resolving*", "[[]upper[]] creating env*"])


def test_offline_reuses_what_is_cached(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds").ret == 0
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-offline", "--depbounds-refresh=0"
    )
    result.stdout.fnmatch_lines(
        ["*upper*cached resolution*", "upper*passed*env reused"]
    )
    assert result.ret == 0


def test_offline_without_cached_data_fails_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.delenv("PIP_NO_INDEX")
    _project(pytester, ["fakelib>=1.4"])
    result = pytester.runpytest_subprocess(
        "--depbounds=lower",
        "--depbounds-offline",
        "--depbounds-index-url=http://127.0.0.1:9/simple",
    )
    result.stdout.fnmatch_lines(["*ERROR: lower bound: uv could not resolve*"])
    assert result.ret == 6


def test_the_cache_command_lists_and_prunes(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds").ret == 0
    cache_dir = pytester.path / ".pytest_cache/d/depbounds"
    assert depbounds_main(["cache", "list", "--cache-dir", str(cache_dir)]) == 0
    listing = capsys.readouterr().out
    assert "lower-" in listing
    assert "upper-" in listing
    assert "2 envs" in listing
    assert (
        depbounds_main(["cache", "prune", "--keep", "0", "--cache-dir", str(cache_dir)])
        == 0
    )
    assert "2 envs removed" in capsys.readouterr().out
    assert not [p for p in _envs(pytester) if p.is_dir()]


def test_a_build_rewriting_a_source_file_does_not_reinstall_every_run(
    pytester: pytest.Pytester,
) -> None:
    # As hatch-vcs and setuptools-scm do: each build writes the version file.
    _project(pytester, ["fakelib>=1.4"])
    backend = pytester.path / "_intree_backend.py"
    backend.write_text(
        backend.read_text() + "\n_build_wheel = build_wheel\n"
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    with open('myproj/_version.py', 'w') as f:\n"
        "        f.write('version = \"0.1.0\"\\n')\n"
        "    return _build_wheel(wheel_directory, config_settings, metadata_directory)\n"
    )
    assert pytester.runpytest_subprocess("--depbounds").ret == 0
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.no_fnmatch_line("*project changed*")
    result.stdout.fnmatch_lines(["lower*passed*env reused", "upper*passed*env reused"])
    assert result.ret == 0


def test_the_tests_find_the_env_s_scripts_first_on_path(
    pytester: pytest.Pytester,
) -> None:
    # A test running the project's console script (`dotenv --version`) must run
    # the one of the bound's env, not one found further on the user's PATH.
    check = (
        "import os, shutil, sys\n\n"
        "def test_path():\n"
        "    assert shutil.which('pytest') == os.path.join(\n"
        "        os.path.dirname(sys.executable), 'pytest')\n"
        "    assert os.environ['VIRTUAL_ENV'] == sys.prefix\n"
    )
    write_project(
        pytester.path,
        "myproj",
        dependencies=["fakelib>=1.4"],
        tests={"test_path.py": check},
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["lower*1 passed*"])
    assert result.ret == 0


def test_the_cache_without_pytest_s_cacheprovider_is_ignored_by_git(
    pytester: pytest.Pytester,
) -> None:
    # `-p no:cacheprovider` (common in addopts) moves the cache to the project
    # root: its envs must not show as thousands of untracked files.
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not found")
    _project(pytester, ["fakelib>=1.4"])
    subprocess.run([git, "init", "-q"], cwd=pytester.path, check=True)
    result = pytester.runpytest_subprocess(
        "--depbounds=upper", "-p", "no:cacheprovider"
    )
    assert result.ret == 0
    assert (pytester.path / ".depbounds-cache" / "envs").is_dir()
    status = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=all"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".depbounds-cache" not in status
    assert "pyproject.toml" in status
