"""The requirement to write, and ``--depbounds-fix`` rewriting floors in place."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_depbounds.attribution import Culprit, Finding
from pytest_depbounds.declared import read_declaration
from pytest_depbounds.fix import apply_fixes, raise_floor, suggest, target_of
from pytest_depbounds.results import BoundResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize(
    ("raw", "version", "expected"),
    [
        ("fakelib>=1.0", "1.4", "fakelib>=1.4"),
        ("fakelib", "1.4", "fakelib>=1.4"),
        ("fakelib<3", "1.4", "fakelib>=1.4,<3"),
        (
            "fakelib >= 1.0, <3 ; python_version>'3'",
            "1.6",
            "fakelib >= 1.6, <3 ; python_version>'3'",
        ),
        ("fakelib[extra]>1.0", "2.0", "fakelib[extra]>=2.0"),
        ("fakelib>=1.0,!=1.2", "1.4", "fakelib>=1.4,!=1.2"),
        ("fakelib;python_version>'3'", "1.4", "fakelib>=1.4;python_version>'3'"),
        # ``~=`` keeps the cap it implies.
        ("fakelib~=1.0", "1.4", "fakelib~=1.4"),
        ("fakelib~=1.0", "1.4.2", "fakelib>=1.4.2,==1.*"),
        # Nothing to raise: an exact pin, a floor already there, an empty range.
        ("fakelib==1.0", "1.4", None),
        ("fakelib>=2", "1.4", None),
        ("fakelib<1.2", "1.4", None),
        ("fakelib @ https://example.org/f.whl", "1.4", None),
    ],
)
def test_raise_floor_changes_only_the_floor(
    raw: str, version: str, expected: str | None
) -> None:
    assert raise_floor(raw, version) == expected


PYPROJECT = """\
# A project with every kind of requirement array.
[build-system]
requires = ["hatchling"]   # not a dependency under test

[project]
name = "myproj"
version = "0.1.0"
dependencies = [
    # core libraries
    "fakelib>=1.0",  # the one that grew new_api in 1.4
    'kwlib >= 1.0, < 3',
    "stablelib~=1.0",
    "pinned==1.0",
]

[project.optional-dependencies]
yaml = ["fakelib[speedups] >=1.0 ; python_version >= '3.8'"]

[dependency-groups]
test = [ "pytest>=7", { include-group = "lint" } ]
lint = ["kwlib"]

[tool.other]
fakelib = ">=1.0"   # not a requirement array: untouched
"""


def test_pyproject_round_trips_byte_for_byte_except_the_floors(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(PYPROJECT.encode())
    declaration = read_declaration(tmp_path, extras=["yaml"], groups=["test"])
    result = apply_fixes(
        declaration, {"fakelib": "1.4", "KWLib": "1.2", "pinned": "2.0", "ghost": "1.0"}
    )
    after = path.read_bytes().decode()
    assert after == (
        PYPROJECT.replace('"fakelib>=1.0"', '"fakelib>=1.4"')
        .replace("'kwlib >= 1.0, < 3'", "'kwlib >= 1.2, < 3'")
        .replace("fakelib[speedups] >=1.0", "fakelib[speedups] >=1.4")
        .replace('lint = ["kwlib"]', 'lint = ["kwlib>=1.2"]')
    )
    assert {(e.old, e.new) for e in result.edits} == {
        ("fakelib>=1.0", "fakelib>=1.4"),
        ("kwlib >= 1.0, < 3", "kwlib >= 1.2, < 3"),
        (
            "fakelib[speedups] >=1.0 ; python_version >= '3.8'",
            "fakelib[speedups] >=1.4 ; python_version >= '3.8'",
        ),
        ("kwlib", "kwlib>=1.2"),
    }
    assert result.skipped == ("ghost: not declared in a file",)
    assert result.diff.startswith("--- a/pyproject.toml\n+++ b/pyproject.toml\n")
    assert '-    "fakelib>=1.0",  # the one that grew new_api in 1.4\n' in result.diff
    assert '+    "fakelib>=1.4",  # the one that grew new_api in 1.4\n' in result.diff
    # Still valid TOML, with the same structure.
    before, changed = tomllib.loads(PYPROJECT), tomllib.loads(after)
    assert before["tool"] == changed["tool"]
    assert changed["project"]["dependencies"][2:] == ["stablelib~=1.0", "pinned==1.0"]


def test_nothing_is_written_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT, encoding="utf-8")
    declaration = read_declaration(tmp_path, extras=[], groups=[])
    result = apply_fixes(declaration, {"fakelib": "1.4"}, write=False)
    assert path.read_text(encoding="utf-8") == PYPROJECT
    assert '+    "fakelib>=1.4"' in result.diff
    # A floor already high enough changes nothing at all.
    assert apply_fixes(declaration, {"fakelib": "0.9"}).diff == ""
    assert path.read_text(encoding="utf-8") == PYPROJECT


REQUIREMENTS = """\
# runtime requirements
--index-url https://example.org/simple
fakelib>=1.0  # grew new_api in 1.4
kwlib >= 1.0 \\
    ; python_version >= "3.8"
  stablelib>=1.0\t# tab before the comment
