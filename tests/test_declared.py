"""Declared sources: setup.cfg, requirements files, direct references, markers."""

from __future__ import annotations

import json
import textwrap
import warnings
from typing import TYPE_CHECKING

import pytest
from packaging.markers import default_environment

from pytest_depbounds.declared import IndexOptions, read_declaration
from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.installer import IndexSettings
from pytest_depbounds.interpreters import current
from pytest_depbounds.testing import INTREE_BACKEND, write_project

if TYPE_CHECKING:
    from pathlib import Path

SETUP_CFG = """
[metadata]
name = MyProj
version = 0.1

[options]
packages = find:
python_requires = >=3.8
install_requires =
    fakelib>=1.0
    # a comment line
    stablelib>=1.0; python_version < "3"

    kwlib>=1.0,<2

[options.extras_require]
fast = speedy>=2; green-io>=0.15
all =
    myproj[fast]
    parselib>=1.0
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _located(declaration) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (str(r.requirement), r.location, r.origin) for r in declaration.requirements
    ]


def test_setup_cfg_install_requires_and_extras(tmp_path: Path) -> None:
    _write(tmp_path, "setup.cfg", SETUP_CFG)
    _write(tmp_path, "setup.py", "from setuptools import setup\nsetup()\n")
    declaration = read_declaration(tmp_path, extras=["all"], groups=None)
    assert declaration.project_name == "myproj"
    assert declaration.requires_python == ">=3.8"
    assert _located(declaration) == [
        ("fakelib>=1.0", "setup.cfg:9", ""),
        ('stablelib>=1.0; python_version < "3"', "setup.cfg:11", ""),
        ("kwlib<2,>=1.0", "setup.cfg:13", ""),
        ("parselib>=1.0", "setup.cfg:19", "extra all"),
        # ``myproj[fast]`` in ``all``; on one line, ``;`` separates requirements.
        ("speedy>=2", "setup.cfg:16", "extra fast"),
        ("green-io>=0.15", "setup.cfg:16", "extra fast"),
    ]
    assert [p.name for p in declaration.build_inputs] == ["setup.cfg", "setup.py"]


#: pbr's way: setup.cfg names the project, the backend reads requirements.txt.
PBR_LIKE_BACKEND = """
import os

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    with open("requirements.txt", encoding="utf-8") as f:
        requires = [r.split("#")[0].strip() for r in f if r.split("#")[0].strip()]
    info = os.path.join(directory, "nova-1.0.dist-info")
    os.makedirs(info)
    lines = ["Metadata-Version: 2.1", "Name: nova", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write("\\n".join(lines) + "\\n")
    return "nova-1.0.dist-info"
"""


def test_a_setup_cfg_without_install_requires_asks_the_build_backend(
    tmp_path: Path,
) -> None:
    # OpenStack's pbr projects: setup.cfg has [metadata] but no install_requires,
    # setup.py says pbr=True, and pbr reads requirements.txt into the metadata.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = []
        build-backend = "_pbr_like"
        backend-path = ["."]
        """,
    )
    _write(tmp_path, "_pbr_like.py", PBR_LIKE_BACKEND)
    _write(tmp_path, "setup.cfg", "[metadata]\nname = nova\n")
    _write(tmp_path, "setup.py", "import setuptools\nsetuptools.setup(pbr=True)\n")
    _write(tmp_path, "requirements.txt", "# runtime\nfakelib>=1.0  # MIT\n")
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert declaration.project_name == "nova"
    # The line pbr read it from: a finding points there, --depbounds-fix edits it.
    assert _located(declaration) == [("fakelib>=1.0", "requirements.txt:2", "")]
    # Given to --depbounds-requirements, requirements.txt declares it all: the
    # backend, which reads that file, is not asked.
    requirements = tmp_path / "requirements.txt"
    (tmp_path / "_pbr_like.py").write_text("raise RuntimeError('not asked')\n")
    declaration = read_declaration(
        tmp_path, extras=(), groups=None, requirements_files=[requirements]
    )
    assert declaration.project_name == "nova"
    assert _located(declaration) == [
        ("fakelib>=1.0", "requirements.txt:2", "requirements requirements.txt")
    ]


