"""The pure choice of floors and ceilings, and the interpreter of each bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pytest_depbounds import interpreters
from pytest_depbounds.bounds import (
    choose_floor,
    describe_skipped,
    exact_pin,
    highest_allowed,
    lowest_allowed,
    raised_requirement,
    resolution_for,
    unusable_reason,
)
from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.index import DistFile
from pytest_depbounds.interpreters import oldest, parse_python_option
from pytest_depbounds.resolution import contradictions, read_constraints

# -- property tests against packaging's SpecifierSet ---------------------------

versions = st.builds(
    lambda major, minor, pre: Version(f"{major}.{minor}{pre}"),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from(["", "", "", "a1", "b2", "rc1", ".dev0", ".post1"]),
)
operators = st.sampled_from(["==", "!=", ">=", "<=", ">", "<", "~="])
single = st.builds(lambda op, v: f"{op}{v}", operators, versions)
specifiers = st.lists(single, max_size=3).map(
    lambda parts: SpecifierSet(",".join(parts))
)


def _admits(specifier: SpecifierSet, version: Version) -> bool:
    return specifier.contains(version, prereleases=True)


@given(st.lists(versions, unique=True), specifiers)
def test_the_lower_pin_is_the_minimum_of_filter(
    candidates: list[Version], specifier: SpecifierSet
) -> None:
    low = lowest_allowed(specifier, candidates)
    high = highest_allowed(specifier, candidates)
    admitted = list(specifier.filter(candidates))
    assert low == min(admitted, default=None)
    assert high == max(admitted, default=None)
    if low is None or high is None:
        assert admitted == []
        # Nothing final is admitted (pre-releases may be, yet not chosen only
        # when finals exist: see below).
        assert not any(
            _admits(specifier, v) and not v.is_prerelease for v in candidates
        )
        return
    assert low in candidates
    assert high in candidates
    assert low <= high
    assert _admits(specifier, low)
    assert _admits(specifier, high)
    # Never outside the set: no admitted candidate lies below the floor or
    # above the ceiling among those filter keeps.
    assert all(v >= low for v in admitted)
    assert all(v <= high for v in admitted)
    # Independently of filter: no final release below the floor or above the
    # ceiling is admitted by the range.
    assert not any(
        _admits(specifier, v) and not v.is_prerelease and not low <= v <= high
        for v in candidates
    )


@given(st.lists(versions, unique=True), specifiers)
def test_prereleases_follow_packaging_rules(
    candidates: list[Version], specifier: SpecifierSet
) -> None:
    low = lowest_allowed(specifier, candidates)
    finals = [v for v in candidates if not v.is_prerelease and _admits(specifier, v)]
    mentions_pre = any(Version(s.version.rstrip(".*")).is_prerelease for s in specifier)
    if finals and not mentions_pre:
        # A pre-release is chosen only when the range asks for one or
        # nothing else matches (PEP 440).
        assert low is not None
        assert not low.is_prerelease
    if low is not None and low.is_prerelease and not mentions_pre:
        assert not finals


@given(
    st.dictionaries(versions, st.sampled_from([None, None, "yanked", "no wheel"])),
    specifiers,
)
def test_a_floor_skips_only_what_does_not_install(
    reasons: dict[Version, str | None], specifier: SpecifierSet
) -> None:
    requirement = Requirement(f"demo{specifier}")
    floor = choose_floor(requirement, reasons)
    installable = [v for v, why in reasons.items() if why is None]
    assert floor.chosen == lowest_allowed(specifier, installable)
    for version, why in floor.skipped:
        assert why == reasons[version]
        assert version in specifier.filter(reasons)
        assert floor.chosen is None or version < floor.chosen


# -- files that install or not --------------------------------------------------

TAGS = ("cp311-cp311-manylinux_2_17_x86_64", "py3-none-any")


def _file(kind: str = "wheel", **kwargs: object) -> DistFile:
    fields: dict[str, object] = {
        "filename": "x",
        "url": "file:///x",
        "version": Version("1.0"),
        "kind": kind,
        "tags": frozenset({"py3-none-any"}) if kind == "wheel" else frozenset(),
    }
    fields.update(kwargs)
    return DistFile(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("files", "allow_yanked", "reason"),
    [
        ([_file()], False, None),
        ([_file(yanked=True)], False, "yanked"),
        ([_file(yanked=True, yanked_reason="CVE")], False, "yanked (CVE)"),
        ([_file(yanked=True)], True, None),
        ([_file(requires_python=">=3.12")], False, "requires Python >=3.12"),
        ([_file(requires_python="!!bad")], False, None),
        (
            [_file(tags=frozenset({"cp27-cp27m-win32"}))],
            False,
            "no wheel for cp311 (only cp27-cp27m-win32)",
        ),
        (
            [_file(tags=frozenset({"cp27-cp27m-win32"})), _file("sdist")],
            False,
            None,
        ),
        ([_file(tags=frozenset({"cp311-cp311-manylinux_2_17_x86_64"}))], False, None),
    ],
)
def test_unusable_reason(
    files: list[DistFile], allow_yanked: bool, reason: str | None
) -> None:
    assert (
        unusable_reason(
            files, python_version="3.11.7", tags=TAGS, allow_yanked=allow_yanked
        )
        == reason
    )


def test_unknown_tags_are_not_checked() -> None:
    wheel = _file(tags=frozenset({"cp27-cp27m-win32"}))
    assert (
        unusable_reason([wheel], python_version="3.11.7", tags=(), allow_yanked=False)
        is None
    )


@pytest.mark.parametrize(
    ("specifier", "exact"),
    [("==1.0", True), ("===1.0", True), ("==1.*", False), (">=1.0", False)],
)
def test_exact_pin(specifier: str, exact: bool) -> None:
    assert exact_pin(SpecifierSet(specifier)) is exact


def test_describe_skipped_writes_runs_as_ranges() -> None:
    skipped = [
        (Version("1.0"), "no wheel for cp311"),
        (Version("1.1"), "no wheel for cp311"),
        (Version("1.3"), "no wheel for cp311"),
        (Version("1.4"), "yanked"),
    ]
    assert describe_skipped(skipped) == "1.0\u20131.3: no wheel for cp311; 1.4: yanked"


@pytest.mark.parametrize(
    ("declared", "fix"),
    [
        ("foo>=1.0", "foo>=1.4"),
        ("foo>1.0,<3", "foo>=1.4,<3"),
        (
            "Foo[b,a]~=1.0; python_version >= '3.9'",
            'Foo[a,b]>=1.4,~=1.0; python_version >= "3.9"',
        ),
        ("foo", "foo>=1.4"),
    ],
)
def test_raised_requirement(declared: str, fix: str) -> None:
    assert raised_requirement(Requirement(declared), Version("1.4")) == fix


@pytest.mark.parametrize(
    ("bound", "strategy", "resolution"),
    [
        ("lower", "lowest-direct", "lowest-direct"),
        ("lower", "lowest", "lowest"),
        ("upper", "lowest", "highest"),
    ],
)
def test_resolution_for(bound: str, strategy: str, resolution: str) -> None:
    assert resolution_for(bound, strategy) == resolution  # type: ignore[arg-type]


# -- constraints ----------------------------------------------------------------


def test_constraints_files_are_read_with_their_lines() -> None:
    text = "# pins\n-c other.txt\nfoo==1.0  # why\n\nbar>=2\nnot a requirement!\n"
    found = read_constraints(text, "lc.txt")
    assert [(str(r), where) for r, where in found] == [
        ("foo==1.0", "lc.txt:3"),
        ("bar>=2", "lc.txt:5"),
    ]


def test_only_pins_outside_the_range_contradict() -> None:
    notes = contradictions(
        [("foo>=1.4", "pyproject.toml:5"), ("bar>=2", None)],
        [
            (Requirement("Foo==1.0"), "lc.txt:1"),
            (Requirement("foo==1.4"), "lc.txt:2"),
            (Requirement("bar<1"), "lc.txt:3"),
        ],
    )
    assert [(n.kind, n.dist, n.message, n.location) for n in notes] == [
        (
            "constraint-contradicts",
            "foo",
            (
                "`Foo==1.0` (lc.txt:1) contradicts the declared `foo>=1.4` "
                "(pyproject.toml:5)"
            ),
            "pyproject.toml:5",
        )
    ]


# -- the interpreter of each bound ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"lower": None, "upper": None}),
        ("3.11", {"lower": "3.11", "upper": "3.11"}),
        ("oldest", {"lower": "oldest", "upper": "oldest"}),
        (
            "lower=3.10,upper=/usr/bin/python3",
            {"lower": "3.10", "upper": "/usr/bin/python3"},
        ),
        ("lower=oldest", {"lower": "oldest", "upper": None}),
    ],
)
def test_parse_python_option(
    value: str | None, expected: dict[str, str | None]
) -> None:
    assert parse_python_option(value) == expected


@pytest.mark.parametrize("value", ["middle=3.10", "lower=", "lower=3.10,3.12"])
def test_parse_python_option_rejects(value: str) -> None:
    with pytest.raises(ConfigurationError, match="lower=SPEC,upper=SPEC"):
        parse_python_option(value)


def _fake_python(folder: Path, version: str) -> None:
    python = folder / version / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho {version}\n")
    python.chmod(0o755)


def test_oldest_is_the_oldest_admitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fake pyenv versions; 3.9.1 cannot be inspected, so it is passed over.

    found: list[str] = []

    def fake_find(spec: str | None) -> interpreters.Interpreter:
        found.append(str(spec))
        if str(spec).endswith("3.9.1/bin/python"):
            raise ConfigurationError("not runnable")
        return interpreters.Interpreter(
            executable=str(spec),
            implementation="CPython",
            version=str(spec).split("/")[-3],
        )

    for version in ("3.7.9", "3.9.1", "3.10.4", "3.12.0"):
        _fake_python(tmp_path / "versions", version)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setattr(interpreters, "find", fake_find)
    monkeypatch.setattr(interpreters, "_uv_pythons", list)
    monkeypatch.setattr(interpreters.shutil, "which", lambda _: None)
    assert oldest(">=3.8").version == "3.10.4"
    assert found[0].endswith("3.9.1/bin/python")
    assert oldest(">=3.11").version == "3.12.0"
    with pytest.raises(ConfigurationError, match="requires-python >=3.13 admits"):
        oldest(">=3.13")