-r other.txt
"""


def test_requirements_file_is_edited_line_by_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "myproj"\nversion = "1"\n', encoding="utf-8"
    )
    (tmp_path / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
    (tmp_path / "other.txt").write_text("fakelib<3  # a cap\n", encoding="utf-8")
    declaration = read_declaration(
        tmp_path,
        extras=[],
        groups=[],
        requirements_files=[tmp_path / "requirements.txt"],
    )
    assert {r.location for r in declaration.requirements} >= {"requirements.txt:3"}
    result = apply_fixes(declaration, {"fakelib": "1.4", "kwlib": "1.2"})
    assert (tmp_path / "requirements.txt").read_text(encoding="utf-8") == (
        REQUIREMENTS.replace("fakelib>=1.0", "fakelib>=1.4").replace(
            "kwlib >= 1.0", "kwlib >= 1.2"
        )
    )
    assert (tmp_path / "other.txt").read_text(encoding="utf-8") == (
        "fakelib>=1.4,<3  # a cap\n"
    )
    assert sorted((e.path.name, e.line, e.new) for e in result.edits) == [
        ("other.txt", 1, "fakelib>=1.4,<3"),
        ("requirements.txt", 3, "fakelib>=1.4"),
        ("requirements.txt", 4, 'kwlib >= 1.2     ; python_version >= "3.8"'),
    ]
    assert "+++ b/requirements.txt" in result.diff
    assert "+++ b/other.txt" in result.diff


REQUIREMENTS_CONTINUED = """\
Foo_Bar \\
    >=1.0
baz[qux]>=1.0 --hash=sha256:abc123  # hashed
lit \\
  [x] \\
  >= 1.0 ; python_version>="3.9"  # extras, marker, comment
plain \\
    ; python_version >= "3.8"