@pytest.mark.parametrize(
    "table", ["", '[project]\nname = "nova"\ndynamic = ["dependencies"]\n']
)
def test_a_test_requirements_file_alone_keeps_the_computed_dependencies(
    tmp_path: Path, table: str
) -> None:
    # ``--depbounds-requirements test-requirements.txt`` alone: the runtime
    # dependencies that pbr reads from requirements.txt are still under test.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = []
        build-backend = "_pbr_like"
        backend-path = ["."]
        """
        + table,
    )
    _write(tmp_path, "_pbr_like.py", PBR_LIKE_BACKEND)
    _write(tmp_path, "setup.cfg", "[metadata]\nname = nova\n")
    _write(tmp_path, "setup.py", "import setuptools\nsetuptools.setup(pbr=True)\n")
    _write(tmp_path, "requirements.txt", "fakelib>=1.0\n")
    _write(tmp_path, "test-requirements.txt", "kwlib>=1.0\n")
    declaration = read_declaration(
        tmp_path,
        extras=(),
        groups=None,
        requirements_files=[tmp_path / "test-requirements.txt"],
    )
    assert declaration.project_name == "nova"
    assert [str(r.requirement) for r in declaration.requirements] == [
        "fakelib>=1.0",
        "kwlib>=1.0",
    ]
    # test-requirements.txt that includes requirements.txt covers it: the
    # backend is not asked, and nothing is declared twice.
    _write(tmp_path, "test-requirements.txt", "-r requirements.txt\nkwlib>=1.0\n")
    (tmp_path / "_pbr_like.py").write_text("raise RuntimeError('not asked')\n")
    declaration = read_declaration(
        tmp_path,
        extras=(),
        groups=None,
        requirements_files=[tmp_path / "test-requirements.txt"],
    )
    assert [r.location for r in declaration.requirements] == [
        "requirements.txt:1",
        "test-requirements.txt:2",
    ]


def test_static_extras_join_dependencies_read_from_requirements_files(
    tmp_path: Path,
) -> None:
    # oslo.config: dynamic dependencies (pbr), static optional-dependencies;
    # with requirements.txt given the extras asked for were silently dropped.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "oslo.config"
        dynamic = ["version", "dependencies"]
        [project.optional-dependencies]
        rst-generator = ["rst2txt>=1.1.0", "sphinx>=1.8.0"]
        """,
    )
    _write(tmp_path, "requirements.txt", "fakelib>=1.0\n")
    declaration = read_declaration(
        tmp_path,
        extras=["rst-generator"],
        groups=None,
        requirements_files=[tmp_path / "requirements.txt"],
    )
    assert _located(declaration) == [
        ("rst2txt>=1.1.0", "pyproject.toml:5", "extra rst-generator"),
        ("sphinx>=1.8.0", "pyproject.toml:5", "extra rst-generator"),
        ("fakelib>=1.0", "requirements.txt:1", "requirements requirements.txt"),
    ]
    with pytest.raises(ConfigurationError, match="unknown extra 'nope'"):
        read_declaration(
            tmp_path,
            extras=["nope"],
            groups=None,
            requirements_files=[tmp_path / "requirements.txt"],
        )


#: setuptools' way: ``*.egg-info`` in ``[egg_info] egg_base`` of DIST_EXTRA_CONFIG,
#: else beside the sources.
EGG_INFO_BACKEND = """
import configparser, os

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    parser = configparser.ConfigParser()
    parser.read(os.environ.get("DIST_EXTRA_CONFIG", ""))
    base = parser.get("egg_info", "egg_base", fallback=".")
    os.makedirs(os.path.join(base, "eggy.egg-info"), exist_ok=True)
    with open(os.path.join(base, "eggy.egg-info", "PKG-INFO"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: eggy\\nVersion: 1.0\\n")
    info = os.path.join(directory, "eggy-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: eggy\\nVersion: 1.0\\n"
                "Requires-Dist: fakelib>=1.0\\n")
    return "eggy-1.0.dist-info"
"""


