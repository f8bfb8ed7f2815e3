"""The plugin without --depbounds, and option handling that builds no env."""

from __future__ import annotations

import pytest


def test_without_the_flag_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*depbounds: * bound*")
    result.stdout.no_fnmatch_line("*depbounds summary*")


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(
        ["*dependency bounds:*", "*--depbounds=*BOUNDS*", "*--depbounds-extras*"]
    )


def test_an_unknown_bound_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[project]\nname = "p"\nversion = "1"\n')
    result = pytester.runpytest_subprocess("--depbounds=middle")
    result.stderr.fnmatch_lines(["ERROR: --depbounds: unknown bound middle*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_missing_pyproject_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--depbounds")
    result.stderr.fnmatch_lines(["ERROR: no pyproject.toml in *"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_an_invalid_requirement_names_its_line(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[project]\nname = "p"\nversion = "1"\ndependencies = [\n  "foo>=>1",\n]\n'
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stderr.fnmatch_lines(
        ["ERROR: pyproject.toml:5: invalid requirement 'foo>=>1'*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str()


def test_the_outer_session_does_not_import_the_project(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[project]\nname = "p"\nversion = "1"\n')
    pytester.makeconftest("raise SystemExit('conftest imported by the outer session')")
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-python=/nonexistent/python"
    )
    assert "conftest imported" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        ["*--depbounds-python=/nonexistent/python: no such interpreter*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_path_value_outside_the_rootdir_needs_an_equals_sign(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makepyprojecttoml('[project]\nname = "p"\nversion = "1"\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-cache-dir", str(elsewhere)
    )
    result.stderr.fnmatch_lines(
        [f"ERROR: write --depbounds-cache-dir={elsewhere} (with '='): *"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    with_equals = pytester.runpytest_subprocess(
        "--depbounds",
        f"--depbounds-cache-dir={elsewhere}",
        "--depbounds-python=/nonexistent/python",
    )
    with_equals.stdout.fnmatch_lines(["*/nonexistent/python: no such interpreter*"])
    assert f"rootdir: {pytester.path}" in with_equals.stdout.str()


@pytest.mark.parametrize("strict", ["--strict-config", ""])
def test_ini_keys_of_plugins_only_the_envs_hold_are_left_to_them(
    pytester: pytest.Pytester, strict: str
) -> None:
    # filelock, structlog: `asyncio_mode`/`timeout` belong to plugins installed
    # in the bound envs (their test group), not beside pytest-depbounds; with
    # `--strict-config` or `filterwarnings = error` the outer session stopped.
    pytester.makepyprojecttoml(
        '[project]\nname = "p"\nversion = "1"\n'
        "[tool.pytest.ini_options]\n"
        f'addopts = "{strict}"\n'
        'filterwarnings = ["error"]\nasyncio_mode = "auto"\ntimeout = 20\n'
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-python=/nonexistent/python"
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Unknown config option" not in output
    assert "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(["*/nonexistent/python: no such interpreter*"])
    # Without --depbounds, pytest checks them as always.
    plain = pytester.runpytest_subprocess()
    assert "Unknown config option: asyncio_mode" in (
        plain.stdout.str() + plain.stderr.str()
    )
