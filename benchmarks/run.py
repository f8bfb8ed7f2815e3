#!/usr/bin/env python3
"""Time ``pytest --depbounds`` against what it replaces, side by side, in one run.

Builds a sample project with six real PyPI dependencies in a temporary folder, then
times each scenario several times, interleaving our command with the other one so
that drift hits both sides alike, and prints medians, ranges and ratios::

    .venv/bin/python benchmarks/run.py [--repeat N] [--json out.json]

Stdlib only: it runs under any Python 3.10+. ``pytest --depbounds`` runs from a
fresh venv holding only the plugin (or ``--plugin-venv``), uv comes from the dev
venv. See benchmarks/README.md for what each scenario compares.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
DEV_VENV = REPO / ".venv"

#: The sample project's dependencies and their floors; every floor has a
#: ``py3-none-any`` wheel, so the lower env installs without building anything.
DEPENDENCIES = (
    ("attrs", "22.2"),
    ("idna", "3.4"),
    ("packaging", "23.0"),
    ("pluggy", "1.0"),
    ("six", "1.16"),
    ("tomli", "2.0"),
)
#: What each tool's lower env is checked for.
CHECKED_DISTRIBUTIONS = (*[name for name, _ in DEPENDENCIES], "pytest")
PROJECT_NAME = "depbounds-bench-sample"
TEST_COUNT = 10

#: What ``uv run --with`` gets. A bare ``pytest`` is lowered to 2.0.0 under
#: ``--resolution lowest-direct`` (an sdist that no longer builds), so the
#: hand-written recipe needs a floor for it.
UV_RUN_PYTEST = "pytest>=7"

#: One command may take this long before it counts as failed.
COMMAND_TIMEOUT = 600.0

#: Variables dropped from every child, with those starting with DROPPED_PREFIXES:
#: they would point a child at another env, index or configuration than meant.
DROPPED_VARIABLES = frozenset(
    {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH", "__PYVENV_LAUNCHER__"}
    | {"PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
)
DROPPED_PREFIXES = ("PIP_", "UV_", "TOX_")


# -- running and timing commands ----------------------------------------------------


class BenchmarkError(Exception):
    """A step failed: its command, exit status and the end of its output."""


@dataclasses.dataclass(frozen=True)
class Command:
    """A child process to run and time."""

    argv: tuple[str, ...]
    cwd: Path

    def shell(self) -> str:
        """The command as a user would type it (for reports only)."""
        return " ".join(_quote(word) for word in self.argv)


@dataclasses.dataclass(frozen=True)
class Remove:
    """A folder removed as part of a timed side (``rm -rf``)."""

    path: Path


Step = Command | Remove


def child_environ() -> dict[str, str]:
    """The environment of every child: isolated from pip's and uv's machine config."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in DROPPED_VARIABLES and not key.startswith(DROPPED_PREFIXES)
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    return env