def test_reading_the_backends_metadata_writes_nothing_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # retrying's setup.py: setuptools rewrote the sdist's retrying.egg-info (in
    # a checkout, it creates one) while only its metadata was asked for.
    monkeypatch.delenv("DIST_EXTRA_CONFIG", raising=False)
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = []
        build-backend = "_eggy"
        backend-path = ["."]
        """,
    )
    _write(tmp_path, "_eggy.py", EGG_INFO_BACKEND)
    _write(tmp_path, "setup.py", "import setuptools\nsetuptools.setup()\n")
    before = {p.name for p in tmp_path.iterdir()}
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert declaration.project_name == "eggy"
    assert [str(r.requirement) for r in declaration.requirements] == ["fakelib>=1.0"]
    # The backend's own bytecode aside (where PYTHONDONTWRITEBYTECODE is unset).
    assert {p.name for p in tmp_path.iterdir()} - {"__pycache__"} == before


def test_pbr_extras_in_setup_cfg_are_extras(tmp_path: Path) -> None:
    # oslo.config 8: pbr's [extras] section, requirements with comments; its
    # install_requires is requirements.txt, given as a file.
    _write(
        tmp_path,
        "setup.cfg",
        """
        [metadata]
        name = oslo.config

        [extras]
        rst-generator =
          rst2txt>=1.1.0 # BSD
          sphinx>=1.8.0,!=2.1.0 # BSD
        """,
    )
    _write(tmp_path, "setup.py", "import setuptools\nsetuptools.setup(pbr=True)\n")
    _write(tmp_path, "requirements.txt", "fakelib>=1.0\n")
    files = [tmp_path / "requirements.txt"]
    declaration = read_declaration(
        tmp_path, extras=["rst-generator"], groups=None, requirements_files=files
    )
    assert _located(declaration) == [
        ("rst2txt>=1.1.0", "setup.cfg:6", "extra rst-generator"),
        ("sphinx!=2.1.0,>=1.8.0", "setup.cfg:7", "extra rst-generator"),
        ("fakelib>=1.0", "requirements.txt:1", "requirements requirements.txt"),
    ]
    # Not under test, they still tell a missing import which extra to add.
    declaration = read_declaration(
        tmp_path, extras=(), groups=None, requirements_files=files
    )
    assert declaration.unselected == {
        "rst2txt": "extra rst-generator",
        "sphinx": "extra rst-generator",
    }


def test_setup_cfg_is_read_when_pyproject_has_no_project_table(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "pyproject.toml", '[build-system]\nrequires = ["pbr>=6"]\n')
    _write(
        tmp_path,
        "setup.cfg",
        "[metadata]\nname = nova\n[options]\ninstall_requires = fakelib>=1.0\n",
    )
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert declaration.project_name == "nova"
    assert _located(declaration) == [("fakelib>=1.0", "setup.cfg:4", "")]


def test_dynamic_dependencies_from_setup_cfg_or_files(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "p"\nversion = "1"\ndynamic = ["dependencies"]\n',
    )
    _write(tmp_path, "setup.cfg", "[options]\ninstall_requires =\n    fakelib>=1\n")
    assert _located(read_declaration(tmp_path, extras=(), groups=None)) == [
        ("fakelib>=1", "setup.cfg:3", "")
    ]
    _write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "p"\ndynamic = ["dependencies"]\n'
        '[tool.setuptools.dynamic]\ndependencies = {file = ["reqs.txt"]}\n',
    )
    _write(tmp_path, "reqs.txt", "# pinned elsewhere\nkwlib>=1.2\n")
    assert _located(read_declaration(tmp_path, extras=(), groups=None)) == [
        ("kwlib>=1.2", "reqs.txt:2", "")
    ]


def test_the_build_backends_warnings_stay_with_the_backend(tmp_path: Path) -> None:
    # setuptools warns about a project's license table on every metadata build
    # (pbr projects, ...): the project's packaging, not its bounds, and pyproject
    # hooks re-raise each warning in the caller, printed above pytest's header.
    project = write_project(tmp_path, "p", dependencies=["fakelib>=1.0"])
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'dependencies = ["fakelib>=1.0"]', 'dynamic = ["dependencies"]'
        ),
        encoding="utf-8",
    )
    with (project / "_intree_backend.py").open("a", encoding="utf-8") as backend:
        backend.write(
            "\n\ndef prepare_metadata_for_build_wheel(directory, config_settings=None):\n"
            "    import warnings\n"
            "    warnings.warn('`project.license` as a TOML table is deprecated')\n"
            "    info = os.path.join(directory, 'p-0.1.0.dist-info')\n"
            "    os.makedirs(info)\n"
            "    with open(os.path.join(info, 'METADATA'), 'w') as f:\n"
            "        f.write('Metadata-Version: 2.1\\nName: p\\nVersion: 0.1.0\\n'\n"
            "                'Requires-Dist: fakelib>=1.0\\n')\n"
            "    return 'p-0.1.0.dist-info'\n"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        declaration = read_declaration(project, extras=(), groups=None)
    assert [str(r.requirement) for r in declaration.requirements] == ["fakelib>=1.0"]
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {
                "setup.cfg": "[options]\ninstall_requires = fakelib; python_version<'3'\n"
            },
            (
                "setup.cfg:2: [options] install_requires: on one line, ';' separates "
                "requirements (setuptools), so \"python_version<'3'\" is read as one"
            ),
        ),
        (
            {"setup.cfg": "[options]\ninstall_requires =\n  fakelib\n  bad req!\n"},
            "setup.cfg:4: invalid requirement 'bad req!'",
        ),
        ({"setup.cfg": "[options\n"}, "setup.cfg:1: invalid setup.cfg: '[options'"),
        (
            {"setup.cfg": "[metadata]\nname = p\n[options.extras_require]\nx = a\n"},
            "setup.cfg: unknown extra 'fast' (declared extras: x)",
        ),
    ],
)
def test_legacy_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        _write(tmp_path, name, text)
    extras = ["fast"] if "extras_require" in str(files) else []
    with pytest.raises(ConfigurationError) as caught:
        read_declaration(tmp_path, extras=extras, groups=None)
    assert message in str(caught.value)


def test_requirements_files_add_to_the_declaration(tmp_path: Path) -> None:
    write_project(tmp_path, "myproj", dependencies=["fakelib>=1.0"])
    _write(tmp_path, "constraints.txt", "fakelib<2\n")
    _write(
        tmp_path,
        "test-requirements.txt",
        """
        -c constraints.txt
        --index-url https://files.example/simple
        -f ./wheels
        pytest>=7  # tooling
        kwlib>=1.0 ; sys_platform == "never"
        """,
    )
    _write(tmp_path, "requirements.txt", "--no-index\nstablelib>=1.0\n")
    declaration = read_declaration(
        tmp_path,
        extras=(),
        groups=None,
        requirements_files=[
            tmp_path / "requirements.txt",
            tmp_path / "test-requirements.txt",
        ],
    )
    assert _located(declaration) == [
        ("fakelib>=1.0", "pyproject.toml:9", ""),
        ("stablelib>=1.0", "requirements.txt:2", "requirements requirements.txt"),
        ("pytest>=7", "test-requirements.txt:4", "requirements test-requirements.txt"),
        (
            'kwlib>=1.0; sys_platform == "never"',
            "test-requirements.txt:5",
            "requirements test-requirements.txt",
        ),
    ]
    assert [(str(c.requirement), c.location) for c in declaration.constraints] == [
        ("fakelib<2", "constraints.txt:1")
    ]
    assert declaration.index == IndexOptions(
        index_url="https://files.example/simple",
        find_links=("./wheels",),
        no_index=True,
    )
    # Markers are evaluated against a given interpreter's values.
    here = {str(k): str(v) for k, v in default_environment().items()}
    applicable = declaration.applicable(here)
    assert [r.name for r in applicable.requirements] == [
        "fakelib",
        "stablelib",
        "pytest",
    ]
    (note,) = declaration.notes(here, "CPython 3.11")
    assert note.kind == "left-out"
    assert note.dist == "kwlib"
    assert note.location == "test-requirements.txt:5"
    assert note.message == (
        "kwlib is left out: its marker 'sys_platform == \"never\"' is false on "
        "CPython 3.11"
    )


def test_markers_of_another_interpreter(tmp_path: Path) -> None:
    _write(tmp_path, "requirements.txt", 'oldlib ; python_version < "3.0"\nnewlib\n')
    declaration = read_declaration(
        tmp_path,
        extras=(),
        groups=None,
        requirements_files=[tmp_path / "requirements.txt"],
    )
    old = {**current().marker_environment(), "python_version": "2.7"}
    assert [r.name for r in declaration.applicable(old).requirements] == [
        "oldlib",
        "newlib",
    ]
    assert [
        r.name
        for r in declaration.applicable(current().marker_environment()).requirements
    ] == ["newlib"]


def test_file_index_options_only_fill_what_the_user_left_unset() -> None:
    files = IndexOptions(
        index_url="https://files.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/wheels",),
        no_index=False,
    )
    assert files.fill(IndexSettings()) == IndexSettings(
        index_url="https://files.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/wheels",),
    )
    user = IndexSettings(index_url="https://mine.example/simple", find_links=("/mine",))
    assert files.fill(user) == IndexSettings(
        index_url="https://mine.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/mine",),
    )


def test_direct_references_are_named_and_noted(tmp_path: Path) -> None:
    write_project(tmp_path / "libs" / "siblib", "siblib")
    _write(tmp_path, "pyproject.toml", '[project]\nname = "p"\nversion = "1"\n')
    _write(tmp_path, "requirements.txt", "-e ./libs/siblib\nfakelib>=1\n")
    _write(tmp_path, "more.txt", "git+https://example.org/x.git\n")
    declaration = read_declaration(
        tmp_path,
        extras=(),
        groups=None,
        requirements_files=[tmp_path / "requirements.txt"],
    )
    (direct,) = declaration.direct_references
    url = (tmp_path / "libs" / "siblib").as_uri()
    assert direct.requirement.url == url
    assert direct.editable
    (note,) = declaration.notes(current().marker_environment(), "CPython 3.11")
    assert (note.kind, note.dist, note.location) == (
        "kept-as-is",
        "siblib",
        "requirements.txt:1",
    )
    assert note.message == (
        f"siblib is installed as it is from {url}, not editable: a direct reference "
        "has no range to test"
    )
    with pytest.raises(
        ConfigurationError,
        match=r"more.txt:1: cannot tell the project name of 'git\+https://example.org/x.git'",
    ):
        read_declaration(
            tmp_path, extras=(), groups=None, requirements_files=[tmp_path / "more.txt"]
        )


#: A backend that, as poetry-core, reads its own table rather than [project].
POETRY_LIKE_BACKEND = """\
import os
try:
    import tomllib
