"""Requirements files read with pip's semantics (reqfiles.py)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement

from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.reqfiles import read_requirements_file
from pytest_depbounds.testing import write_wheel

if TYPE_CHECKING:
    from pathlib import Path

SHA = "sha256:" + "ab" * 32


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _read(tmp_path: Path, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "requirements.txt", text)
    return read_requirements_file(path, base=tmp_path, **kwargs)  # type: ignore[arg-type]


def _strings(lines) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(line.requirement) for line in lines]


def test_comment_and_continuation_lines_in_order(tmp_path: Path) -> None:
    found = _read(
        tmp_path,
        """
        # a comment line
        fakelib>=1.0  # why: new_api
        stablelib>=1.0,\\
        <2 ; python_version >= "3.8"

        kwlib ; sys_platform == "win32" # windows only
        # a comment ending in a backslash does not continue \\
        parselib
        """,
    )
    assert [(str(r.requirement), r.location) for r in found.requirements] == [
        ("fakelib>=1.0", "requirements.txt:2"),
        ('stablelib<2,>=1.0; python_version >= "3.8"', "requirements.txt:3"),
        ('kwlib; sys_platform == "win32"', "requirements.txt:6"),
        ("parselib", "requirements.txt:8"),
    ]
    assert found.constraints == ()
    assert not any(r.is_direct or r.editable for r in found.requirements)


def test_nested_requirements_are_relative_to_the_including_file(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "reqs/base.txt", "fakelib>=1.0\n-r ../common/more.txt\n")
    _write(tmp_path, "common/more.txt", "# shared\n\nkwlib>=1.0\n")
    _write(tmp_path, "last.txt", "parselib\n")
    found = _read(tmp_path, "-r reqs/base.txt\n--requirement=reqs/../last.txt\n")
    assert [(str(r.requirement), r.location) for r in found.requirements] == [
        ("fakelib>=1.0", "reqs/base.txt:1"),
        ("kwlib>=1.0", "common/more.txt:3"),
        ("parselib", "last.txt:1"),
    ]


def test_constraints_are_kept_apart(tmp_path: Path) -> None:
    _write(tmp_path, "constraints.txt", "fakelib<2\n-r inner.txt\n")
    _write(tmp_path, "upper.txt", "kwlib==1.2\n")
    # pip: ``-r`` inside a constraints file names requirements, not constraints.
    _write(tmp_path, "inner.txt", "stablelib\n")
    found = _read(
        tmp_path, "fakelib>=1.0\n-c constraints.txt\n--constraint upper.txt\n"
    )
    assert _strings(found.requirements) == ["fakelib>=1.0", "stablelib"]
    assert [(str(c.requirement), c.location) for c in found.constraints] == [
        ("fakelib<2", "constraints.txt:1"),
        ("kwlib==1.2", "upper.txt:1"),
    ]
    assert all(c.constraint for c in found.constraints)
    assert not any(r.constraint for r in found.requirements)


def test_a_file_read_as_constraints(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.txt", "fakelib<2\n")
    found = read_requirements_file(path, base=tmp_path, constraint=True)
    assert found.requirements == ()
    assert _strings(found.constraints) == ["fakelib<2"]


def test_cycles_end(tmp_path: Path) -> None:
    _write(tmp_path, "a.txt", "fakelib\n-r b.txt\n")
    _write(tmp_path, "b.txt", "kwlib\n-r a.txt\n-r ./a.txt\n-r requirements.txt\n")
    found = _read(tmp_path, "-r a.txt\n-r b.txt\nparselib\n")
    assert _strings(found.requirements) == ["fakelib", "kwlib", "parselib"]


def test_index_options(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    _write(
        tmp_path,
        "more.txt",
        "--index-url https://second.example/simple\n-f https://links.example/\n",
    )
    found = _read(
        tmp_path,
        """
        -i https://first.example/simple
        --extra-index-url https://extra.example/simple
        --extra-index-url=https://extra.example/simple
        --find-links wheels
        -f missing-dir
        -r more.txt
        --pre
        --prefer-binary
        --trusted-host extra.example
        fakelib
        """,
    )
    # The last index URL wins (pip), extra ones and find-links accumulate.
    assert found.index_url == "https://second.example/simple"
    assert found.extra_index_urls == ("https://extra.example/simple",)
    assert found.find_links == (
        str(tmp_path / "wheels"),
        "missing-dir",
        "https://links.example/",
    )
    assert found.no_index is False
    assert _read(tmp_path, "--no-index\nfakelib\n").no_index is True


def test_hashes_are_kept(tmp_path: Path) -> None:
    found = _read(
        tmp_path,
        f"""
        fakelib==1.0 \\
            --hash={SHA} \\
            --hash {SHA.replace("ab", "cd")}
        kwlib==1.2
        """,
    )
    first, second = found.requirements
    assert str(first.requirement) == "fakelib==1.0"
    assert first.hashes == (SHA, SHA.replace("ab", "cd"))
    assert first.location == "requirements.txt:1"
    assert second.hashes == ()


def test_environment_variables_as_pip_expands_them(tmp_path: Path) -> None:
    found = _read(
        tmp_path,
        "${LIB_NAME}>=${LIB_FLOOR}\n",
        environ={"LIB_NAME": "fakelib", "LIB_FLOOR": "1.4"},
    )
    assert _strings(found.requirements) == ["fakelib>=1.4"]


@pytest.mark.parametrize("line", ["${UNSET}>=1", "${EMPTY}>=1", "$LIB>=1"])
def test_only_set_braced_variables_expand(tmp_path: Path, line: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"requirements.txt:1: invalid requirement: '\$"
    ):
        _read(tmp_path, f"{line}\n", environ={"EMPTY": "", "LIB": "fakelib"})


def test_direct_references(tmp_path: Path) -> None:
    lib = tmp_path / "libs" / "sib"
    _write(lib, "pyproject.toml", '[project]\nname = "Sib-Lib"\nversion = "0.3"\n')
    cfg_lib = tmp_path / "libs" / "cfg"
    _write(cfg_lib, "setup.cfg", "[metadata]\nname = cfglib\n")
    nameless = tmp_path / "libs" / "nameless"
    _write(nameless, "setup.py", "")
    wheel = write_wheel(tmp_path / "dist", "wheely", "1.0", {"wheely/__init__.py": ""})
    found = _read(
        tmp_path,
        f"""
        ./libs/sib
        ./libs/sib[fast] ; python_version >= "3"
        -e libs/cfg
        --editable ./libs/nameless
        ./dist/{wheel.name}
        named @ https://example.org/named-1.0.tar.gz
        sibling @ libs/sib
        https://example.org/files/other-2.0.tar.gz
        git+https://github.com/example/repo@v1.0#egg=repo
        git+https://github.com/example/unnamed@v1.0
        """,
    )
    got = [
        (
            r.requirement,
            r.url,
            r.editable,
            r.location,
        )
        for r in found.requirements
    ]
    sib, cfg, whl = lib.as_uri(), cfg_lib.as_uri(), wheel.as_uri()
    named = "https://example.org/named-1.0.tar.gz"
    other = "https://example.org/files/other-2.0.tar.gz"
    repo = "git+https://github.com/example/repo@v1.0#egg=repo"
    unnamed = "git+https://github.com/example/unnamed@v1.0"
    expected = [
        (f"Sib-Lib @ {sib}", sib, False),
        (f'Sib-Lib[fast] @ {sib} ; python_version >= "3"', sib, False),
        (f"cfglib @ {cfg}", cfg, True),
        (None, nameless.as_uri(), True),
        (f"wheely @ {whl}", whl, False),
        (f"named @ {named}", named, False),
        (f"sibling @ {sib}", sib, False),
        (f"other @ {other}", other, False),
        (f"repo @ {repo}", repo, False),
        (None, unnamed, False),
    ]
    assert got == [
        (Requirement(text) if text else None, url, editable, f"requirements.txt:{n}")
        for n, (text, url, editable) in enumerate(expected, start=1)
    ]
    assert all(r.is_direct for r in found.requirements)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fakelib>=>1\n", r"requirements.txt:1: invalid requirement: 'fakelib>=>1'"),
        ("ok\n\nfakelib (\n", r"requirements.txt:3: invalid requirement"),
        ("--frobnicate\n", r"requirements.txt:1: unrecognized arguments: --frobnicate"),
        ("-r\n", r"requirements.txt:1: .*expected one argument"),
        (
            "-r missing.txt\n",
            r"requirements.txt:1: cannot read requirements file missing.txt",
        ),
        ("fakelib --hash=md5:abc\n", r"requirements.txt:1: --hash must be sha256"),
        ("--hash=" + SHA + "\n", r"requirements.txt:1: --hash without a requirement"),
        ("./no/such/dir\n", r"requirements.txt:1: .*looks like a path.*does not exist"),
        ("-c c.txt\n", r"c.txt:1: an editable requirement cannot be a constraint"),
        ("-c u.txt\n", r"u.txt:1: an unnamed requirement cannot be a constraint"),
        (
            "fakelib --index-url 'unclosed\n",
            r"requirements.txt:1: No closing quotation",
        ),
        (
            "git+https://x.org/r ; python_version >>> '3'\n",
            r"invalid environment marker",
        ),
    ],
)
def test_invalid_lines_name_their_location(
    tmp_path: Path, text: str, message: str
) -> None:
    _write(tmp_path, "c.txt", "-e ./sub\n")
    _write(tmp_path, "u.txt", "git+https://x.org/repo\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigurationError, match=message) as caught:
        _read(tmp_path, text)
    assert "\n" not in str(caught.value)


def test_a_missing_top_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read requirements file nope"):
        read_requirements_file(tmp_path / "nope.txt", base=tmp_path)


def test_file_url_includes(tmp_path: Path) -> None:
    other = _write(tmp_path / "elsewhere", "c.txt", "fakelib<2\n")
    found = _read(tmp_path, f"-c {other.as_uri()}\nfakelib\n")
    assert [(str(c.requirement), c.location) for c in found.constraints] == [
        ("fakelib<2", "elsewhere/c.txt:1")
    ]


# -- property: a requirement survives any legal way of writing its line -----

_NAMES = st.from_regex(
    r"[A-Za-z][A-Za-z0-9]{0,6}([-_.][A-Za-z0-9]{1,4})?", fullmatch=True
)
_VERSIONS = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}", fullmatch=True)
_SPECIFIERS = st.lists(
    st.tuples(st.sampled_from([">=", "<", "<=", ">", "==", "!=", "~="]), _VERSIONS),
    max_size=3,
).map(lambda parts: ",".join(f"{op}{v}" for op, v in parts if op != "~=" or "." in v))
_MARKERS = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            'python_version >= "3.8"',
            'sys_platform == "linux" and python_version < "4"',
            "os_name != 'nt' or implementation_name == 'cpython'",
            'platform_machine == "x86_64"',
        ]
    ),
)


@st.composite
def _written(draw: st.DrawFn) -> tuple[str, str, int]:
    """A requirement, a requirements file that writes it, and its line number."""
    name = draw(_NAMES)
    extras = draw(st.lists(_NAMES, max_size=2, unique=True))
    padding = draw(st.sampled_from(["", " ", "  "]))
    marker = draw(_MARKERS)
    text = name + (f"[{','.join(extras)}]" if extras else "")
    text += padding + draw(_SPECIFIERS)
    if marker:
        text += f"{padding}; {marker}"
    # A continuation may split the line anywhere.
    cut = draw(st.integers(min_value=0, max_value=len(text)))
    body = text[:cut] + "\\\n" + text[cut:] if 0 < cut < len(text) else text
    before = draw(st.sampled_from(["", "# leading comment\n", "\n\n", "  # x\n"]))
    comment = draw(st.sampled_from(["", "  # a comment", "\t# why"]))
    return text, f"{before}{body}{comment}\n", before.count("\n") + 1


@settings(max_examples=150, deadline=None)
@given(case=_written())
def test_lines_round_trip_to_the_same_requirement(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, str, int]
) -> None:
    text, content, number = case
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "requirements.txt"
    path.write_text(content, encoding="utf-8")
    (line,) = read_requirements_file(path, base=folder).requirements
    assert line.requirement == Requirement(text)
    assert line.location == f"requirements.txt:{number}"
    assert line.url is None
    assert not line.constraint


def test_remote_files_and_their_relative_includes(tmp_path: Path) -> None:
    import functools  # noqa: PLC0415
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    served = tmp_path / "served"
    _write(served, "upper.txt", "-c more/pins.txt\nfakelib<2\n")
    _write(served, "more/pins.txt", "kwlib==1.2\n")
    _write(served, "bad.txt", "./local/path\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            found = _read(tmp_path, f"-c {base}/upper.txt\nfakelib>=1\n")
            with pytest.raises(ConfigurationError, match="a local path in a remote"):
                _read(tmp_path, f"-r {base}/bad.txt\n")
            with pytest.raises(
                ConfigurationError,
                match=r"requirements.txt:1: cannot read.*missing.txt",
            ):
                _read(tmp_path, f"-r {base}/missing.txt\n")
        finally:
            server.shutdown()
    assert [(str(c.requirement), c.location) for c in found.constraints] == [
        ("kwlib==1.2", f"{base}/more/pins.txt:1"),
        ("fakelib<2", f"{base}/upper.txt:2"),
    ]
