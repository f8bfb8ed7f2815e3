"""Bounds computed against a local index: floors, findings, strategies, constraints.

These call the resolution functions directly (uv resolves, no env is built).
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.errors import ConfigurationError, ResolutionError
from pytest_depbounds.index import Index
from pytest_depbounds.installer import IndexSettings, Installer
from pytest_depbounds.interpreters import current, find, target
from pytest_depbounds.resolution import (
    ConstraintsFile,
    ResolveRequest,
    downloaded_constraints,
    local_constraints,
    resolve,
)
from pytest_depbounds.testing import (
    WHEEL_FAILING_BACKEND,
    write_project,
    write_sdist,
    write_wheel,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_depbounds.resolution import Pins

INTERPRETER = current()
#: How findings name this interpreter, e.g. ``CPython 3.11``.
LABEL = target(INTERPRETER).label
#: Its most specific interpreter tag, e.g. ``cp311``.
TAG = target(INTERPRETER).tags[0].split("-")[0]


def _request(*requirements: str, **kwargs: object) -> ResolveRequest:
    fields: dict[str, object] = {
        "bound": "lower",
        "resolution": "lowest-direct",
        "interpreter": INTERPRETER,
        "under_test": requirements,
        "tooling": (),
        "locations": tuple(
            f"pyproject.toml:{n}" for n in range(7, 7 + len(requirements))
        ),
        "floors": True,
    }
    fields.update(kwargs)
    return ResolveRequest(**fields)  # type: ignore[arg-type]


class _Resolver:
    def __init__(
        self, settings: IndexSettings, workdir: Path, installer: str = "uv"
    ) -> None:
        self.installer = Installer.select(installer, settings)
        self.index = Index(settings, environ={}, cache_dir=workdir / "index")
        self.workdir = workdir
        self.logged: list[str] = []

    def __call__(self, request: ResolveRequest, **kwargs: object) -> Pins:
        options: dict[str, object] = {
            "workdir": self.workdir / "resolutions",
            "max_age": None,
            "rebuild": False,
            "log": self.logged.append,
            "index": self.index,
        }
        options.update(kwargs)
        return resolve(request, self.installer, **options)  # type: ignore[arg-type]


#: Tests of what both installers do: uv resolves the lowest consistent floors
#: itself, our code finds them for pip.
BOTH = pytest.mark.parametrize("installer", ["uv", "pip"], indirect=True)


@pytest.fixture
def installer(request: pytest.FixtureRequest) -> str:
    """The installer a test runs with: uv unless parametrised with :data:`BOTH`."""
    return getattr(request, "param", "uv")


@pytest.fixture
def local(floors_index: Path, tmp_path: Path, installer: str) -> _Resolver:
    return _Resolver(
        IndexSettings(no_index=True, find_links=(str(floors_index),)),
        tmp_path,
        installer,
    )


@pytest.fixture
def served(http_index: str, tmp_path: Path, installer: str) -> _Resolver:
    return _Resolver(IndexSettings(index_url=http_index), tmp_path, installer)


@BOTH
def test_the_lowest_installable_floor_is_pinned_and_explained(
    served: _Resolver,
) -> None:
    pins = served(_request("oldlib>=1.0"))
    assert pins.versions == {"oldlib": "1.4"}
    (note,) = pins.notes
    assert note.kind == "floor-not-installable"
    assert note.message == (
        f"declared `oldlib>=1.0`, but the lowest that installs on {LABEL} is 1.4 "
        f"(1.0: no wheel for {TAG}, sdist build failed: RuntimeError: cannot "
        "compile _speedups.c: Cython 3 is not supported; 1.1: no wheel for "
        f"{TAG} (only cp27-cp27m-win32); 1.2: requires Python >=3.99; 1.3: yanked "
        "(broken import))"
    )
    assert note.fix == "oldlib>=1.4"
    assert note.location == "pyproject.toml:7"
    assert note.fails is False
    assert "oldlib==1.0 does not build: trying the next version" in served.logged


def test_a_long_run_of_floors_that_do_not_build_is_searched(
    local: _Resolver,
) -> None:
    # 14 unbuildable sdists in a row: stepping one version per resolution gave
    # up after 8; jumping and bisecting finds 1.14 in a few resolutions.
    pins = local(_request("manylib"))
    assert pins.versions == {"manylib": "1.14"}
    (note,) = pins.notes
    assert note.kind == "floor-not-installable"
    assert note.message == (
        f"declared `manylib`, but the lowest that installs on {LABEL} is 1.14 "
        f"(1.0\u20131.13: no wheel for {TAG}, sdists do not build (tried 1.0, 1.1, "
        "1.3, 1.7, 1.11, ...: RuntimeError: cannot compile _speedups.c: Cython 3 "
        "is not supported))"
    )
    assert note.fix == "manylib>=1.14"
    assert pins.from_source == ("manylib 1.14",)
    assert [line for line in local.logged if line.startswith("manylib==")] == [
        "manylib==1.0 does not build: trying the next version",
        "manylib==1.1 does not build: trying 1.3",
        "manylib==1.3 does not build: trying 1.7",
        "manylib==1.7 does not build: trying 1.15",
        "manylib==1.15 builds: trying 1.11 (between 1.7 and 1.15)",
        "manylib==1.11 does not build: trying 1.13",
        "manylib==1.13 does not build: trying the next version",
    ]


def test_giving_up_on_floors_that_do_not_build_names_them(
    local: _Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        import_module("pytest_depbounds.resolution"), "MAX_RESOLUTIONS", 2
    )
    with pytest.raises(ResolutionError) as raised:
        local(_request("manylib"))
    assert str(raised.value) == (
        "lower bound: gave up after 2 resolutions with floors that failed to build "
        "or did not install together (manylib 1.0\u20131.1: no wheel for "
        f"{TAG}, sdist build failed: RuntimeError: cannot compile _speedups.c: "
        "Cython 3 is not supported): declare a higher minimum"
    )


def test_versions_without_a_usable_file_are_skipped(local: _Resolver) -> None:
    pins = local(_request("oldlib>=1.1"))
    assert pins.versions == {"oldlib": "1.3"}
    (note,) = pins.notes
    assert note.message == (
        f"declared `oldlib>=1.1`, but the lowest that installs on {LABEL} is 1.3 "
        f"(1.1: no wheel for {TAG} (only cp27-cp27m-win32); 1.2: requires Python "
        ">=3.99)"
    )


def test_an_exact_pin_admits_a_yanked_release(served: _Resolver) -> None:
    pins = served(_request("oldlib==1.3"))
    assert pins.versions == {"oldlib": "1.3"}
    assert pins.notes == ()


def test_a_range_with_no_installable_version_says_why(served: _Resolver) -> None:
    with pytest.raises(ResolutionError) as raised:
        served(_request("oldlib>=1.1,<1.4"))
    assert str(raised.value) == (
        "lower bound: no version of oldlib that `oldlib<1.4,>=1.1` admits installs "
        f"on {LABEL} (1.1: no wheel for {TAG} (only cp27-cp27m-win32); 1.2: "
        "requires Python >=3.99; "
        "1.3: yanked (broken import))"
    )


@pytest.mark.parametrize(
    ("installer", "metadata"),
    [("uv", "index"), ("pip", "index"), ("pip", "pip")],
    indirect=["installer"],
)
def test_floors_that_conflict_resolve_to_the_lowest_consistent_set(
    local: _Resolver, metadata: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if metadata == "pip":
        # Metadata the index cannot give (an sdist's): pip's report gives it.
        monkeypatch.setattr(Index, "requires", lambda *_: None)
    pins = local(_request("alib>=1.0", "blib>=1.0"))
    assert pins.versions == {"alib": "1.0", "blib": "2.0"}
    (note,) = pins.notes
    assert note.kind == "floor-moved"
    assert note.message == (
        "`alib==1.0` (your minimum) requires `blib>=2.0`, but you declare "
        "`blib>=1.0`: the effective minimum of blib is 2.0"
    )
    assert note.fix == "blib>=2.0"
    assert note.location == "pyproject.toml:8"
    if local.installer.name == "pip":
        assert (
            "blib==1.0 does not install with the other floors: trying 2.0"
            in local.logged
        )


@BOTH
def test_a_floor_moved_by_a_transitive_dependency_names_it(local: _Resolver) -> None:
    pins = local(_request("outerlib>=1.0", "blib>=1.0"))
    assert pins.versions == {"outerlib": "1.0", "innerlib": "1.0", "blib": "2.1"}
    (note,) = pins.notes
    assert (note.kind, note.message, note.fix) == (
        "floor-moved",
        (
            "`innerlib==1.0` requires `blib>=2.1`, but you declare `blib>=1.0`: "
            "the effective minimum of blib is 2.1"
        ),
        "blib>=2.1",
    )


def test_lowest_direct_keeps_transitive_dependencies_at_their_newest(
    local: _Resolver,
) -> None:
    assert local(_request("topx>=1.0")).versions == {"topx": "1.0", "basex": "3.0"}


def test_lowest_lowers_transitive_dependencies_too(local: _Resolver) -> None:
    pins = local(_request("topx>=1.0", resolution="lowest"))
    assert pins.versions == {"topx": "1.0", "basex": "1.0"}


def test_the_upper_bound_takes_the_newest(local: _Resolver) -> None:
    pins = local(
        _request("oldlib>=1.0", "alib>=1.0", bound="upper", resolution="highest")
    )
    assert pins.versions == {"oldlib": "2.0", "alib": "1.5", "blib": "2.1"}
    assert pins.notes == ()


def _constraints(tmp_path: Path, text: str, name: str = "c.txt") -> ConstraintsFile:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return local_constraints(str(path), "lower")


def test_a_lower_constraints_file_replaces_the_computation(
    local: _Resolver, tmp_path: Path
) -> None:
    constraints = _constraints(
        tmp_path, "# frozen\noldlib==2.0\nblib==2.1\n", "lower-constraints.txt"
    )
    request = _request(
        "oldlib>=1.0", "blib>=1.0", constraints_files=(constraints,), floors=False
    )
    pins = local(request)
    assert pins.versions == {"oldlib": "2.0", "blib": "2.1"}
    assert pins.notes == ()


def test_a_contradicting_constraint_is_named_with_both_places(
    local: _Resolver, tmp_path: Path
) -> None:
    constraints = _constraints(tmp_path, "blib==1.0\n", "upper-constraints.txt")
    request = _request(
        "alib>=1.0",
        "blib>=2.0",
        bound="upper",
        resolution="highest",
        constraints_files=(constraints,),
        floors=False,
    )
    with pytest.raises(ResolutionError) as raised:
        local(request)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "upper bound: uv could not resolve the dependencies (alib>=1.0, blib>=2.0) "
        f"for {INTERPRETER.label} from "
    )
    # What we know comes first, then the resolver's own reason.
    assert (
        ": `blib==1.0` (upper-constraints.txt:1) contradicts the declared "
        "`blib>=2.0` (pyproject.toml:8); "
    ) in message
    assert message.endswith(".log)")


def test_a_satisfiable_contradiction_is_a_note(
    local: _Resolver, tmp_path: Path
) -> None:
    # The project's own -c pins blib outside its range, but nothing installs
    # blib: the note stays, the resolution succeeds.
    request = _request(
        "oldlib>=1.4",
        "blib>=2.0; python_version<'3'",
        declared_constraints=(("blib==1.0", "requirements.txt:3"),),
        locations=("requirements.txt:1", "requirements.txt:2"),
    )
    pins = local(request)
    (note,) = pins.notes
    assert note.kind == "constraint-contradicts"
    assert note.message == (
        "`blib==1.0` (requirements.txt:3) contradicts the declared "
        '`blib>=2.0; python_version < "3"` (requirements.txt:2)'
    )
    assert note.location == "requirements.txt:2"


def test_the_cache_key_includes_the_constraints_content(
    local: _Resolver, tmp_path: Path
) -> None:
    path = tmp_path / "c.txt"
    path.write_text("blib==2.0\n", encoding="utf-8")
    request = _request(
        "blib>=1.0",
        constraints_files=(local_constraints(str(path), "lower"),),
        floors=False,
    )
    assert local(request).versions == {"blib": "2.0"}
    path.write_text("blib==2.1\n", encoding="utf-8")
    request = _request(
        "blib>=1.0",
        constraints_files=(local_constraints(str(path), "lower"),),
        floors=False,
    )
    pins = local(request)
    assert (pins.versions, pins.reused) == ({"blib": "2.1"}, False)
    assert local(request).reused


def test_a_missing_constraints_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"--depbounds-lower-constraints=.*nope.txt: No such file",
    ):
        local_constraints(str(tmp_path / "nope.txt"), "lower")


def test_upper_constraints_from_a_url_are_downloaded_once(
    http_index: str, tmp_path: Path
) -> None:
    index = Index(IndexSettings(), environ={})
    url = http_index + "blib/"
    first = downloaded_constraints(url, index, tmp_path, max_age=3600, offline=False)
    assert "blib-2.1-py3-none-any.whl" in first.content
    assert first.label == url
    # Offline, the copy is used; no copy at all is an error.
    again = downloaded_constraints(url, index, tmp_path, max_age=0, offline=True)
    assert again.path == first.path
    with pytest.raises(ResolutionError, match="not downloaded yet"):
        downloaded_constraints(
            "http://127.0.0.1:9/c.txt", index, tmp_path, max_age=0, offline=True
        )


@pytest.mark.slow
@BOTH
def test_a_floor_that_fails_to_install_is_stepped_over_in_the_env(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    floors_index: Path,
    tooling_wheels: Path,
    installer: str,
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{floors_index} {tooling_wheels}")
    write_project(
        pytester.path,
        "stepproj",
        dependencies=["staticlib>=1.0", "alib>=1.0", "blib>=1.0"],
        tests={"test_ok.py": "import staticlib\n\ndef test_ok():\n    pass\n"},
    )
    args = ("--depbounds=lower", "--depbounds-report=r.json", "-p", "no:randomly")
    args += (f"--depbounds-installer={installer}",)
    result = pytester.runpytest_subprocess(*args, "--depbounds-strict-lower")
    # The resolver read staticlib 1.0's metadata; only installing it showed that
    # its wheel does not build.
    steps = ["[[]lower[]] pins: alib==1.0 blib==2.0 staticlib==1.0;*"]
    if installer == "pip":
        # pip pins each floor: our code raised blib for alib.
        steps.insert(
            0,
            "[[]lower[]] blib==1.0 does not install with the other floors: trying 2.0",
        )
    result.stdout.fnmatch_lines(
        [
            *steps,
            "[[]lower[]] staticlib==1.0 does not build: trying 1.1",
            "[[]lower[]] pins: alib==1.0 blib==2.0 staticlib==1.1;*",
            "lower  failed     1 passed*",
            "findings:",
            "[[]lower[]] declared `staticlib>=1.0`, but the lowest that installs on*",
            "[[]lower[]] `alib==1.0` (your minimum) requires `blib>=2.0`, but you*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Building from an sdist can take minutes (numpy): the step says so.
    assert "; building staticlib 1.0 from source (no wheel for" in " ".join(
        result.stdout.str().split()
    )
    (lower,) = json.loads((pytester.path / "r.json").read_text())["bounds"]
    assert lower["interpreter"] == INTERPRETER.label
    assert lower["direct"] == {"staticlib": "1.1", "alib": "1.0", "blib": "2.0"}
    assert [
        (n["kind"], n["message"], n["location"], n["fix"], n["fails"])
        for n in lower["notes"]
    ] == [
        (
            "floor-not-installable",
            (
                f"declared `staticlib>=1.0`, but the lowest that installs on {LABEL} "
                "is 1.1 (1.0: sdist build failed: RuntimeError: cannot compile "
                "_speedups.c: Cython 3 is not supported)"
            ),
            "pyproject.toml:9",
            "staticlib>=1.1",
            True,
        ),
        (
            "floor-moved",
            (
                "`alib==1.0` (your minimum) requires `blib>=2.0`, but you declare "
                "`blib>=1.0`: the effective minimum of blib is 2.0"
            ),
            "pyproject.toml:9",
            "blib>=2.0",
            False,
        ),
    ]
    assert lower["counts"]["passed"] == 1
    # The next run starts from the pins that installed: no failing build again.
    again = pytester.runpytest_subprocess(*args)
    again.stdout.fnmatch_lines(
        ["[[]lower[]] pins, cached resolution: alib==1.0 blib==2.0 staticlib==1.1;*"]
    )
    again.stdout.no_fnmatch_line("*does not build*")
    assert again.ret == pytest.ExitCode.OK


def test_the_pip_fallback_pins_the_same_floors(
    floors_index: Path, tmp_path: Path
) -> None:
    settings = IndexSettings(no_index=True, find_links=(str(floors_index),))
    resolver = _Resolver(settings, tmp_path)
    resolver.installer = Installer.select("pip", settings)
    pins = resolver(_request("oldlib>=1.1", "topx>=1.0"))
    assert pins.versions == {"oldlib": "1.3", "topx": "1.0", "basex": "3.0"}
    assert [note.kind for note in pins.notes] == ["floor-not-installable"]
    with pytest.raises(ResolutionError, match="pip cannot pin the floor of `nolib>=1`"):
        resolver(_request("nolib>=1"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--depbounds-installer=pip", "--depbounds-strategy=lowest"],
            "--depbounds-strategy=lowest needs uv*",
        ),
        (["--depbounds-python=middle=3.10"], "--depbounds-python=middle=3.10: use *"),
        (
            ["--depbounds-lower-constraints=missing.txt"],
            "--depbounds-lower-constraints=*missing.txt: No such file*",
        ),
    ],
)
def test_option_errors_end_the_run_with_one_line(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    write_project(pytester.path, "optproj", dependencies=["blib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", *args)
    result.stdout.fnmatch_lines([f"ERROR: {message}"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@BOTH
def test_a_floor_moved_by_a_constraint_names_it(local: _Resolver) -> None:
    pins = local(
        _request("blib>=1.0", declared_constraints=(("blib>=2.1", "reqs.txt:4"),))
    )
    assert pins.versions == {"blib": "2.1"}
    (note,) = pins.notes
    assert (note.kind, note.message, note.fix) == (
        "floor-moved",
        (
            "the constraint `blib>=2.1` (reqs.txt:4) excludes 1.0, but you declare "
            "`blib>=1.0`: the effective minimum of blib is 2.1"
        ),
        "blib>=2.1",
    )


def test_a_range_no_release_satisfies_names_what_exists(local: _Resolver) -> None:
    with pytest.raises(ResolutionError) as raised:
        local(_request("blib>=9"))
    assert str(raised.value) == (
        f"lower bound: no version of blib that `blib>=9` admits installs on {LABEL} "
        "(the index has 1.0, 2.0, 2.1)"
    )


@pytest.mark.slow
def test_each_bound_has_its_interpreter_and_its_floors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    floors_index: Path,
    tooling_wheels: Path,
) -> None:
    try:
        other = find("3.12")
    except ConfigurationError:
        pytest.skip("no CPython 3.12 on this machine")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{floors_index} {tooling_wheels}")
    write_project(
        pytester.path,
        "pyproj",
        dependencies=["pyfloor>=1.0"],
        tests={"test_ok.py": "import pyfloor\n\ndef test_ok():\n    pass\n"},
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-python=lower=3.12", "--depbounds-report=r.json"
    )
    assert result.ret == pytest.ExitCode.OK
    lower, upper = json.loads((pytester.path / "r.json").read_text())["bounds"]
    # The lower env runs 3.12, where pyfloor 1.0 does not install; the upper one
    # runs the interpreter running pytest.
    assert (lower["interpreter"], upper["interpreter"]) == (
        other.label,
        INTERPRETER.label,
    )
    assert lower["direct"] == {"pyfloor": "1.1"}
    expected = (
        "declared `pyfloor>=1.0`, but the lowest that installs on CPython 3.12 is "
        "1.1 (1.0: requires Python <3.12)"
    )
    assert [n["message"] for n in lower["notes"]] == [expected]


def test_an_unknown_strategy_in_the_ini_file_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    write_project(
        pytester.path,
        "iniproj",
        extra_pyproject='[tool.pytest.ini_options]\ndepbounds_strategy = "newest"\n',
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stderr.fnmatch_lines(
        ["ERROR: --depbounds-strategy: 'newest' is not one of lowest-direct, lowest"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.slow
def test_constraints_files_pin_each_bound(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    floors_index: Path,
    tooling_wheels: Path,
    http_index: str,
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{floors_index} {tooling_wheels}")
    write_project(
        pytester.path,
        "cproj",
        dependencies=["blib>=1.0"],
        tests={"test_ok.py": "import blib\n\ndef test_ok():\n    pass\n"},
    )
    (pytester.path / "lower-constraints.txt").write_text("blib==2.0\n")
    url = http_index.replace("simple/", "upper-constraints.txt")
    result = pytester.runpytest_subprocess(
        "--depbounds",
        "--depbounds-lower-constraints=lower-constraints.txt",
        f"--depbounds-upper-constraints={url}",
        "--depbounds-report=r.json",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] resolving (lowest-direct within lower-constraints.txt, *",
            f"[[]upper[]] resolving (highest within {url}*",
        ]
    )
    bounds = json.loads((pytester.path / "r.json").read_text())["bounds"]
    # Without the files: blib 1.0 and 2.1.
    assert [b["direct"] for b in bounds] == [{"blib": "2.0"}, {"blib": "2.0"}]
    assert [b["notes"] for b in bounds] == [[], []]


@pytest.mark.slow
def test_giving_up_on_floors_that_do_not_install_names_them(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tooling_wheels: Path,
) -> None:
    # Sdists whose metadata builds but whose wheels do not (numpy 1.21 and
    # 1.22 on Python 3.11): only installing shows it; past MAX_STEPS the run
    # ended with the last build's error alone.
    links = tmp_path / "links"
    for minor in range(3):
        write_sdist(links, "slowlib", f"1.{minor}", "", backend=WHEEL_FAILING_BACKEND)
    write_wheel(links, "slowlib", "2.0", {"slowlib/__init__.py": ""})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{links} {tooling_wheels}")
    write_project(
        pytester.path,
        "slowproj",
        dependencies=["slowlib>=1.0"],
        tests={"test_ok.py": "def test_ok():\n    pass\n"},
    )
    pytester.makeconftest("")
    # The module the run imports: an earlier in-process run may have left a
    # stale `pytest_depbounds.session` attribute that a dotted path would patch.
    monkeypatch.setattr(import_module("pytest_depbounds.session"), "MAX_STEPS", 2)
    result = pytester.runpytest_inprocess("--depbounds=lower", "-p", "no:randomly")
    assert result.ret == 6
    # No finding calls 1.2 the lowest that installs: it does not either.
    result.stdout.no_fnmatch_line("*write slowlib>=1.2*")
    result.stdout.fnmatch_lines(
        [
            (
                "*lower bound: gave up after 3 floors of slowlib that do not build "
                "(1.0, 1.1, 1.2); declare a higher minimum. The last: *"
            )
        ]
    )


@pytest.mark.slow
def test_floors_that_do_not_install_are_jumped_over_then_bisected(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tooling_wheels: Path,
) -> None:
    # orjson 3.0-3.7 on Python 3.11: dozens of sdists whose metadata reads but
    # whose wheels do not build. Stepping one version per build gave up after
    # MAX_STEPS; the search jumps ahead, then bisects back to the true floor.
    links = tmp_path / "links"
    for minor in range(11):
        write_sdist(links, "slowlib", f"1.{minor}", "", backend=WHEEL_FAILING_BACKEND)
    for minor in range(11, 21):
        write_wheel(links, "slowlib", f"1.{minor}", {"slowlib/__init__.py": ""})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{links} {tooling_wheels}")
    write_project(
        pytester.path,
        "slowproj",
        dependencies=["slowlib>=1.0"],
        tests={"test_ok.py": "def test_ok():\n    pass\n"},
    )
    pytester.makeconftest("")
    result = pytester.runpytest_inprocess("--depbounds=lower", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] slowlib==1.0 does not build: trying 1.1",
            "[[]lower[]] slowlib==1.1 does not build: trying 1.3",
            "[[]lower[]] slowlib==1.3 does not build: trying 1.7",
            "[[]lower[]] slowlib==1.7 does not build: trying 1.15",
            "[[]lower[]] slowlib==1.15 builds: trying 1.11 (between 1.7 and 1.15)",
            "[[]lower[]] slowlib==1.11 builds: trying 1.9 (between 1.7 and 1.11)",
            "[[]lower[]] slowlib==1.9 does not build: trying 1.10",
            # Back to the env that built: kept, not built (nor locked) again.
            "[[]lower[]] slowlib==1.10 does not build: trying 1.11",
            "lower*passed*1 passed*",
            "*declared `slowlib>=1.0`, but the lowest that installs on*",
            "*1.11 (1.0?1.10: no wheel for *, sdists do not build (tried 1.0,*",
        ]
    )
    # Six builds failed (1.0, 1.1, 1.3, 1.7, 1.9, 1.10), not eleven.
    assert result.stdout.str().count("does not build") == 6
    assert result.ret == pytest.ExitCode.OK