"""


def test_requirements_file_specifier_on_a_continuation_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "myproj"\nversion = "1"\n', encoding="utf-8"
    )
    path = tmp_path / "requirements.txt"
    path.write_bytes(REQUIREMENTS_CONTINUED.encode())
    declaration = read_declaration(
        tmp_path, extras=[], groups=[], requirements_files=[path]
    )
    floors = {"foo-bar": "1.4", "BAZ": "1.4", "lit": "1.4", "plain": "2"}
    result = apply_fixes(declaration, floors)
    assert path.read_bytes().decode() == (
        "Foo_Bar \\\n"
        "    >=1.4\n"
        "baz[qux]>=1.4 --hash=sha256:abc123  # hashed\n"
        "lit \\\n"
        "  [x] \\\n"
        '  >= 1.4 ; python_version>="3.9"  # extras, marker, comment\n'
        "plain>=2 \\\n"
        '    ; python_version >= "3.8"\n'
    )
    assert sorted((e.line, e.new) for e in result.edits) == [
        (1, "Foo_Bar     >=1.4"),
        (3, "baz[qux]>=1.4"),
        (4, 'lit   [x]   >= 1.4 ; python_version>="3.9"'),
        (7, 'plain>=2     ; python_version >= "3.8"'),
    ]


PYPROJECT_FORMS = r'''[project]
name = "myproj"
version = "0.1.0"
dependencies = [ "Foo_Bar>=1",   # another spelling of foo-bar
    # extras and a marker, quotes escaped
    "baz[qux,  extra2] >=1.0 ; python_version>=\"3.9\"",
    'lit[x]>=1.0; python_version>="3.9"',  # a literal string

    """