except ImportError:
    import tomli as tomllib


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open("pyproject.toml", "rb") as f:
        table = tomllib.load(f)["tool"]["fakepoetry"]
    info = f"{table['name']}-{table['version']}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info))
    lines = [f"Name: {table['name']}", f"Version: {table['version']}"]
    lines += [f"Requires-Dist: {r}" for r in table["dependencies"]]
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\n" + "\\n".join(lines) + "\\n")
    return info
"""


def test_a_project_without_a_project_table_asks_its_build_backend(
    tmp_path: Path,
) -> None:
    # rich: [tool.poetry.dependencies] and poetry-core, no [project] and no
    # setup.py; nothing was under test, and rich itself was blamed as a dependency.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = []
        build-backend = "_poetry_backend"
        backend-path = ["."]

        [tool.fakepoetry]
        name = "Rich-Like"
        version = "1.0"
        dependencies = ["pygments<3.0.0,>=2.13.0", "markdown-it-py>=2.2.0"]
        """,
    )
    _write(tmp_path, "_poetry_backend.py", POETRY_LIKE_BACKEND)
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert declaration.project_name == "rich-like"
    assert _located(declaration) == [
        (
            "pygments<3.0.0,>=2.13.0",
            "pyproject.toml (metadata from _poetry_backend)",
            "",
        ),
        (
            "markdown-it-py>=2.2.0",
            "pyproject.toml (metadata from _poetry_backend)",
            "",
        ),
    ]


