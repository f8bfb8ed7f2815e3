from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pytest_depbounds import cli, process
from pytest_depbounds.bounds import highest_allowed, lowest_allowed, parse_bounds
from pytest_depbounds.declared import is_tooling, read_declaration
from pytest_depbounds.envs import KEEP_PER_BOUND, STAMP, EnvPlan, prune_runs
from pytest_depbounds.errors import ConfigurationError, ResolutionError
from pytest_depbounds.installer import IndexSettings, Installer, parse_build_failure
from pytest_depbounds.interpreters import current
from pytest_depbounds.options import asks_for_xdist, forwarded_args, strip_our_args
from pytest_depbounds.speculation import AnyOf, Check, Gate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("lower", ("lower",)),
        ("upper", ("upper",)),
        ("upper,lower", ("lower", "upper")),
        ("all", ("lower", "upper")),
        (" Lower , UPPER ", ("lower", "upper")),
    ],
)
def test_parse_bounds(value: str, expected: tuple[str, ...]) -> None:
    assert parse_bounds(value) == expected


@pytest.mark.parametrize("value", ["", "middle", "lower,nope"])
def test_parse_bounds_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="unknown bound"):
        parse_bounds(value)


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["--depbounds", "-x"], ["-x"]),
        (["--depbounds", "lower", "tests"], ["tests"]),
        (["--depbounds=upper", "-k", "foo"], ["-k", "foo"]),
        (["--depbounds-python", "3.10", "tests/a.py"], ["tests/a.py"]),
        (["--depbounds-python=3.10", "-q"], ["-q"]),
        (["--depbounds-rebuild", "-v"], ["-v"]),
        (["--depbounds", "tests"], ["tests"]),
    ],
)
def test_strip_our_args(args: list[str], kept: list[str]) -> None:
    assert strip_our_args(args) == kept


def test_index_settings_read_pip_variables() -> None:
    settings = IndexSettings.from_environ(
        {
            "PIP_INDEX_URL": "https://example.invalid/simple",
            "PIP_EXTRA_INDEX_URL": "https://a.invalid/simple https://b.invalid/simple",
            "PIP_FIND_LINKS": "/wheels",
        },
        index_url=None,
        extra_index_urls=(),
        find_links=(),
        no_index=False,
        offline=False,
    )
    assert settings.uv_args() == [
        "--index-url",
        "https://example.invalid/simple",
        "--extra-index-url",
        "https://a.invalid/simple",
        "--extra-index-url",
        "https://b.invalid/simple",
        "--find-links",
        "/wheels",
    ]


def test_options_win_over_pip_variables() -> None:
    settings = IndexSettings.from_environ(
        {"PIP_INDEX_URL": "https://env.invalid/simple", "PIP_NO_INDEX": "0"},
        index_url="https://option.invalid/simple",
        extra_index_urls=(),
        find_links=("/here",),
        no_index=True,
        offline=True,
    )
    assert settings.uv_args() == ["--no-index", "--find-links", "/here", "--offline"]


@pytest.mark.parametrize("command", ["check", "coinstall", "scan"])
def test_every_command_reads_the_index_options_alike(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"PIP_INDEX_URL": "https://env.invalid/simple"}
    seen: list[IndexSettings] = []

    def capture(args: argparse.Namespace) -> int:
        seen.append(IndexSettings.from_arguments(args, environ))
        return 0

    monkeypatch.setattr(cli, "run_check_command", capture)
    monkeypatch.setattr(cli, "_coinstall", capture)
    monkeypatch.setattr(cli.scan, "run_command", capture)
    monkeypatch.chdir(tmp_path)
    argv = [command, ".", "--extra-index-url", "https://extra.invalid/simple"]
    argv += ["--find-links", "wheels", "--find-links", "https://links.invalid/"]
    assert cli.main([*argv, "--no-index", "--offline"]) == 0
    assert seen == [
        IndexSettings(
            index_url="https://env.invalid/simple",
            extra_index_urls=("https://extra.invalid/simple",),
            # Relative to where the command runs, as pip reads it.
            find_links=(str(tmp_path.resolve() / "wheels"), "https://links.invalid/"),
            no_index=True,
            offline=True,
        )
    ]