def run(command: Command, env: dict[str, str]) -> str:
    """Run one command to completion.

    :param command: What to run.
    :param env: Its environment.
    :returns: Its standard output.
    :raises BenchmarkError: When it exits non-zero or times out.
    """
    try:
        done = subprocess.run(
            command.argv,
            cwd=command.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        msg = f"timed out after {COMMAND_TIMEOUT:g} s: {command.shell()}"
        raise BenchmarkError(msg) from None
    except OSError as exc:
        msg = f"cannot run {command.shell()}: {exc}"
        raise BenchmarkError(msg) from None
    if done.returncode != 0:
        output = f"{done.stdout.rstrip()}\n{done.stderr.rstrip()}".strip()
        tail = "\n".join(output.splitlines()[-25:])
        msg = (
            f"exit {done.returncode}: {command.shell()}\n(cwd {command.cwd})\n"
            f"{textwrap.indent(tail, '    ')}"
        )
        raise BenchmarkError(msg)
    return done.stdout


def timed(steps: Sequence[Step], env: dict[str, str]) -> float:
    """Run steps one after the other and return their wall-clock seconds."""
    start = time.perf_counter()
    for step in steps:
        if isinstance(step, Remove):
            shutil.rmtree(step.path, ignore_errors=True)
        else:
            run(step, env)
    return time.perf_counter() - start


def _quote(word: str) -> str:
    safe = all(c.isalnum() or c in "-_./=:,+@" for c in word)
    return word if word and safe else "'" + word.replace("'", "'\\''") + "'"


# -- results ----------------------------------------------------------------------


@dataclasses.dataclass
class Side:
    """One side of a comparison: its steps and the seconds of each repetition."""

    label: str
    steps: tuple[Step, ...]
    samples: list[float] = dataclasses.field(default_factory=list)
    error: str | None = None
    check: Callable[[], str | None] | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    def measure(self, env: dict[str, str], *, keep: bool = True) -> float | None:
        """Time one repetition; record a failure instead of raising.

        :param env: The children's environment.
        :param keep: Record the sample (False for a warm-up round).
        :returns: The seconds, or ``None`` when a step failed.
        """
        if self.error is not None:
            return None
        try:
            seconds = timed(self.steps, env)
        except BenchmarkError as exc:
            self.error = str(exc)
            return None
        if keep:
            self.samples.append(seconds)
        if self.check is not None:
            warning = self.check()
            if warning and warning not in self.warnings:
                self.warnings.append(warning)
        return seconds

    def stats(self) -> dict[str, float] | None:
        """Median, min and max of the samples, if any."""
        if not self.samples:
            return None
        return {
            "median": statistics.median(self.samples),
            "min": min(self.samples),
            "max": max(self.samples),
        }

    def as_json(self) -> dict[str, Any]:
        """The side for the JSON file."""
        return {
            "label": self.label,
            "commands": [
                step.shell() if isinstance(step, Command) else f"rm -rf {step.path}"
                for step in self.steps
            ],
            "samples": [round(s, 4) for s in self.samples],
            "stats": self.stats(),
            "error": self.error,
            "warnings": self.warnings,
        }


@dataclasses.dataclass
class Scenario:
    """Our command against theirs, with the ratio we aim at (ours / theirs)."""

    key: str
    title: str
    ours: Side
    theirs: Side
    target: float | None = None
    unavailable: str | None = None

    def ratio(self) -> float | None:
        """Median ours over median theirs."""
        ours, theirs = self.ours.stats(), self.theirs.stats()
        if ours is None or theirs is None or theirs["median"] == 0:
            return None
        return ours["median"] / theirs["median"]

    def met(self) -> bool | None:
        """Whether the ratio is within the target, when there is one."""
        ratio = self.ratio()
        if ratio is None or self.target is None:
            return None
        return ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        """The scenario for the JSON file."""
        ratio = self.ratio()
        return {
            "key": self.key,
            "title": self.title,
            "ours": self.ours.as_json(),
            "theirs": self.theirs.as_json(),
            "ratio": None if ratio is None else round(ratio, 4),
            "target": self.target,
            "met": self.met(),
            "unavailable": self.unavailable,
        }


# -- the sample project -------------------------------------------------------------

PACKAGE_SOURCE = '''\
"""A tiny library leaning on six real dependencies."""

from __future__ import annotations

import attrs
import idna
import pluggy
import six
import tomli
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

hookspec = pluggy.HookspecMarker("samplelib")
hookimpl = pluggy.HookimplMarker("samplelib")


def _ascii_host(host: str) -> str:
    return idna.encode(host).decode("ascii")


@attrs.define(frozen=True, order=False)
class Release:
    """A release of a distribution, published on some host."""

    name: str = attrs.field(converter=canonicalize_name)
    version: Version = attrs.field(converter=Version)
    host: str = attrs.field(default="example.org", converter=_ascii_host)

    def satisfies(self, spec: str) -> bool:
        return self.version in SpecifierSet(spec)


def load_releases(text: str) -> list[Release]:
    """Read ``[release.NAME]`` tables from TOML text."""
    data = tomli.loads(text)
    return [
        Release(name=name, **fields)
        for name, fields in sorted(data.get("release", {}).items())
    ]


def newest(releases: list[Release]) -> Release:
    return max(releases, key=lambda release: release.version)


class Specs:
    @hookspec
    def release_notes(self, release: Release) -> str:
        """Say something about a release."""


def collect_notes(release: Release, *plugins: object) -> list[str]:
    manager = pluggy.PluginManager("samplelib")
    manager.add_hookspecs(Specs)
    for plugin in plugins:
        manager.register(plugin)
    return list(manager.hook.release_notes(release=release))


def as_text(value: bytes | str) -> str:
    return six.ensure_text(value, encoding="utf-8")
'''

TESTS_SOURCE = """\
from __future__ import annotations

import idna
import pytest
import tomli

import samplelib
from samplelib import Release, hookimpl


def test_release_converts_name_and_version():
    release = Release(name="Foo_Bar", version="1.2.0")
    assert release.name == "foo-bar"
    assert str(release.version) == "1.2.0"


def test_releases_compare_by_version():
    old, new = Release("a", "1.9"), Release("a", "1.10")
    assert samplelib.newest([new, old]) is new


def test_release_satisfies_specifier():
    release = Release("a", "2.1")
    assert release.satisfies(">=2,<3")
    assert not release.satisfies("<2")


def test_host_is_idna_encoded():
    assert Release("a", "1", host="b\\u00fccher.example").host == (
        "xn--bcher-kva.example"
    )


def test_invalid_host_is_refused():
    with pytest.raises(idna.IDNAError):
        Release("a", "1", host="a..b")


def test_load_releases_from_toml():
    text = '[release.beta]\\nversion = "0.2"\\n[release.alpha]\\nversion = "1.0"\\n'
    releases = samplelib.load_releases(text)
    assert [r.name for r in releases] == ["alpha", "beta"]
    assert samplelib.newest(releases).name == "alpha"


def test_invalid_toml_is_refused():
    with pytest.raises(tomli.TOMLDecodeError):
        samplelib.load_releases("release = [")


def test_hooks_collect_every_note():
    class Loud:
        @hookimpl
        def release_notes(self, release):
            return f"{release.name} is out"

    class Quiet:
        @hookimpl
        def release_notes(self, release):
            return f"({release.version})"

    notes = samplelib.collect_notes(Release("a", "3"), Loud(), Quiet())
    assert sorted(notes) == ["(3)", "a is out"]


def test_hooks_without_plugins_say_nothing():
    assert samplelib.collect_notes(Release("a", "3")) == []


def test_as_text_from_bytes_or_text():
    assert samplelib.as_text(b"caf\\xc3\\xa9") == samplelib.as_text("caf\\u00e9")
"""


def write_project(path: Path) -> None:
    """Write the sample project: PEP 621 metadata, a src-layout package, tests."""
    dependencies = "\n".join(f'  "{name}>={floor}",' for name, floor in DEPENDENCIES)
    pyproject = f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{PROJECT_NAME}"
version = "0.1.0"
description = "Sample project for the pytest-depbounds benchmarks"
requires-python = ">=3.9"
dependencies = [
{dependencies}
]

[tool.hatch.build.targets.wheel]
packages = ["src/samplelib"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
    (path / "src" / "samplelib").mkdir(parents=True)
    (path / "tests").mkdir()
    (path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (path / "README.md").write_text("Benchmark sample.\n", encoding="utf-8")
    (path / "src" / "samplelib" / "__init__.py").write_text(
        PACKAGE_SOURCE, encoding="utf-8"
    )
    (path / "tests" / "test_samplelib.py").write_text(TESTS_SOURCE, encoding="utf-8")


def lower_constraints() -> str:
    """What a user writes by hand for tox: the declared floors, pinned."""
    return "".join(f"{name}=={floor}\n" for name, floor in DEPENDENCIES)


TOX_INI = """\
[tox]
env_list = lower, upper

[testenv]
deps = pytest
commands = pytest {posargs}

[testenv:lower]
deps =
    pytest
    -c lower-constraints.txt
constrain_package_deps = true
"""


# -- the benchmark --------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    """Paths, tools and state shared by every scenario."""

    root: Path
    env: dict[str, str]
    dev_python: Path
    uv: Path
    base_python: str
    log: Callable[[str], None]
    #: The interpreter running ``pytest --depbounds``; ``None`` until setup() makes
    #: a fresh venv for it.
    plugin_python: Path | None
    projects: dict[str, Path] = dataclasses.field(default_factory=dict)
    tools: dict[str, Path | str] = dataclasses.field(default_factory=dict)
    envs: dict[str, Path] = dataclasses.field(default_factory=dict)
    lower_check: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def report(self) -> Path:
        """Where our runs write their JSON report (read to check warm vs cold)."""
        return self.root / "depbounds-report.json"

    def ours(self, *extra: str) -> Command:
        """``pytest --depbounds`` in the project, from the dev venv."""
        if self.plugin_python is None:
            msg = "the plugin's venv is not set up yet"
            raise BenchmarkError(msg)
        argv = (str(self.plugin_python), "-m", "pytest", "--depbounds", *extra)
        # ``=``: a separate value that exists as a path would steer pytest's rootdir.
        argv += (f"--depbounds-report={self.report}",)
        return Command(argv, self.projects["ours"])

    def uv_cmd(self, *args: str, cwd: Path | None = None) -> Command:
        """A uv command."""
        return Command((str(self.uv), *args), cwd or self.root)

    def expect_envs(self, *, reused: bool) -> Callable[[], str | None]:
        """A check run after each of our runs: both bounds passed, warm or cold."""

        def check() -> str | None:
            try:
                data = json.loads(self.report.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                return f"no readable --depbounds-report: {exc}"
            problems = []
            for bound in data.get("bounds", []):
                name = bound.get("bound")
                passed = bound.get("counts", {}).get("passed")
                if bound.get("status") != "passed" or passed != TEST_COUNT:
                    problems.append(
                        f"{name}: status {bound.get('status')}, {passed} passed"
                    )
                if bool(bound.get("env", {}).get("reused")) != reused:
                    state = "reused" if bound["env"].get("reused") else "rebuilt"
                    problems.append(f"{name}: env {state}")
            if len(data.get("bounds", [])) != 2:
                problems.append(f"{len(data.get('bounds', []))} bounds reported")
            if problems:
                want = "warm (env reused)" if reused else "cold (env rebuilt)"
                return f"expected {want}: " + "; ".join(problems)
            return None

        return check


def plugin_venv(bench: Bench) -> Path:
    """A venv holding only pytest-depbounds (editable) and its dependencies.

    What a user who installed the plugin has: the dev venv also holds hypothesis,
    whose pytest plugin imports hypothesis at every terminal summary. The versions
    are pinned to the dev venv's, so both run the same pytest and uv, and compiled
    to bytecode as pip (which built the dev venv) does.

    :returns: Its interpreter.
    """
    venv = bench.root / "tools" / "depbounds"
    pins = run(
        bench.uv_cmd(
            "pip", "freeze", "--python", str(bench.dev_python), "--exclude-editable"
        ),
        bench.env,
    )
    constraints = bench.root / "dev-venv-constraints.txt"
    constraints.write_text(pins, encoding="utf-8")
    run(
        bench.uv_cmd("venv", "--quiet", "--python", bench.base_python, str(venv)),
        bench.env,
    )
    python = venv / "bin" / "python"
    run(
        bench.uv_cmd(
            "pip",
            "install",
            "--quiet",
            # pip compiles at install time, uv only when asked: with
            # PYTHONDONTWRITEBYTECODE set, an uncompiled venv recompiles pytest at
            # every start.
            "--compile-bytecode",
            "--python",
            str(python),
            "-c",
            str(constraints),
            "-e",
            str(REPO),
        ),
        bench.env,
    )
    return python


def setup(bench: Bench) -> None:
    """Write the project copies, install the tools, and run everything once."""
    if bench.plugin_python is None:
        bench.log("installing pytest-depbounds alone into a benchmark venv")
        bench.plugin_python = plugin_venv(bench)
    for key, snippet in (
        ("pytest-depbounds", PLUGIN_VERSION_SNIPPET),
        ("pytest plugins beside it", PLUGINS_SNIPPET),
    ):
        command = Command((str(bench.plugin_python), "-c", snippet), REPO)
        bench.versions[key] = run(command, bench.env).strip()
    for name in ("ours", "uvrun", "manual", "tox", "tox-uv"):
        path = bench.root / f"project-{name}"
        write_project(path)
        bench.projects[name] = path
    for name in ("tox", "tox-uv"):
        (bench.projects[name] / "lower-constraints.txt").write_text(
            lower_constraints(), encoding="utf-8"
        )
        (bench.projects[name] / "tox.ini").write_text(TOX_INI, encoding="utf-8")
    build_our_envs(bench)
    for tool, packages in (("tox", ("tox",)), ("tox-uv", ("tox", "tox-uv"))):
        install_tox(bench, tool, packages)
    bench.log("warming up the other tools once each")
    warmups = {
        "uv run": uv_run_steps(bench),
        "uv venv + uv pip install": manual_steps(bench),
    }
    warmups.update(
        {
            tool: tox_steps(bench, tool)
            for tool in ("tox", "tox-uv")
            if isinstance(bench.tools[tool], Path)
        }
    )
    for name, steps in warmups.items():
        _, error = _attempt(functools.partial(timed, steps, bench.env))
        if error:
            bench.log(
                f"warning: warm-up of {name} failed (so will its scenario): {error}"
            )
    check_lower_envs(bench)


def build_our_envs(bench: Bench) -> None:
    """Run ``pytest --depbounds`` twice (build, then reuse) and read its pins."""
    bench.log("first pytest --depbounds: resolves, builds both envs, warms uv's cache")
    run(bench.ours(), bench.env)
    problem = bench.expect_envs(reused=False)()
    if problem:
        bench.log(f"warning: first run: {problem}")
    bench.envs = find_envs(bench.projects["ours"])
    bench.log("second pytest --depbounds: must reuse both envs")
    run(bench.ours(), bench.env)
    problem = bench.expect_envs(reused=True)()
    if problem:
        bench.log(f"warning: second run: {problem}")
    for bound, path in bench.envs.items():
        python = str(path / "bin" / "python")
        freeze = bench.uv_cmd(
            "pip", "freeze", "--python", python, "--exclude", PROJECT_NAME
        )
        pins = run(freeze, bench.env)
        (bench.root / f"{bound}-pins.txt").write_text(pins, encoding="utf-8")
    bench.lower_check["pytest --depbounds"] = installed(
        bench, bench.envs["lower"] / "bin" / "python"
    )


def install_tox(bench: Bench, tool: str, packages: Sequence[str]) -> None:
    """Install tox (and a plugin) into its own venv, or record why it cannot be."""
    bench.log(f"installing {' + '.join(packages)} into a benchmark venv")
    venv = bench.root / "tools" / tool
    python = str(venv / "bin" / "python")
    try:
        run(
            bench.uv_cmd("venv", "--quiet", "--python", bench.base_python, str(venv)),
            bench.env,
        )
        run(
            bench.uv_cmd("pip", "install", "--quiet", "--python", python, *packages),
            bench.env,
        )
        tool_versions = installed(bench, python, names=packages)
    except BenchmarkError as exc:
        reason = str(exc).strip().splitlines()[-1].strip()
        bench.tools[tool] = f"cannot install {' + '.join(packages)}: {reason}"
        bench.log(f"n/a: {bench.tools[tool]}")
        return
    bench.versions[tool] = " + ".join(
        f"{name} {version}" for name, version in tool_versions.items()
    )
    bench.tools[tool] = venv / "bin" / "tox"


def find_envs(project: Path) -> dict[str, Path]:
    """The lower and upper envs under the project's depbounds cache dir."""
    envs_dir = project / ".pytest_cache" / "d" / "depbounds" / "envs"
    found: dict[str, Path] = {}
    for bound in ("lower", "upper"):
        candidates = [
            p
            for p in envs_dir.glob(f"{bound}-*")
            if p.is_dir() and (p / "bin" / "python").exists()
        ]
        if not candidates:
            msg = f"no {bound} env with bin/python under {envs_dir}"
            raise BenchmarkError(msg)
        found[bound] = max(candidates, key=lambda p: p.stat().st_mtime)
    return found


PYTHON_SNIPPET = (
    "import platform; "
    "print(platform.python_implementation(), platform.python_version())"
)
#: The interpreter pytest-depbounds builds its envs from (the dev venv's base).
BASE_PYTHON_SNIPPET = (
    "import sys; print(getattr(sys, '_base_executable', None) or sys.executable)"
)
PLUGIN_VERSION_SNIPPET = (
    "import importlib.metadata as m; print(m.version('pytest-depbounds'))"
)
PLUGINS_SNIPPET = (
    "import importlib.metadata as m; print(', '.join(sorted("
    "{e.dist.name for e in m.entry_points(group='pytest11')} - {'pytest-depbounds'}"
    ")) or 'none')"
)
VERSIONS_SNIPPET = (
    "import importlib.metadata as m, json, sys; "
    "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
)


def installed(
    bench: Bench,
    python: Path | str,
    *prefix: str,
    names: Sequence[str] = CHECKED_DISTRIBUTIONS,
) -> dict[str, str]:
    """Versions of distributions in an env: the sample's dependencies and pytest.

    :param bench: The benchmark.
    :param python: The env's interpreter.
    :param prefix: Words before the interpreter (``uv run ...``).
    :param names: The distributions.
    :returns: Name to version.
    :raises BenchmarkError: When one is missing.
    """
    argv = (*prefix, str(python), "-c", VERSIONS_SNIPPET, *names)
    output = run(Command(argv, bench.projects["uvrun"]), bench.env)
    result: dict[str, str] = json.loads(output.strip().splitlines()[-1])
    return result


def check_lower_envs(bench: Bench) -> None:
    """Record what each tool's lower env holds: a floor missed is a false green."""
    checks: dict[str, Callable[[], dict[str, str]]] = {
        "uv run --resolution lowest-direct": lambda: installed(
            bench,
            "python",
            str(bench.uv),
            "run",
            "--quiet",
            "--python",
            bench.base_python,
            "--isolated",
            "--resolution",
            "lowest-direct",
            "--with",
            UV_RUN_PYTEST,
        ),
        "uv venv + uv pip install": lambda: installed(
            bench, bench.root / "manual-envs" / "lower" / "bin" / "python"
        ),
    }
    for tool in ("tox", "tox-uv"):
        if isinstance(bench.tools[tool], Path):
            python = bench.projects[tool] / ".tox" / "lower" / "bin" / "python"
            checks[tool] = functools.partial(installed, bench, python)
    for name, check in checks.items():
        versions, error = _attempt(check)
        if versions is None:
            versions = {"error": (error or "no output").splitlines()[0]}
        bench.lower_check[name] = versions


def _attempt(action: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run an action, turning a :class:`BenchmarkError` into its message."""
    try:
        return action(), None
    except BenchmarkError as exc:
        return None, str(exc)


def floors_missed(versions: dict[str, str]) -> list[str]:
    """Dependencies whose installed version is not the declared floor."""
    if "error" in versions:
        return [versions["error"]]
    return [
        f"{name} {versions.get(name, 'missing')} (floor {floor})"
        for name, floor in DEPENDENCIES
        if _version_key(versions.get(name, "")) != _version_key(floor)
    ]


def _version_key(version: str) -> tuple[str, ...]:
    parts = version.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return tuple(parts)


def uv_run_steps(bench: Bench) -> tuple[Step, ...]:
    """What a user writes by hand today: one isolated ``uv run`` per bound."""
    common = ("run", "--python", bench.base_python, "--isolated")
    project = bench.projects["uvrun"]
    return (
        bench.uv_cmd(
            *common,
            "--resolution",
            "lowest-direct",
            "--with",
            UV_RUN_PYTEST,
            "pytest",
            cwd=project,
        ),
        bench.uv_cmd(*common, "--with", UV_RUN_PYTEST, "pytest", cwd=project),
    )


def manual_steps(bench: Bench) -> tuple[Step, ...]:
    """A fresh env per bound from the same pins as ours, the project, and pytest."""
    steps: list[Step] = []
    project = bench.projects["manual"]
    for bound in ("lower", "upper"):
        venv = bench.root / "manual-envs" / bound
        python = str(venv / "bin" / "python")
        steps += [
            Remove(venv),
            bench.uv_cmd("venv", "--quiet", "--python", bench.base_python, str(venv)),
            bench.uv_cmd(
                "pip",
                "install",
                "--quiet",
                "--python",
                python,
                "-r",
                str(bench.root / f"{bound}-pins.txt"),
                str(project),
            ),
            Command((python, "-m", "pytest"), project),
        ]
    return tuple(steps)


def tox_steps(bench: Bench, tool: str) -> tuple[Step, ...]:
    """Recreate and run tox's lower and upper envs."""
    return (
        Command(
            (str(bench.tools[tool]), "run", "-r", "-e", "lower,upper"),
            bench.projects[tool],
        ),
    )


def scenarios(bench: Bench) -> list[Scenario]:
    """Every comparison, built once the setup has found the envs."""
    warm = bench.expect_envs(reused=True)
    cold = Side(
        "pytest --depbounds --depbounds-rebuild",
        (bench.ours("--depbounds-rebuild"),),
        check=bench.expect_envs(reused=False),
    )
    bare = tuple(
        Command((str(path / "bin" / "python"), "-m", "pytest"), bench.projects["ours"])
        for path in bench.envs.values()
    )
    found = [
        Scenario(
            "a",
            "warm re-run vs bare pytest in both envs",
            Side("pytest --depbounds (warm)", (bench.ours(),), check=warm),
            Side("<env>/bin/python -m pytest x2", bare),
            target=1.25,
        ),
        Scenario(
            "b",
            "warm re-run vs uv run --isolated x2",
            Side("pytest --depbounds (warm)", (bench.ours(),), check=warm),
            Side("uv run --isolated [lowest-direct] x2", uv_run_steps(bench)),
            target=0.3,
        ),
        Scenario(
            "c",
            "cold vs uv venv + uv pip install + pytest",
            cold,
            Side("uv venv + uv pip install + pytest x2", manual_steps(bench)),
            target=1.15,
        ),
    ]
    for key, tool in (("d1", "tox"), ("d2", "tox-uv")):
        available = bench.tools[tool]
        if isinstance(available, Path):
            theirs = Side(f"{tool} run -r -e lower,upper", tox_steps(bench, tool))
            found.append(Scenario(key, f"cold vs {tool} (recreate)", cold, theirs))
        else:
            found.append(
                Scenario(
                    key,
                    f"cold vs {tool} (recreate)",
                    cold,
                    Side(tool, ()),
                    unavailable=available,
                )
            )
    found.append(
        Scenario(
            "e",
            "--depbounds-jobs 2 vs 1, warm",
            Side(
                "pytest --depbounds --depbounds-jobs 2",
                (bench.ours("--depbounds-jobs", "2"),),
                check=warm,
            ),
            Side(
                "pytest --depbounds --depbounds-jobs 1",
                (bench.ours("--depbounds-jobs", "1"),),
                check=warm,
            ),
        )
    )
    return found


def measure(bench: Bench, found: list[Scenario], repeat: int, warmup: int) -> None:
    """Time every side ``repeat`` times, alternating which side of a pair goes first.

    A side shared by several scenarios (ours cold) is timed once per round. The
    ``warmup`` rounds first are thrown away: the first runs after the setup's
    installs are slowed by the disk catching up.
    """
    for round_number in range(-warmup, repeat):
        done: set[int] = set()
        for scenario in found:
            sides = [scenario.ours, scenario.theirs]
            if round_number % 2:
                sides.reverse()
            for side in sides:
                if id(side) in done or not side.steps or scenario.unavailable:
                    continue
                done.add(id(side))
                seconds = side.measure(bench.env, keep=round_number >= 0)
                shown = "failed" if seconds is None else f"{seconds:.2f} s"
                name = (
                    f"round {round_number + 1}/{repeat}"
                    if round_number >= 0
                    else "warm-up round"
                )
                bench.log(f"{name} {scenario.key}: {side.label}: {shown}")


# -- output ---------------------------------------------------------------------------


def machine(bench: Bench) -> dict[str, Any]:
    """What the numbers were measured on."""
    python_version = run(
        Command((bench.base_python, "-c", PYTHON_SNIPPET), bench.root), bench.env
    ).strip()
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain")
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": python_version,
        "platform": platform.platform(),
        "base_python": bench.base_python,
        "commit": f"{commit}{' (dirty tree)' if dirty else ''}" if commit else None,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "tools": bench.versions,
    }


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            (git, "-C", str(REPO), *args), capture_output=True, text=True, check=True
        )
    except (subprocess.CalledProcessError, OSError):
        return None
    return done.stdout.strip()


DASH = "\u2013"
AT_MOST = "\u2264"


def _cell(stats: dict[str, float] | None) -> str:
    if stats is None:
        return "n/a"
    return f"{stats['median']:.2f} [{stats['min']:.2f}{DASH}{stats['max']:.2f}]"


def table(found: Iterable[Scenario]) -> str:
    """The results as a plain-text table."""
    spread = f"median [min{DASH}max] s"
    header = (
        "",
        "scenario",
        f"ours {spread}",
        f"theirs {spread}",
        "ratio",
        "target",
        "met?",
    )
    rows = [header]
    for scenario in found:
        ratio, met = scenario.ratio(), scenario.met()
        theirs = _cell(scenario.theirs.stats())
        if scenario.unavailable:
            theirs = "n/a (see below)"
        elif scenario.theirs.error:
            theirs = "failed (see below)"
        ours = (
            "failed (see below)"
            if scenario.ours.error
            else _cell(scenario.ours.stats())
        )
        rows.append(
            (
                scenario.key,
                scenario.title,
                ours,
                theirs,
                "n/a" if ratio is None else f"{ratio:.2f}",
                DASH if scenario.target is None else f"{AT_MOST} {scenario.target:g}",
                DASH if met is None else ("yes" if met else "NO"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def details(found: Iterable[Scenario], bench: Bench) -> str:
    """What each side ran, and anything that went wrong."""
    lines = ["", "sides:"]
    seen: set[int] = set()
    problems: list[str] = []
    for scenario in found:
        for which, side in (("ours", scenario.ours), ("theirs", scenario.theirs)):
            if id(side) in seen:
                continue
            seen.add(id(side))
            lines.append(f"  {scenario.key} {which}: {side.label}")
            lines.extend(
                f"      $ {step.shell()}"
                if isinstance(step, Command)
                else f"      $ rm -rf {step.path}"
                for step in side.steps
            )
            if side.error:
                problems.append(f"{scenario.key} {which} failed: {side.error}")
            problems.extend(f"{scenario.key} {which}: {w}" for w in side.warnings)
        if scenario.unavailable:
            problems.append(f"{scenario.key} theirs n/a: {scenario.unavailable}")
    lines += ["", "lower env of each tool (declared floors installed?):"]
    for name, versions in bench.lower_check.items():
        missed = floors_missed(versions)
        state = "all floors" if not missed else "FALSE GREEN: " + ", ".join(missed)
        pytest_version = versions.get("pytest", "?")
        lines.append(f"  {name}: {state} (pytest {pytest_version})")
    if problems:
        lines += ["", "problems:"]
        lines += [textwrap.indent(p, "  ") for p in problems]
    return "\n".join(lines)


# -- entry point ----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="Repetitions of each scenario (default: 5)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="Rounds run first and thrown away (default: 1)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="Also write every sample and the summary as JSON",
    )
    parser.add_argument(
        "--dev-venv",
        type=Path,
        default=DEV_VENV,
        help="Venv whose uv runs the other tools and whose versions the plugin's "
        "venv is pinned to (default: the repo's .venv)",
    )
    parser.add_argument(
        "--plugin-venv",
        type=Path,
        help="Run pytest --depbounds from this existing venv (e.g. .venv) instead "
        "of a fresh one holding only the plugin and its dependencies",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep the temporary folder and print its path",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if any command failed."""
    args = parse_args(argv)
    started = time.monotonic()

    def log(message: str) -> None:
        print(
            f"[{time.monotonic() - started:6.1f} s] {message}",
            file=sys.stderr,
            flush=True,
        )

    dev_python = args.dev_venv.absolute() / "bin" / "python"
    uv = args.dev_venv.absolute() / "bin" / "uv"
    plugin_python = (
        args.plugin_venv.absolute() / "bin" / "python" if args.plugin_venv else None
    )
    for needed in (dev_python, uv, *([plugin_python] if plugin_python else [])):
        if not needed.exists():
            print(f"missing {needed}: no such venv", file=sys.stderr)
            return 2
    env = child_environ()
    base_python = run(
        Command((str(dev_python), "-c", BASE_PYTHON_SNIPPET), REPO), env
    ).strip()
    root = Path(tempfile.mkdtemp(prefix="depbounds-bench-"))
    bench = Bench(
        root=root,
        env=env,
        dev_python=dev_python,
        uv=uv,
        base_python=base_python,
        log=log,
        plugin_python=plugin_python,
    )
    try:
        bench.versions["uv"] = run(bench.uv_cmd("--version"), env).strip()
        log(f"working in {root}")
        try:
            setup(bench)
        except BenchmarkError as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 1
        found = scenarios(bench)
        measure(bench, found, args.repeat, args.warmup)
        info = machine(bench)
        print()
        tools = ", ".join(f"{k}: {v}" for k, v in bench.versions.items())
        print(f"pytest-depbounds benchmarks, {info['date']}")
        print(
            f"machine: nproc {info['nproc']}, {info['python']}, {info['platform']}, "
            f"PYTHONDONTWRITEBYTECODE={info['PYTHONDONTWRITEBYTECODE'] or ''}"
        )
        print(f"tools: {tools}")
        print(
            f"repeat {args.repeat} (+{args.warmup} warm-up round thrown away), "
            f"commit {info['commit']}"
        )
        print("ratio = ours median / theirs median: below 1, ours is faster")
        print()
        print(table(found))
        print(details(found, bench))
        print(f"\ntotal {time.monotonic() - started:.0f} s")
        if args.json:
            data = {
                "machine": info,
                "repeat": args.repeat,
                "warmup": args.warmup,
                "project": {
                    "dependencies": [f"{n}>={f}" for n, f in DEPENDENCIES],
                    "tests": TEST_COUNT,
                },
                "scenarios": [s.as_json() for s in found],
                "lower_envs": {
                    name: {"versions": v, "floors_missed": floors_missed(v)}
                    for name, v in bench.lower_check.items()
                },
                "total_seconds": round(time.monotonic() - started, 1),
            }
            args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        failed = any(s.ours.error or s.theirs.error for s in found)
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