# -- end to end: an OpenStack-layout project ---------------------------------

#: OpenStack's layout: pyproject names only the build backend (pbr there; an
#: in-tree one reading setup.cfg here, to build offline).
SETUP_CFG_BACKEND = INTREE_BACKEND.replace(
    """    with open("pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return project["name"], project["version"]""",
    """    import configparser
    parser = configparser.RawConfigParser()
    parser.read("setup.cfg")
    return parser.get("metadata", "name"), parser.get("metadata", "version")""",
)


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_openstack_layout_at_both_bounds(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SETUP_CFG_BACKEND != INTREE_BACKEND
    monkeypatch.setenv("COLUMNS", "400")  # the pins lines hold long file URLs
    root = pytester.path
    _write(
        root,
        "pyproject.toml",
        """
        [build-system]
        requires = []
        build-backend = "_intree_backend"
        backend-path = ["."]
        """,
    )
    _write(root, "_intree_backend.py", SETUP_CFG_BACKEND)
    _write(root, "setup.cfg", "[metadata]\nname = myproj\nversion = 0.1.0\n")
    _write(root, "myproj/__init__.py", "import fakelib\n\nVALUE = fakelib.old_api()\n")
    write_project(root / "libs" / "siblib", "siblib")
    _write(
        root,
        "requirements.txt",
        """
        # OpenStack: runtime dependencies
        fakelib>=1.0  # old_api
        stablelib>=1.0 ; python_version < "3"
        ./libs/siblib
        toplib>=1.0
        baselib>=1.0 ; python_version < "3"
        """,
    )
    _write(root, "upper.txt", "# like upper-constraints.txt\nfakelib<2\n")
    _write(
        root,
        "test-requirements.txt",
        """
        -c upper.txt
        kwlib>=1.0,\\
          <2
        """,
    )
    _write(
        root,
        "tests/test_it.py",
        """
        import kwlib
        import myproj
        import siblib

        def test_value():
            assert myproj.VALUE == "old"
            assert kwlib.connect("h") == "h"
        """,
    )
    result = pytester.runpytest_subprocess(
        "--depbounds",
        # The spelling: several files after one flag.
        "--depbounds-requirements",
        "requirements.txt",
        "test-requirements.txt",
        "tests",
        "--depbounds-report=r.json",
    )
    siblib = (root / "libs" / "siblib").as_uri()
    result.stdout.fnmatch_lines(
        [
            "*depbounds: lower bound*",
            # baselib, whose marker is false, is toplib's dependency: not direct.
            (
                f"[[]lower[]] pins: fakelib==1.0 kwlib==1.0 siblib @ {siblib} "
                "toplib==1.0 (+1 transitive); left out by marker: stablelib, baselib*"
            ),
            "*depbounds: upper bound*",
            # -c upper.txt holds fakelib below 2.0.
            (
                f"[[]upper[]] pins: fakelib==1.4 kwlib==1.2 siblib @ {siblib} "
                "toplib==1.1 (+1 transitive); left out by marker: stablelib, baselib*"
            ),
            "lower*passed*1 passed*",
            "upper*passed*1 passed*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "findings:",
            (
                f"[[]lower[]] siblib is installed as it is from {siblib}: a direct "
                "reference has no range to test"
            ),
            f"[[]upper[]] siblib is installed as it is from {siblib}*",
        ]
    )
    # Said on the pins lines, not repeated among the findings.
    result.stdout.no_fnmatch_line("*stablelib is left out*")
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((root / "r.json").read_text())
    lower, upper = report["bounds"]
    assert lower["pins"]["fakelib"] == "1.0"
    assert upper["pins"]["fakelib"] == "1.4"
    for bound in (lower, upper):
        kinds = {(n["kind"], n["dist"], n["location"]) for n in bound["notes"]}
        assert ("kept-as-is", "siblib", "requirements.txt:4") in kinds
        assert ("left-out", "stablelib", "requirements.txt:3") in kinds
    declared = {d["requirement"]: d["location"] for d in report["project"]["declared"]}
    assert declared["kwlib<2,>=1.0"] == "test-requirements.txt:2"


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_an_application_with_only_a_requirements_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    _write(pytester.path, "pytest.ini", "[pytest]\npythonpath = .\n")
    _write(pytester.path, "requirements.txt", "fakelib>=1.0\n")
    _write(
        pytester.path,
        "app.py",
        "import fakelib\n\ndef go():\n    return fakelib.new_api()\n",
    )
    _write(
        pytester.path,
        "tests/test_app.py",
        "import app\n\ndef test_go():\n    assert app.go() == 'new'\n",
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower", "--depbounds-requirements=requirements.txt"
    )
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: fakelib==1.0*",
            "*has no pyproject.toml, setup.cfg or setup.py",
            "FAILED tests/test_app.py::test_go@lower - AttributeError*new_api*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_requirements_option_and_ini_key_are_relative_to_the_ini_file(
    pytester: pytest.Pytester,
) -> None:
    from pytest_depbounds.settings import read_settings  # noqa: PLC0415

    sub = pytester.mkdir("sub")
    pytester.makeini(
        "[pytest]\ndepbounds_requirements = requirements.txt reqs/test.txt\n"
    )
    config = pytester.parseconfig(sub)
    assert read_settings(config, "lower").requirements == (
        pytester.path / "requirements.txt",
        pytester.path / "reqs" / "test.txt",
    )
    config = pytester.parseconfig(sub, "--depbounds-requirements=a.txt,b.txt")
    assert read_settings(config, "lower").requirements == (
        pytester.path / "a.txt",
        pytester.path / "b.txt",
    )