@pytest.mark.parametrize(
    ("name", "tooling"),
    [
        ("pytest", True),
        ("pytest_cov", True),
        ("Coverage", True),
        ("requests", False),
        ("pytestish", False),
    ],
)
def test_is_tooling(name: str, tooling: bool) -> None:
    assert is_tooling(name) is tooling


def _pyproject(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_declaration_reads_dependencies_extras_and_groups(tmp_path: Path) -> None:
    project = _pyproject(
        tmp_path,
        """
[project]
name = "MyProj"
version = "1"
dependencies = ["fakelib>=1.0", "green-io>=0.15; python_version>='3'"]

[project.optional-dependencies]
fast = ["speedy>=2"]
all = ["myproj[fast]", "extra-thing>=1"]

[dependency-groups]
lint = ["ruff"]
test = ["pytest>=7", {include-group = "lint"}, "stablelib>=1.0"]
""",
    )
    declaration = read_declaration(project, extras=["all"], groups=None)
    names = [r.name for r in declaration.requirements]
    assert names == [
        "fakelib",
        "green-io",
        "extra-thing",
        "speedy",
        "pytest",
        "ruff",
        "stablelib",
    ]
    assert [r.name for r in declaration.tooling] == ["pytest"]
    assert declaration.requirements[0].location == "pyproject.toml:5"
    assert declaration.requirements[2].origin == "extra all"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[project\n", "invalid TOML"),
        (
            '[project]\nname = "p"\ndependencies = ["foo >= = 1"]\n',
            "pyproject.toml:3: invalid requirement 'foo >= = 1'",
        ),
        (
            # Dynamic dependencies come from the backend, here one that is missing.
            (
                '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n'
                '[project]\nname = "p"\ndynamic = ["dependencies"]\n'
            ),
            "dynamic dependencies: the build backend no_such_backend failed",
        ),
        ('[project]\nname = "p"\ndependencies = "foo"\n', "must be a list"),
    ],
)
def test_declaration_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        read_declaration(_pyproject(tmp_path, text), extras=(), groups=None)


def test_unknown_extra_and_group_name_the_known_ones(tmp_path: Path) -> None:
    project = _pyproject(
        tmp_path,
        '[project]\nname = "p"\n[project.optional-dependencies]\nfast = []\n'
        "[dependency-groups]\ndocs = []\n",
    )
    with pytest.raises(ConfigurationError, match="unknown extra 'slow'.*fast"):
        read_declaration(project, extras=["slow"], groups=None)
    with pytest.raises(
        ConfigurationError, match="unknown dependency group 'test'.*docs"
    ):
        read_declaration(project, extras=(), groups=["test"])


def test_missing_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no pyproject.toml"):
        read_declaration(tmp_path, extras=(), groups=None)


versions = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 5)).map(
        lambda t: Version(f"{t[0]}.{t[1]}")
    ),
    unique=True,
)
specifiers = st.sampled_from(
    [">=1.0", ">1.2", "<3", ">=0.5,<2.1", "!=1.1", "~=1.2", "==2.*", ">=4", ""]
)


@given(versions, specifiers)
def test_bound_choice_stays_inside_the_specifier(
    candidates: list[Version], spec: str
) -> None:
    specifier = SpecifierSet(spec)
    admitted = list(specifier.filter(candidates))
    low = lowest_allowed(specifier, candidates)
    high = highest_allowed(specifier, candidates)
    if not admitted:
        assert low is None
        assert high is None
        return
    assert low == min(admitted)
    assert high == max(admitted)
    assert low in specifier
    assert high in specifier


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-n", "2"], True),
        (["-n2"], True),
        (["-nauto"], True),
        (["--numprocesses=4"], True),
        (["--dist", "loadfile", "--tx", "popen"], True),
        (["-n", "0"], False),
        (["-n0"], False),
        (["--dist=no"], False),
        (["-x", "--nf"], False),
        ([], False),
    ],
)
def test_asks_for_xdist(args: list[str], expected: bool) -> None:
    assert asks_for_xdist(args) is expected


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["--depbounds", "-n", "0", "-x"], ["-x"]),
        (["-n0", "--dist=no", "-k", "n0"], ["-k", "n0"]),
        (["--numprocesses", "0", "--dist", "no", "--nf"], ["--nf"]),
    ],
)
def test_xdist_off_switches_are_not_forwarded_where_xdist_is_missing(
    args: list[str], kept: list[str]
) -> None:
    assert forwarded_args(args, xdist=False) == kept
    assert forwarded_args(args, xdist=True) == strip_our_args(args)