tri>=1.0""",
    "esc\u0041pe>=1.0",
    # a comment after the last item
]
'''


def test_pyproject_forms_keep_every_byte_but_the_specifier(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(PYPROJECT_FORMS.encode())
    declaration = read_declaration(tmp_path, extras=[], groups=[])
    floors = {"foo-bar": "1.4", "baz": "1.4", "lit": "1.4", "tri": "1.4", "escape": "2"}
    result = apply_fixes(declaration, floors)
    after = path.read_bytes().decode()
    assert after == (
        PYPROJECT_FORMS.replace('"Foo_Bar>=1"', '"Foo_Bar>=1.4"')
        .replace("extra2] >=1.0", "extra2] >=1.4")
        .replace("lit[x]>=1.0", "lit[x]>=1.4")
        .replace("tri>=1.0", "tri>=1.4")
        .replace("pe>=1.0", "pe>=2")
    )
    assert len(result.edits) == 5
    assert tomllib.loads(after)["project"]["dependencies"] == [
        "Foo_Bar>=1.4",
        'baz[qux,  extra2] >=1.4 ; python_version>="3.9"',
        'lit[x]>=1.4; python_version>="3.9"',
        "tri>=1.4",
        "escApe>=2",
    ]


def _finding(**changes: object) -> Finding:
    values: dict[str, object] = {
        "kind": "missing-attribute",
        "dist": "fakelib",
        "version": "1.0",
        "symbol": "fakelib.new_api",
        "usage": "myproj/client.py:5",
        "relation": "direct",
        "chain": (),
        "detail": "AttributeError: …",
        "headline": "fakelib 1.0: `fakelib.new_api` missing",
    }
    values.update(changes)
    return Finding(**values)  # type: ignore[arg-type]


def _result(
    bound: str, pins: dict[str, str], *findings: Finding, resolution: str = ""
) -> BoundResult:
    return BoundResult(
        bound=bound,
        interpreter="CPython 3.11",
        pins=pins,
        direct=tuple(pins),
        resolution=resolution,
        env_path=None,
        env_reused=False,
        env_seconds=0.0,
        run_seconds=0.0,
        counts={"failed": 1} if findings else {"passed": 1},
        collected=1,
        exitstatus=1 if findings else 0,
        error=None,
        crash=None,
        tests=(),
        findings=tuple(
            Culprit(finding=f, usages=(f.usage or "",), tests=("t::x",), collectors=())
            for f in findings
        ),
    )


def test_suggested_fix_from_the_passing_bound() -> None:
    transitive = _finding(
        dist="baselib",
        version="3.0",
        symbol="baselib.feature",
        relation="transitive",
        chain=("myproj", "toplib 1.0", "baselib 3.0"),
    )
    undeclared = _finding(
        kind="missing-module",
        dist=None,
        version=None,
        symbol="ghostlib.sub",
        relation="undeclared",
    )
    lower, upper = suggest(
        [
            _result(
                "lower",
                {"fakelib": "1.0", "toplib": "1.0", "baselib": "3.0"},
                _finding(),
                transitive,
                undeclared,
            ),
            _result(
                "upper",
                {"fakelib": "2.0", "toplib": "1.1", "baselib": "3.0"},
                _finding(version="2.0", symbol="fakelib.old_api"),
            ),
        ]
    )
    assert target_of(transitive) == "toplib"
    direct, chained, ghost = (c.finding for c in lower.findings)
    # The upper bound blames fakelib too: its version is no proof.
    assert direct.fix is None
    assert chained.fix == "toplib>=1.1"
    assert chained.advice == (
        "write `toplib>=1.1` (the upper bound works with toplib 1.1; "
        "--depbounds-bisect finds the lowest that does)"
    )
    assert ghost.fix is None
    assert ghost.advice == "declare the distribution that provides `ghostlib`"
    (broken,) = (c.finding for c in upper.findings)
    assert broken.fix is None
    assert broken.advice == (
        "breaks with 2.0: prefer fixing the code over a cap; cap (`fakelib<2.0`) "
        "only with a reason, written beside it"
    )
    assert lower.findings[2].summary.endswith(
        "1 test fails; declare the distribution that provides `ghostlib`"
    )


def test_suggested_fix_for_a_lower_gap_and_an_upper_break() -> None:
    lower, upper = suggest(
        [
            _result("lower", {"fakelib": "1.0", "green-io": "0.15.2"}, _finding()),
            _result(
                "upper",
                {"fakelib": "2.0", "green-io": "3.0"},
                _finding(
                    kind="missing-module",
                    dist="green-io",
                    version="3.0",
                    symbol="greenio.util",
                ),
            ),
        ]
    )
    assert lower.findings[0].finding.fix == "fakelib>=2.0"
    assert upper.findings[0].finding.advice == (
        "works with 0.15.2, breaks with 3.0: prefer fixing the code over a cap; "
        "cap (`green-io<3.0`) only with a reason, written beside it"
    )
    # A transitive dist that the passing bound does not move: constrain it.
    (only,) = suggest(
        [
            _result(
                "lower",
                {"toplib": "1.0", "baselib": "3.0"},
                _finding(
                    dist="baselib",
                    version="3.0",
                    relation="transitive",
                    chain=("myproj", "toplib 1.0", "baselib 3.0"),
                ),
            )
        ]
    )
    finding = only.findings[0].finding
    assert finding.fix == "baselib<3.0"
    assert finding.advice == (
        "raise `toplib` to a release that works with baselib 3.0, or constrain "
        "`baselib<3.0` with a reason"
    )


def test_a_transitive_dist_too_old_under_the_lowest_strategy_needs_a_floor() -> None:
    # time-machine 2.14.1 admits any python-dateutil: `lowest` takes 1.4, which
    # does not import on Python 3; a cap `<1.4` would be the wrong way round.
    broken = _finding(
        kind="import-error",
        dist="python-dateutil",
        version="1.4",
        relation="transitive",
        chain=("myproj", "time-machine 2.14.1", "python-dateutil 1.4"),
    )
    lower_pins = {"time-machine": "2.14.1", "python-dateutil": "1.4"}
    (alone,) = suggest([_result("lower", lower_pins, broken, resolution="lowest")])
    assert alone.findings[0].finding.fix == "python-dateutil>1.4"
    assert alone.findings[0].finding.advice == (
        "raise `time-machine` to a release that requires a newer python-dateutil "
        "than 1.4 (the oldest it admits), or declare `python-dateutil>1.4` with a "
        "reason"
    )
    upper_pins = {"time-machine": "2.14.1", "python-dateutil": "2.9.0"}
    lower, _ = suggest(
        [
            _result("lower", lower_pins, broken, resolution="lowest"),
            _result("upper", upper_pins, resolution="highest"),
        ]
    )
    assert lower.findings[0].finding.fix == "python-dateutil>=2.9.0"