@pytest.mark.parametrize("version", ["3.10", "3.12"])
def test_marker_environment_of_another_interpreter(version: str) -> None:
    from pytest_depbounds.interpreters import find  # noqa: PLC0415

    try:
        interpreter = find(version)
    except ConfigurationError:
        pytest.skip(f"no Python {version} here")
    markers = interpreter.marker_environment()
    assert markers["python_version"] == version
    assert markers["python_full_version"] == interpreter.version
    assert markers["sys_platform"] == default_environment()["sys_platform"]


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["--depbounds-requirements", "a.txt", "b.in", "tests", "-x"], ["tests", "-x"]),
        (["--depbounds-requirements=a.txt", "b.txt", "-k", "x"], ["-k", "x"]),
        (["--depbounds-python", "3.11", "notes.txt"], ["notes.txt"]),
        (
            ["--depbounds-requirements", "a.txt", "--doctest-glob", "*.txt"],
            ["--doctest-glob", "*.txt"],
        ),
    ],
)
def test_several_requirements_files_after_one_flag(
    args: list[str], kept: list[str]
) -> None:
    from pytest_depbounds.options import strip_our_args  # noqa: PLC0415

    assert strip_our_args(args) == kept


def test_an_invalid_requirements_line_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[project]\nname = "p"\nversion = "1"\n')
    _write(pytester.path, "requirements.txt", "# deps\nfakelib >= = 1\n")
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-requirements", "requirements.txt"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: requirements.txt:2: invalid requirement: 'fakelib >= = 1'*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_pip_keeps_a_direct_reference_in_its_pins(
    tmp_path: Path, fake_index: Path
) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from pytest_depbounds.installer import read_pip_lines  # noqa: PLC0415

    sib = write_project(tmp_path / "siblib", "siblib").as_uri()
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--no-index",
            "--find-links",
            str(fake_index),
            "--report",
            str(report),
            f"siblib @ {sib}",
            "fakelib==1.0",
        ],
        check=True,
    )
    assert read_pip_lines(report) == {
        "siblib": f"siblib @ {sib}",
        "fakelib": "fakelib==1.0",
    }