def test_probe_envs_of_the_last_runs_are_kept(tmp_path: Path) -> None:
    envs = tmp_path / "envs"

    def env(name: str) -> str:
        (envs / name / "bin").mkdir(parents=True)
        (envs / name / "bin" / "python").touch()
        (envs / name / STAMP).write_text('{"key": "k"}', encoding="utf-8")
        return name

    bound = env("lower-0123")
    # An env no recorded run used (an older version's, an interrupted run's).
    unrecorded = env("bisect-upper-b-1.0-0123")
    runs: list[list[str]] = []
    removed: set[str] = set()
    for run in range(KEEP_PER_BOUND + 2):
        runs.append([env(f"bisect-lower-a-1.{run}-0123"), env(f"bisect-x-{run}-1")])
        found = prune_runs(envs, family="bisect", used=runs[-1], keep=KEEP_PER_BOUND)
        removed |= {e.path.name for e in found}
        kept = {p.name for p in envs.iterdir() if p.is_dir()}
        # The last three runs' envs stay, however many each used; bounds' too.
        assert kept == {bound, *(n for used in runs[-KEEP_PER_BOUND:] for n in used)}
    assert removed == {unrecorded, *runs[0], *runs[1]}


def test_the_prune_command_keeps_the_probe_envs_of_the_last_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = tmp_path / "envs"

    def env(name: str, age: int = 0) -> str:
        (envs / name / "bin").mkdir(parents=True)
        (envs / name / "bin" / "python").touch()
        (envs / name / STAMP).write_text('{"key": "k"}', encoding="utf-8")
        os.utime(envs / name / STAMP, (1e9 - age, 1e9 - age))
        return name

    bounds = [env("lower-0123", age=10), env("lower-4567"), env("upper-89ab")]
    runs: list[list[str]] = []
    for run in range(3):
        runs.append([env(f"bisect-lower-a-1.{run}-0123"), env(f"bisect-x-{run}-1")])
        assert not prune_runs(envs, family="bisect", used=runs[-1], keep=3)
    env("bisect-upper-b-1.0-0123")  # no recorded run used it
    prune = ["cache", "prune", "--cache-dir", str(tmp_path), "--keep"]
    assert cli.main([*prune, "1"]) == 0
    # The newest env of each bound and the probe envs of the last run only,
    # though each probe env is the only one of its bound.
    left = {p.name for p in envs.iterdir() if p.is_dir()}
    assert left == {*bounds[1:], *runs[-1]}
    assert "6 envs removed" in capsys.readouterr().out.splitlines()[-1]
    assert cli.main([*prune, "0"]) == 0
    assert not [p for p in envs.iterdir() if p.is_dir()]
    assert "4 envs removed" in capsys.readouterr().out.splitlines()[-1]