def test_the_project_named_in_a_group_or_requirements_file_brings_its_extras(
    tmp_path: Path,
) -> None:
    # requests' layout: ``requests[socks]`` in its test group, ``-e .[socks]`` in
    # requirements-dev.txt. Neither is a dependency to pin from the index.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "MyProj"
        version = "1"
        dependencies = ["fakelib>=1.0"]
        [project.optional-dependencies]
        socks = ["pysocks>=1.5"]
        fast = ["speedy>=2"]
        [dependency-groups]
        test = ["myproj[socks]", "kwlib>=1.2", "MyProj"]
        """,
    )
    _write(tmp_path, "requirements-dev.txt", "-e .[fast]\nparselib>=3\n")
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert _located(declaration) == [
        ("fakelib>=1.0", "pyproject.toml:4", ""),
        ("pysocks>=1.5", "pyproject.toml:6", "extra socks"),
        ("kwlib>=1.2", "pyproject.toml:9", "group test"),
    ]
    # What a missing import is checked against: extras, groups and requirements
    # files left out.
    assert declaration.unselected == {
        "speedy": "extra fast",
        "parselib": "file requirements-dev.txt",
    }
    declaration = read_declaration(
        tmp_path,
        extras=["socks"],
        groups=None,
        requirements_files=[tmp_path / "requirements-dev.txt"],
    )
    assert _located(declaration) == [
        ("fakelib>=1.0", "pyproject.toml:4", ""),
        ("pysocks>=1.5", "pyproject.toml:6", "extra socks"),
        ("speedy>=2", "pyproject.toml:7", "extra fast"),
        ("kwlib>=1.2", "pyproject.toml:9", "group test"),
        ("parselib>=3", "requirements-dev.txt:2", "requirements requirements-dev.txt"),
    ]
    # ``-e .`` in requirements/dev.txt means the project dir to pip run there.
    _write(tmp_path, "requirements/dev.txt", "-e .[fast]\n")
    nested = read_declaration(
        tmp_path,
        extras=(),
        groups=(),
        requirements_files=[tmp_path / "requirements" / "dev.txt"],
    )
    assert [r.name for r in nested.requirements] == ["fakelib", "speedy"]


def test_included_groups_are_located_in_their_own_group_and_read_once(
    tmp_path: Path,
) -> None:
    # platformdirs' layout: dev includes test and type, type includes test, and
    # covdefaults is written in two groups; structlog's: twisted in two groups.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "p"
        version = "1"
        [dependency-groups]
        dev = [
          { include-group = "test" },
          { include-group = "type" },
          { include-group = "coverage" },
        ]
        test = [
          "appdirs==1.4.4",
          "covdefaults>=2.3",
        ]
        type = ["twisted", { include-group = "test" }]
        coverage = [
          "covdefaults>=2.3",
          "twisted",
        ]
        """,
    )
    declaration = read_declaration(tmp_path, extras=(), groups=["dev"])
    assert _located(declaration) == [
        ("appdirs==1.4.4", "pyproject.toml:11", "group test"),
        ("covdefaults>=2.3", "pyproject.toml:12", "group test"),
        ("twisted", "pyproject.toml:14", "group type"),
        ("covdefaults>=2.3", "pyproject.toml:16", "group coverage"),
        ("twisted", "pyproject.toml:17", "group coverage"),
    ]