#: pip >= 24 names what it could not build, never its version; pip 23 names
#: nothing for a metadata failure.
_PIP_BUILD = """\
  ╰─> [12 lines of output]
      Traceback (most recent call last):
      RuntimeError: cannot compile _speedups.c
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
"""
_PIP_METADATA = "Encountered error while generating package metadata.\n╰─> "


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "Failed to build `Old_Lib==1.0`\n  ╰─▶ RuntimeError: x\n  help: ...",
            ("Old_Lib", "1.0", "╰─▶ RuntimeError: x"),
        ),
        (
            f"{_PIP_BUILD}error: metadata-generation-failed\n\n{_PIP_METADATA}Old_Lib",
            ("Old_Lib", "1.0", "RuntimeError: cannot compile _speedups.c"),
        ),
        (
            f"{_PIP_BUILD}  ERROR: Failed building wheel for old-lib\nerror: ...\n",
            ("old-lib", "1.0", "RuntimeError: cannot compile _speedups.c"),
        ),
        (
            # numpy 1.21 on Python 3.11: the last line is a whole compiler command.
            'Failed to build `Old_Lib==1.0`\n  error: Command "gcc -Wall '
            + "-Ibuild/src.linux-x86_64-3.11/numpy/core/src/common " * 20
            + '-c arraytypes.c -o arraytypes.o" failed with exit status 1\n',
            (
                "Old_Lib",
                "1.0",
                (
                    'error: Command "gcc -Wall -Ibuild/src.linux-x86_64-3.11/numpy/core/'
                    'src/common … -o arraytypes.o" failed with exit status 1'
                ),
            ),
        ),
        (
            # PyYAML 3.13 on Python 3.11: the compiler's own line says why, the
            # setuptools line after it only that gcc failed.
            (
                "error: Failed to build `pyyaml==3.13`\n  cause: The build backend ...\n"
                "  ext/_yaml.c:181:12: fatal error: longintrepr.h: No such file or "
                "directory\n  compilation terminated.\n"
                "  error: command '/usr/bin/gcc' failed with exit code 1\n"
                "hint: This error likely indicates that you need to install a library\n"
            ),
            (
                "pyyaml",
                "3.13",
                (
                    "ext/_yaml.c:181:12: fatal error: longintrepr.h: No such file or "
                    "directory"
                ),
            ),
        ),
        (
            (
                "Failed to build `pyyaml==3.13`\n  x.c:1:2: error: unknown type 'Py'\n"
                "  error: Command '['gcc', '-c', 'x.c']' returned non-zero exit status 1.\n"
            ),
            ("pyyaml", "3.13", "x.c:1:2: error: unknown type 'Py'"),
        ),
        (f"{_PIP_BUILD}{_PIP_METADATA}See above for output.\n", None),
        ("  ERROR: Failed building wheel for other\n", None),
        ("ERROR: ResolutionImpossible", None),
    ],
)
def test_parse_build_failure(
    output: str, expected: tuple[str, str, str] | None
) -> None:
    assert parse_build_failure(output, {"old-lib": "1.0"}) == expected


# -- speculation: running on the last pins while they are resolved again ------


def test_a_gate_holds_events_until_opened_then_keeps_their_order() -> None:
    channel: queue.Queue[tuple[str, object]] = queue.Queue()
    gate = Gate(channel)
    gate.put(("pins", 1))
    gate.put(("record", 2))
    assert channel.empty()
    gate.open()
    gate.put(("record", 3))
    assert [channel.get_nowait() for _ in range(3)] == [
        ("pins", 1),
        ("record", 2),
        ("record", 3),
    ]


def test_a_discarded_gate_passes_nothing_on() -> None:
    channel: queue.Queue[tuple[str, object]] = queue.Queue()
    gate = Gate(channel)
    gate.put(("record", 1))
    gate.discard()
    assert channel.empty()


def test_a_check_opens_on_a_right_guess_and_flags_a_wrong_one() -> None:
    opened: list[str] = []
    right = Check(lambda: "a", "a", lambda: opened.append("a"), same=str.__eq__)
    assert right.confirmed()
    assert opened == ["a"]
    assert not right.wrong.is_set()
    wrong = Check(lambda: "b", "a", lambda: opened.append("b"), same=str.__eq__)
    assert not wrong.confirmed()
    assert wrong.result() == "b"
    assert wrong.wrong.is_set()
    assert opened == ["a"]
    assert AnyOf(threading.Event(), wrong.wrong).is_set()


def test_a_check_that_fails_stops_the_guess_and_reraises() -> None:
    def fail() -> str:
        raise ResolutionError("no index")

    check = Check(fail, "a", lambda: None, same=str.__eq__)
    with pytest.raises(ResolutionError, match="no index"):
        check.result()
    assert check.wrong.is_set()


def test_two_projects_sharing_a_cache_dir_get_envs_of_their_own(
    tmp_path: Path,
) -> None:
    # Two projects with no dependency pin the same tooling: one env for both
    # would hold whichever was installed last, and the other's leftovers.
    def plan(folder: str) -> EnvPlan:
        return EnvPlan(
            bound="lower",
            interpreter=current(),
            pins=("pytest==9.2.0",),
            installer="uv",
            project_dir=tmp_path / folder,
            project_name="p",
            build_inputs=(),
            editable=False,
        )

    assert plan("a").key() == plan("a").key()
    assert plan("a").key() != plan("b").key()


def test_setuptools_builds_outside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setuptools reuses the project's build/lib: a deleted module stayed in
    # every later wheel, and build/ and *.egg-info appeared in the project.
    monkeypatch.delenv("DIST_EXTRA_CONFIG", raising=False)
    installer = Installer(name="uv", uv="uv", index=IndexSettings())
    scratch = tmp_path / "scratch"
    request = installer.build_wheel(
        tmp_path / "proj", python="python3", out_dir=tmp_path / "out", scratch=scratch
    )
    assert request is not None
    assert request.env is not None
    config = request.env["DIST_EXTRA_CONFIG"]
    # What setuptools itself reads from it (any interpreter that has it).
    probe = (
        "from setuptools.dist import Distribution\n"
        "d = Distribution()\n"
        "d.parse_config_files()\n"
        "print(d.get_option_dict('build')['build_base'][1])\n"
        "print(d.get_option_dict('egg_info')['egg_base'][1])\n"
    )
    for python in (sys.executable, shutil.which("python3")):
        done = subprocess.run(
            [str(python), "-c", probe],
            env={**os.environ, "DIST_EXTRA_CONFIG": config},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            break
    else:
        pytest.skip("no interpreter with setuptools")
    assert done.stdout.split() == [str(scratch / "build"), str(scratch)]
    # pip builds the source itself: the same, when it is given a scratch folder.
    pip = Installer(name="pip", uv=None, index=IndexSettings())
    built = pip.install_project(
        tmp_path / "python",
        tmp_path / "proj",
        name="p",
        editable=False,
        scratch=scratch,
    )
    assert built.env is not None
    assert built.env["DIST_EXTRA_CONFIG"] == config
    # The user's own setuptools configuration is left alone.
    monkeypatch.setenv("DIST_EXTRA_CONFIG", str(tmp_path / "mine.cfg"))
    mine = installer.build_wheel(
        tmp_path / "proj", python="python3", out_dir=tmp_path / "out", scratch=scratch
    )
    assert mine is not None
    assert mine.env is not None
    assert mine.env["DIST_EXTRA_CONFIG"] == str(tmp_path / "mine.cfg")


def test_a_long_resolver_derivation_is_condensed_to_its_ends() -> None:
    # uv explains a conflict over dozens of sentences (pytest-aiohttp against
    # aiohttp==0.2): the line keeps the first and the last two, the log the rest.
    steps = " ".join(
        f"({n}) Because pytest-plugin>={n}.0 depends on lib>={n}.5 and lib==0.2, "
        f"we can conclude that pytest-plugin>={n}.0 cannot be used."
        for n in range(1, 12)
    )
    stderr = (
        "  \N{MULTIPLICATION SIGN} No solution found when resolving dependencies:\n"
        "  ╰─▶ Because pytest-plugin<1.0 depends on lib>=0.9 and lib==0.2, we can "
        f"conclude that pytest-plugin<1.0 cannot be used. {steps} And because you "
        "require pytest-plugin, we can conclude that your requirements are "
        "unsatisfiable.\n"
    )
    outcome = process.Outcome(
        request=process.ExecuteRequest(argv=("uv",)),
        returncode=1,
        stdout="",
        stderr=stderr,
        elapsed=0.1,
    )
    summary = outcome.summary()
    assert summary == (
        "No solution found when resolving dependencies: Because pytest-plugin<1.0 "
        "depends on lib>=0.9 and lib==0.2, we can conclude that pytest-plugin<1.0 "
        "cannot be used. … (11) Because pytest-plugin>=11.0 depends on lib>=11.5 "
        "and lib==0.2, we can conclude that pytest-plugin>=11.0 cannot be used. "
        "And because you require pytest-plugin, we can conclude that your "
        "requirements are unsatisfiable."
    )