def test_locations_of_escaped_and_normalised_requirements(tmp_path: Path) -> None:
    # cattrs' layout: an escaped marker in an extra, single quotes in a group
    # (packaging hands group entries back in its own spelling).
    _write(
        tmp_path,
        "pyproject.toml",
        r"""
        [project]
        name = "p"
        version = "1"
        [project.optional-dependencies]
        fast = [
            "orjson>=3.11; implementation_name == \"cpython\"",
        ]
        [dependency-groups]
        test = [
            "kwlib; python_version == '3.14' and implementation_name == 'cpython'",
            'parselib >= 1.0',
        ]
        """,
    )
    declaration = read_declaration(tmp_path, extras=["fast"], groups=None)
    assert [r.location for r in declaration.requirements] == [
        "pyproject.toml:6",
        "pyproject.toml:10",
        "pyproject.toml:11",
    ]


def test_a_pytest_plugins_runtime_pytest_is_under_test_its_test_tooling_is_not(
    tmp_path: Path,
) -> None:
    # pytest-mock declares ``pytest>=6.2.5``: its users get that floor.
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "pytest-thing"
        version = "1"
        dependencies = ["pytest>=6.2.5", "fakelib>=1.0"]
        [dependency-groups]
        test = ["pytest-cov>=4"]
        """,
    )
    declaration = read_declaration(tmp_path, extras=(), groups=None)
    assert [r.name for r in declaration.under_test] == ["pytest", "fakelib"]
    assert [r.name for r in declaration.tooling] == ["pytest-cov"]
