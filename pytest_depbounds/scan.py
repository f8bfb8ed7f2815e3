"""The static floor check: used symbols and keywords missing at a bound, no env.

The project's sources are read with `ast` for the dependency names they use
(``import a.b``, ``from a import b``, ``a.b.c``, ``a.func(kw=...)``). Each
direct dependency's API at its floor and at its newest admitted version is read
from its wheel with griffe's static loader (nothing is installed or imported)
and kept as a small JSON summary per wheel in the cache, so a warm scan reads
no wheel at all. A use missing at the floor is reported with the first release
that has it; a use missing at the newest release, with the last that had it.

What cannot be known statically is skipped and said: modules defining
``__getattr__``, compiled modules, names re-exported from another package, and
the project's own star-imports. Imports guarded by ``try``/``except
ImportError`` or ``hasattr`` are the project's own fallbacks and are not
reported.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import packaging.tags
from packaging.markers import (
    InvalidMarker,
    UndefinedComparison,
    UndefinedEnvironmentName,
)
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pytest_depbounds.errors import DepboundsError
from pytest_depbounds.index import Index
from pytest_depbounds.results import Note

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from packaging.requirements import Requirement

    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.installer import IndexSettings

#: The note kind of a static finding.
KIND = "static-missing"
#: Seconds a dist's list of wheels is reused (as ``--depbounds-refresh``).
DEFAULT_REFRESH = 3600.0
#: Bumped when the way uses are read changes (the per-file cache is dropped).
USES_FORMAT = 2
#: Bumped when the cached API summaries change shape.
SUMMARY_FORMAT = 4
#: Bumped when the way uses are looked up in a summary changes (stored answers
#: are dropped).
LOOKUP_FORMAT = 2

#: An ``__init__.py`` sharing its package with other distributions.
_NAMESPACE = re.compile(r"\b(?:extend_path|declare_namespace)\(")
#: Folders of a project that hold no code of its own.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "build", "dist", "node_modules", "site-packages", "venv"}
)
#: Exceptions whose handler makes an import a guarded, optional one.
_GUARDS = frozenset(
    {"ImportError", "ModuleNotFoundError", "AttributeError", "Exception", "TypeError"}
)
#: Module attributes every module has, listed or not.
_IMPLICIT = frozenset(
    {
        "__name__",
        "__file__",
        "__doc__",
        "__path__",
        "__spec__",
        "__loader__",
        "__package__",
        "__dict__",
        "__all__",
        "__builtins__",
        "__class__",
        "__module__",
        "__qualname__",
        "__init__",
        "__call__",
        "__version__",
    }
)
_MAX_ALIAS_HOPS = 16
#: Parameter kinds in the summaries: griffe's names, one letter each.
_KINDS = {
    "positional-only": "P",
    "positional or keyword": "K",
    "variadic positional": "V",
    "keyword-only": "O",
    "variadic keyword": "W",
}
_VAR_KEYWORD = "W"
_BY_KEYWORD = frozenset({"K", "O"})

Bound = Literal["lower", "upper"]


# -- the project's uses ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Usage:
    """One use of an imported name by the project."""

    #: Dotted path: ``libfoo.sub.func``.
    symbol: str
    #: The keyword passed in a call, if this is a keyword use.
    keyword: str | None = None
    #: ``path:line`` in the project.
    site: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectUses:
    """Every use the project's sources make of imported names."""

    uses: tuple[Usage, ...]
    #: ``(module, path:line)`` of each ``from x import *``, which hides its names.
    star_imports: tuple[tuple[str, str], ...]
    #: Files that do not parse.
    unparsable: tuple[str, ...]


def project_files(project_dir: Path) -> list[Path]:
    """The project's own Python files: its packages, tests and scripts.

    :param project_dir: The folder holding ``pyproject.toml``.
    :returns: ``.py`` files, without virtualenvs, caches and build output.
    """
    found = []
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in _SKIPPED_DIRS
            and not (Path(root) / d / "pyvenv.cfg").exists()
        )
        found += [Path(root) / f for f in sorted(files) if f.endswith(".py")]
    return found


def is_own(project_dir: Path, symbol: str) -> bool:
    """Whether a dotted use names the project's own module, not a dependency's.

    ``tests.server.Server`` is the project's when it has a ``tests`` package
    under its root or its ``src`` folder, even if a dependency's wheel also
    installs one. A namespace the project shares with a dependency
    (``zope/__init__.py`` declaring it, beside ``zope.interface``) is its own only
    down to the submodules it has.

    :param project_dir: The folder holding ``pyproject.toml``.
    :param symbol: The dotted use, e.g. ``tests.server.Server``.
    :returns: True for the project's own module.
    """
    top, _, rest = symbol.partition(".")
    for root in (project_dir, project_dir / "src"):
        if (root / f"{top}.py").is_file():
            return True
        init = root / top / "__init__.py"
        if not init.is_file():
            continue
        try:
            shared = _NAMESPACE.search(init.read_text(encoding="utf-8")) is not None
        except (OSError, UnicodeDecodeError):
            shared = False
        if not shared:
            return True
        sub = root / top / rest.partition(".")[0]
        return bool(rest) and (
            (sub / "__init__.py").is_file() or sub.with_suffix(".py").is_file()
        )
    return False


def read_uses(
    project_dir: Path,
    files: Iterable[Path] | None = None,
    *,
    cache: Path | None = None,
) -> ProjectUses:
    """Read the imports and the attribute and keyword uses of imported names.

    :param project_dir: The project folder (sites are relative to it).
    :param files: The files to read (default: `project_files`).
    :param cache: A JSON file keeping each file's uses by its size and mtime, so
        that a warm scan parses only the files that changed.
    :returns: The uses, in file and line order.
    """
    known: dict[str, Any] = {}
    if cache is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError, KeyError):
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("format") == USES_FORMAT:
                known = data["files"]
    fresh: dict[str, Any] = {}
    uses: list[Usage] = []
    stars: list[tuple[str, str]] = []
    broken: list[str] = []
    for path in project_files(project_dir) if files is None else files:
        relative = path.relative_to(project_dir).as_posix()
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp = [stat.st_mtime_ns, stat.st_size]
        entry = known.get(relative)
        if not isinstance(entry, dict) or entry.get("stamp") != stamp:
            entry = {"stamp": stamp, **_read_file(path, relative)}
        fresh[relative] = entry
        if entry.get("broken"):
            broken.append(relative)
        uses += [Usage(symbol=u, keyword=k, site=s) for u, k, s in entry["uses"]]
        stars += [(m, s) for m, s in entry["stars"]]
    if cache is not None and fresh != known:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f".{cache.name}.{os.getpid()}")
            data = {"format": USES_FORMAT, "files": fresh}
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(cache)
    return ProjectUses(
        uses=tuple(uses), star_imports=tuple(stars), unparsable=tuple(broken)
    )


def _read_file(path: Path, relative: str) -> dict[str, Any]:
    """One file's uses and star-imports, as JSON-ready lists."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return {"uses": [], "stars": [], "broken": True}
    reader = _UseReader(relative)
    reader.visit(tree)
    return {
        "uses": [[u.symbol, u.keyword, u.site] for u in reader.result()],
        "stars": [list(star) for star in reader.stars],
    }


class _UseReader(ast.NodeVisitor):
    """Collects the uses in one module; names rebound other than by import are left."""

    def __init__(self, relative: str) -> None:
        self.relative = relative
        #: Local name → dotted module path it was imported as.
        self.bound: dict[str, str] = {}
        #: Names also bound by something other than an import.
        self.rebound: set[str] = set()
        self.found: list[tuple[str, Usage]] = []
        self.stars: list[tuple[str, str]] = []
        self.guarded = 0
        #: What a guarded import brought (``libfoo.fast``): uses of it elsewhere
        #: are the project's optional code paths too.
        self.optional: set[str] = set()

    def result(self) -> list[Usage]:
        # A use through a name that is also assigned, is a parameter, ... is not
        # known to be the module: it is left out rather than guessed.
        return [
            u
            for name, u in self.found
            if name not in self.rebound
            and not any(
                u.symbol == o or u.symbol.startswith(f"{o}.") for o in self.optional
            )
        ]

    def _site(self, node: ast.AST) -> str:
        return f"{self.relative}:{getattr(node, 'lineno', 0)}"

    def _use(
        self, name: str, symbol: str, node: ast.AST, keyword: str | None = None
    ) -> None:
        if self.guarded and isinstance(node, (ast.Import, ast.ImportFrom)):
            self.optional.add(symbol)
        if not self.guarded:
            self.found.append(
                (name, Usage(symbol=symbol, keyword=keyword, site=self._site(node)))
            )

    # -- bindings ---------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bound[alias.asname] = alias.name
                self._use(alias.asname, alias.name, node)
            else:
                top = alias.name.partition(".")[0]
                self.bound[top] = top
                self._use(top, alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # the project's own relative imports
        for alias in node.names:
            if alias.name == "*":
                self.stars.append((node.module, self._site(node)))
                continue
            local = alias.asname or alias.name
            symbol = f"{node.module}.{alias.name}"
            self.bound[local] = symbol
            self._use(local, symbol, node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.rebound.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.rebound.add(node.arg)

    def _define(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> None:
        self.rebound.add(node.name)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _define  # noqa: N815

    # -- uses -------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted is not None and dotted[0] in self.bound:
            if not isinstance(node.ctx, ast.Load):
                return  # setting a module attribute (a patch) is not a use of its API
            name, rest = dotted[0], dotted[1:]
            self._use(name, ".".join([self.bound[name], *rest]), node)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        dotted = _dotted(node.func)
        if dotted is not None and dotted[0] in self.bound:
            name, rest = dotted[0], dotted[1:]
            symbol = ".".join([self.bound[name], *rest])
            for keyword in node.keywords:
                if keyword.arg is not None:
                    self._use(name, symbol, keyword, keyword.arg)
        self.generic_visit(node)

    # -- guards -----------------------------------------------------------------

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches(h.type) for h in node.handlers)
        self.guarded += guarded
        for statement in node.body:
            self.visit(statement)
        self.guarded -= guarded
        for other in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(other)

    visit_TryStar = visit_Try  # noqa: N815

    def visit_If(self, node: ast.If) -> None:
        # ``if hasattr(mod, "x")`` / ``getattr(mod, "x", None)``: a checked use;
        # ``if TYPE_CHECKING:`` never runs.
        guarded = any(
            (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id in {"hasattr", "getattr"}
            )
            or (isinstance(n, ast.Name) and n.id == "TYPE_CHECKING")
            or (isinstance(n, ast.Attribute) and n.attr == "TYPE_CHECKING")
            for n in ast.walk(node.test)
        )
        self.guarded += guarded
        self.visit(node.test)
        for child in node.body:
            self.visit(child)
        self.guarded -= guarded
        for child in node.orelse:
            self.visit(child)


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _catches(handler: ast.expr | None) -> bool:
    if handler is None:
        return True
    names = handler.elts if isinstance(handler, ast.Tuple) else [handler]
    return any(
        (isinstance(n, ast.Name) and n.id in _GUARDS)
        or (isinstance(n, ast.Attribute) and n.attr in _GUARDS)
        for n in names
    )


# -- a dependency's API, from its wheel -----------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Api:
    """The static API of one version of one distribution."""

    dist: str
    version: str
    top_level: tuple[str, ...]
    #: Dotted path → one string (a small summary parses fast): ``m`` module,
    #: ``c`` class (``*`` after either: dynamic attributes), ``f`` function
    #: followed by ``name:kind`` parameters, ``v`` value, ``a`` alias followed by
    #: its target, ``x`` compiled module, ``u`` unreadable.
    objects: Mapping[str, str]
    #: Namespace packages (no ``__init__``), which other dists may share.
    namespaces: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Lookup:
    """Whether a dotted use exists in an API."""

    state: Literal["present", "missing", "unknown"]
    #: For ``missing``: the first part that does not exist (``libfoo.new_api``),
    #: or the callable; for ``unknown``: why it cannot be told.
    detail: str = ""
    #: For ``missing``: the keyword the callable does not accept, if that is it.
    keyword: str | None = None


def load_api(wheel: Path, dist: str, version: str) -> Api:
    """Read a wheel's API with griffe, without installing or importing it.

    :param wheel: The wheel file.
    :param dist: Its distribution name.
    :param version: Its version.
    :returns: The API summary.
    """
    import griffe  # noqa: PLC0415 - only the scan needs it

    with tempfile.TemporaryDirectory(prefix="depbounds-scan-") as folder:
        root = Path(folder)
        with zipfile.ZipFile(wheel) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.endswith((".py", ".pyi")) or _is_compiled(n)
            ]
            archive.extractall(root, members=names)
        top_level = _top_level(names)
        objects: dict[str, str] = {}
        for name in names:
            if _is_compiled(name):
                dotted = _module_of(name)
                if dotted and not _has_source(names, name):
                    objects[dotted] = "x"
        loader = griffe.GriffeLoader(
            search_paths=[root], allow_inspection=False, store_source=False
        )
        # What griffe cannot follow (an alias into the stdlib) it logs, one
        # line per use: noise in our output, and the summary says "unknown".
        with griffe.logger.disable():
            for top in top_level:
                if objects.get(top) == "x":
                    continue
                try:
                    loaded = loader.load(top)
                except Exception:  # noqa: BLE001 - griffe meets any code; one bad package says so
                    objects[top] = "u"
                    continue
                _summarise(loaded, objects)
    return Api(
        dist=dist,
        version=version,
        top_level=tuple(top_level),
        objects=objects,
        namespaces=_namespaces(names),
    )


def _top_level(names: Sequence[str]) -> list[str]:
    tops: dict[str, None] = {}
    for name in names:
        first, _, rest = name.partition("/")
        if first.endswith((".dist-info", ".data")):
            continue
        stem = first.partition(".")[0] if not rest else first
        if stem.isidentifier():
            tops[stem] = None
    return list(tops)


def _namespaces(names: Sequence[str]) -> tuple[str, ...]:
    """Package folders without ``__init__``: shared with other dists (``google``)."""
    folders: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folders.add("/".join(parts[:depth]))
    return tuple(
        sorted(
            folder.replace("/", ".")
            for folder in folders
            if f"{folder}/__init__.py" not in names
            and f"{folder}/__init__.pyi" not in names
            and all(p.isidentifier() for p in folder.split("/"))
        )
    )


def _is_compiled(name: str) -> bool:
    return name.endswith((".so", ".pyd"))


def _module_of(name: str) -> str | None:
    parts = name.split("/")
    stem = parts[-1].partition(".")[0]
    parts[-1] = stem
    if parts[-1] == "__init__":
        parts.pop()
    dotted = ".".join(parts)
    return dotted if all(p.isidentifier() for p in parts) and parts else None


def _has_source(names: Sequence[str], compiled: str) -> bool:
    folder, _, leaf = compiled.rpartition("/")
    stem = leaf.partition(".")[0]
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}{stem}.py" in names or f"{prefix}{stem}.pyi" in names


def _summarise(obj: Any, objects: dict[str, str]) -> None:  # noqa: ANN401 - a griffe object
    """Flatten a griffe module tree into dotted paths (aliases kept as targets)."""
    stack = [obj]
    while stack:
        current = stack.pop()
        path = current.path
        if path in objects:
            continue
        if current.is_alias:
            objects[path] = f"a{current.target_path}"
            continue
        objects[path], members = _entry(current)
        for name, member in members.items():
            if member.is_alias or member.path != f"{path}.{name}":
                # Inherited or re-exported: reachable here, defined elsewhere.
                target = member.target_path if member.is_alias else member.path
                objects.setdefault(f"{path}.{name}", f"a{target}")
                if member.is_alias:
                    continue
            stack.append(member)


def _entry(obj: Any) -> tuple[str, dict[str, Any]]:  # noqa: ANN401 - a griffe object
    """One object's summary, and the members to summarise after it."""
    kind = obj.kind.value
    if kind == "module":
        members = dict(obj.members)
        return "m*" if "__getattr__" in members else "m", members
    if kind == "class":
        members = _class_members(obj)
        dynamic = "__getattr__" in members or not _bases_known(obj)
        return "c*" if dynamic else "c", members
    if kind == "function":
        return "f" + _parameters(obj), {}
    target = _bound_name(obj)
    return (f"a{target}", {}) if target else ("v", {})


def _bound_name(attribute: Any) -> str | None:  # noqa: ANN401 - a griffe attribute
    """What ``Token = generic.Token`` names, in the same package; else ``None``.

    Only a bare name or attribute: a call (``x = f()``) holds what it returned.
    """
    import griffe  # noqa: PLC0415 - only the scan needs it

    value = getattr(attribute, "value", None)
    if not isinstance(value, (griffe.ExprName, griffe.ExprAttribute)):
        return None
    try:
        path = str(value.canonical_path)
    except Exception:  # noqa: BLE001 - griffe meets any code: a value, then
        return None
    same = path.partition(".")[0] == str(attribute.path).partition(".")[0]
    return path if same and path != attribute.path else None


def _class_members(cls: Any) -> dict[str, Any]:  # noqa: ANN401 - a griffe class
    try:
        return dict(cls.all_members)
    except Exception:  # noqa: BLE001 - unresolvable bases: own members only
        return dict(cls.members)


def _bases_known(cls: Any) -> bool:  # noqa: ANN401 - a griffe class
    bases = [str(b) for b in cls.bases]
    plain = {"object", "Exception", "BaseException", "ValueError", "TypeError"}
    try:
        resolved = len(cls.resolved_bases)
    except Exception:  # noqa: BLE001 - a base griffe cannot follow
        return False
    return resolved >= len([b for b in bases if b not in plain])


def _parameters(function: Any) -> str:  # noqa: ANN401 - a griffe function
    """``name:kind,...`` with griffe's kind names shortened (see `_KINDS`)."""
    return ",".join(
        f"{p.name}:{_KINDS.get(p.kind.value, '?')}" for p in function.parameters
    )


class ApiCache:
    """API summaries per wheel, read from JSON when cached, from the wheel if not."""

    def __init__(self, folder: Path) -> None:
        """Keep summaries in ``folder``.

        :param folder: The cache folder (created on first write).
        """
        self.folder = folder
        self._loaded: dict[str, Api] = {}
        #: Wheels read from their archive in this run (for the benchmark).
        self.built = 0

    def get(
        self, wheel: Callable[[], Path], filename: str, dist: str, version: str
    ) -> Api:
        """The summary of one wheel.

        :param wheel: Gives the wheel's path, downloading it when needed.
        :param filename: The wheel's file name (the cache key).
        :param dist: Its distribution name.
        :param version: Its version.
        :returns: Its API.
        """
        if filename in self._loaded:
            return self._loaded[filename]
        target = self.folder / f"{filename}.json"
        api = None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(target.read_text(encoding="utf-8"))
            if data.get("format") == SUMMARY_FORMAT:
                api = Api(
                    dist=data["dist"],
                    version=data["version"],
                    top_level=tuple(data["top_level"]),
                    objects=data["objects"],
                    namespaces=tuple(data["namespaces"]),
                )
        if api is None:
            api = load_api(wheel(), dist, version)
            self.built += 1
            self.folder.mkdir(parents=True, exist_ok=True)
            data = {"format": SUMMARY_FORMAT, **dataclasses.asdict(api)}
            temporary = target.with_name(f".{target.name}.{os.getpid()}")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(target)
        self._loaded[filename] = api
        return api


def lookup(api: Api, symbol: str) -> Lookup:
    """Say whether a dotted name exists in an API.

    :param api: One version's API.
    :param symbol: e.g. ``libfoo.sub.func``.
    :returns: present, missing (with the first missing part) or unknown (why).
    """
    found = _walk(api, symbol)
    return found if isinstance(found, Lookup) else Lookup(state="present")


def _walk(api: Api, symbol: str) -> Lookup | tuple[str, str]:  # noqa: PLR0911 - one answer per case
    """The object a dotted name reaches (its path and entry), else why not.

    A ``present`` answer is a name reached through a value or a function
    (``pytest.mark.skipif``), which is no API question.
    """
    parts = symbol.split(".")
    path = parts[0]
    if path not in api.objects:
        return Lookup(state="missing", detail=path)
    for part in parts[1:]:
        resolved = _resolve(api, path)
        if isinstance(resolved, Lookup):
            return resolved
        path, entry = resolved
        kind = entry[:1]
        if kind not in {"m", "c"}:
            # An attribute of a function or a value: not an API question.
            return Lookup(state="present")
        child = f"{path}.{part}"
        if child in api.objects:
            path = child
            continue
        if entry.endswith("*"):
            why = "defines __getattr__" if kind == "m" else "has dynamic bases"
            return Lookup(state="unknown", detail=f"`{path}` {why}")
        if part in _IMPLICIT:
            return Lookup(state="present")
        return Lookup(state="missing", detail=child)
    return _resolve(api, path)


def accepts(api: Api, symbol: str, keyword: str) -> Lookup:
    """Say whether a callable accepts a keyword argument.

    :param api: One version's API.
    :param symbol: The callable's dotted name.
    :param keyword: The keyword.
    :returns: present (accepted), missing, or unknown.
    """
    # Resolved along the walk: a module alias on the way (`pkg.sub.func`) is
    # followed, and a callable reached through a value is no API question.
    resolved = _walk(api, symbol)
    if isinstance(resolved, Lookup):
        return resolved
    path, entry = resolved
    skip_first = False
    if entry.startswith("c"):
        init = _resolve(api, f"{path}.__init__")
        if isinstance(init, Lookup) or not init[1].startswith("f"):
            return Lookup(state="unknown", detail=f"no `__init__` found for `{path}`")
        entry, skip_first = init[1], True
    if not entry.startswith("f"):
        return Lookup(state="unknown", detail=f"`{path}` is not a function")
    params = [p.rpartition(":") for p in entry[1:].split(",") if p]
    if skip_first:
        params = params[1:]
    for name, _, kind in params:
        if kind == _VAR_KEYWORD or (name == keyword and kind in _BY_KEYWORD):
            return Lookup(state="present")
    return Lookup(state="missing", detail=symbol, keyword=keyword)


def _resolve(api: Api, path: str) -> tuple[str, str] | Lookup:
    """Follow aliases to the object a path names."""
    for _ in range(_MAX_ALIAS_HOPS):
        entry = api.objects.get(path)
        if entry is None:
            if path.partition(".")[0] not in api.top_level:
                return Lookup(state="unknown", detail=f"`{path}` is another package's")
            return Lookup(state="unknown", detail=f"`{path}` not found")
        kind = entry[:1]
        if kind == "a":
            path = entry[1:]
            continue
        if kind == "x":
            return Lookup(state="unknown", detail=f"`{path}` is a compiled module")
        if kind == "u":
            return Lookup(state="unknown", detail=f"`{path}` could not be read")
        return path, entry
    return Lookup(state="unknown", detail=f"`{path}`: too many aliases")


# -- where wheels come from -----------------------------------------------------


class WheelFile(Protocol):
    """One file of a distribution as a listing gives it."""

    @property
    def filename(self) -> str: ...  # noqa: D102
    @property
    def url(self) -> str: ...  # noqa: D102
    @property
    def version(self) -> Version: ...  # noqa: D102
    @property
    def yanked(self) -> bool: ...  # noqa: D102


class Listing(Protocol):
    """Lists the files of a distribution (find-links folders, indexes).

    :class:`~pytest_depbounds.index.Index`: one code path for every request to
    an index, with its credentials, retries and redacted errors.
    """

    def files(self, name: str) -> Sequence[WheelFile]:  # noqa: D102
        ...

    def download(self, url: str, filename: str) -> Path:  # noqa: D102
        ...


# -- the scan -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class StaticFinding:
    """A use missing in one version at one bound of one dependency."""

    dist: str
    version: str
    bound: Bound
    symbol: str
    keyword: str | None
    sites: tuple[str, ...]
    #: lower: the first release that has it; upper: the last that had it.
    other: str | None
    #: The newest version looked at (for "never present up to ...").
    newest: str

    @property
    def what(self) -> str:
        """The use, as code: ``libfoo.new_api`` or ``libfoo.connect(timeout=)``."""
        return f"{self.symbol}({self.keyword}=)" if self.keyword else self.symbol

    @property
    def message(self) -> str:
        """One line: the use, where, the version lacking it, and the fix."""
        shown = ", ".join(self.sites[:3])
        if len(self.sites) > 3:  # noqa: PLR2004 - three sites are enough to read
            shown += f" and {len(self.sites) - 3} more"
        verb = "is not accepted by" if self.keyword else "does not exist in"
        present = "accepted" if self.keyword else "present"
        text = (
            f"static: `{self.what}` used at {shown} {verb} {self.dist} {self.version}"
        )
        if self.bound == "lower":
            if self.other is not None:
                text += f"; first {present} in {self.other}"
            elif self.newest == self.version:
                text += " (the only release the range admits)"
            else:
                text += f"; not {present} up to {self.newest}"
        else:
            text += " (the newest release the range admits)"
            if self.other is not None:
                text += f"; last {present} in {self.other}"
        return text

    def note(self, *, strict: bool) -> Note:
        """The finding as a note of its bound.

        :param strict: ``--depbounds-strict-scan``: the note fails the bound.
        :returns: A ``static-missing`` note.
        """
        fix = None
        if self.bound == "lower" and self.other is not None:
            fix = f"{self.dist}>={self.other}"
        return Note(
            kind=KIND,
            dist=self.dist,
            message=self.message,
            location=self.sites[0] if self.sites else None,
            fix=fix,
            fails=strict,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScanResult:
    """What the static scan found."""

    findings: tuple[StaticFinding, ...]
    #: One line per use or module that cannot be checked statically, and why.
    skipped: tuple[str, ...]
    #: Dist → (floor, newest) versions scanned.
    versions: Mapping[str, tuple[str, str]]
    #: Uses of dependency names checked.
    checked: int
    seconds: float
    #: Wheels whose API was read from the archive (not from the cache).
    built: int

    def notes(self, bound: str, *, strict: bool) -> tuple[Note, ...]:
        """The findings of one bound as notes.

        :param bound: ``lower`` or ``upper``.
        :param strict: Whether they fail the bound.
        :returns: ``static-missing`` notes.
        """
        return tuple(f.note(strict=strict) for f in self.findings if f.bound == bound)

    def lines(self) -> list[str]:
        """The report a user reads, findings first."""
        out = [f.message for f in self.findings]
        out += [f"skipped: {s}" for s in self.skipped]
        scanned = ", ".join(f"{d} {lo}..{hi}" for d, (lo, hi) in self.versions.items())
        count = len(self.versions)
        out.append(
            f"scan: {self.checked} use{'' if self.checked == 1 else 's'} of {count} "
            f"dependenc{'y' if count == 1 else 'ies'} checked "
            f"({scanned or 'none'}) in {self.seconds:.2f} s: "
            f"{len(self.findings)} missing"
        )
        return out

    def as_json(self) -> dict[str, Any]:
        """The result as JSON."""
        return {
            "findings": [
                {**dataclasses.asdict(f), "message": f.message} for f in self.findings
            ],
            "skipped": list(self.skipped),
            "versions": {d: list(v) for d, v in self.versions.items()},
            "checked": self.checked,
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Wheel:
    """A wheel as listed (and cached between runs)."""

    filename: str
    url: str
    version: Version
    yanked: bool = False
    requires_python: str | None = None


class _Dist:
    """One direct dependency: its admitted wheels and their APIs."""

    def __init__(
        self,
        name: str,
        specifier: SpecifierSet,
        files: Sequence[WheelFile],
        scanner: Scanner,
    ) -> None:
        self.name = name
        self.scanner = scanner
        by_version: dict[Version, list[WheelFile]] = {}
        for file in files:
            if not file.yanked and file.filename.endswith(".whl"):
                by_version.setdefault(file.version, []).append(file)
        # The floor the dynamic run meets: a version whose wheel installs here
        # (uv steps over an old floor without a wheel for this Python as well).
        usable = [v for v, found in by_version.items() if any(map(_installs, found))]
        self.versions = sorted(specifier.filter(usable or by_version))
        self.files = by_version
        self._apis: dict[Version, Api] = {}

    def api(self, version: Version) -> Api:
        """The API of one version, from the cache or its wheel."""
        if version in self._apis:
            return self._apis[version]
        # Any wheel of a version has the same pure-Python API: prefer a universal one.
        wheel = min(
            self.files[version],
            key=lambda f: (not f.filename.endswith("-none-any.whl"), f.filename),
        )
        api = self._apis[version] = self.scanner.cache.get(
            lambda: self.scanner.listing.download(wheel.url, wheel.filename),
            wheel.filename,
            self.name,
            str(version),
        )
        return api


class Scanner:
    """Runs the static scan of one project."""

    def __init__(
        self, listing: Listing, cache_dir: Path, *, refresh: float = DEFAULT_REFRESH
    ) -> None:
        """Prepare a scan.

        :param listing: Where the dependencies' wheels are listed.
        :param cache_dir: The depbounds cache dir (``scan/`` is used inside).
        :param refresh: Seconds a dist's list of wheels is reused before the index
            is read again (0: every run), as ``--depbounds-refresh``.
        """
        self.listing = listing
        self.cache = ApiCache(cache_dir / "scan" / "api")
        self.listings_dir = cache_dir / "scan" / "listings"
        self.refresh = refresh

    def _files(self, name: str) -> Sequence[WheelFile]:
        """A dist's wheels: listed again only after ``refresh`` seconds."""
        if not _remote(self.listing):
            return self.listing.files(name)  # local folders: listing them is cheap
        where = repr(getattr(self.listing, "settings", type(self.listing).__name__))
        key = hashlib.sha256(f"{name}\0{where}".encode()).hexdigest()[:16]
        target = self.listings_dir / f"{name}-{key}.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if time.time() - target.stat().st_mtime < self.refresh:
                return [
                    _Wheel(
                        filename=f,
                        url=u,
                        version=Version(v),
                        yanked=y,
                        requires_python=r,
                    )
                    for f, u, v, y, r in json.loads(target.read_text(encoding="utf-8"))
                ]
        files = list(self.listing.files(name))
        with contextlib.suppress(OSError):
            target.parent.mkdir(parents=True, exist_ok=True)
            data = [
                [
                    f.filename,
                    f.url,
                    str(f.version),
                    f.yanked,
                    getattr(f, "requires_python", None),
                ]
                for f in files
            ]
            temporary = target.with_name(f".{target.name}.{os.getpid()}")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(target)
        return files

    def scan(self, declaration: Declaration) -> ScanResult:
        """Check the project's uses against each direct dependency's floor and top.

        :param declaration: The project's declared requirements.
        :returns: The findings.
        """
        started = time.perf_counter()
        project = str(declaration.project_dir.resolve())
        key = hashlib.sha256(project.encode()).hexdigest()[:16]
        uses = read_uses(
            declaration.project_dir,
            cache=self.cache.folder.parent / "uses" / f"{key}.json",
        )
        skipped = [f"{f} (does not parse)" for f in uses.unparsable]
        # ``from tests.server import ...``: the project's own package, even when
        # a dependency's wheel also (wrongly) installs a top-level ``tests``.
        uses = dataclasses.replace(
            uses,
            uses=tuple(
                u for u in uses.uses if not is_own(declaration.project_dir, u.symbol)
            ),
        )
        dists: dict[str, _Dist] = {}
        for requirement in declaration.under_test:
            name = requirement.name
            if name in dists or name == declaration.project_name:
                continue
            if not _applies(requirement.requirement):
                continue
            specifier = requirement.requirement.specifier
            files = self._files(name)
            dist = _Dist(name, specifier, files, self)
            if not dist.versions:
                skipped.append(f"{name}: no wheel admitted by the range")
                continue
            dists[name] = dist
            lowest = min(specifier.filter({f.version for f in files if not f.yanked}))
            if lowest < dist.versions[0]:
                skipped.append(
                    f"{name} {lowest}: no wheel that installs here (an sdist only, or "
                    f"wheels for other interpreters): scanned from {dist.versions[0]}"
                )
        # Same uses, same wheels: the same answer, without reading any summary.
        inputs = json.dumps(
            [
                SUMMARY_FORMAT,
                USES_FORMAT,
                LOOKUP_FORMAT,
                [[u.symbol, u.keyword, u.site] for u in uses.uses],
                uses.star_imports,
                skipped,
                {
                    n: [f.filename for v in d.versions for f in d.files[v]]
                    for n, d in dists.items()
                },
            ]
        )
        digest = hashlib.sha256(inputs.encode()).hexdigest()
        stored = self.cache.folder.parent / "results" / f"{key}.json"
        result = _stored_result(stored, digest)
        if result is None:
            result = self._scan(uses, dists, skipped)
            _store_result(stored, digest, result)
        return dataclasses.replace(
            result, seconds=time.perf_counter() - started, built=self.cache.built
        )

    def _scan(
        self, uses: ProjectUses, dists: Mapping[str, _Dist], skipped: list[str]
    ) -> ScanResult:
        roots: dict[str, list[str]] = {}
        versions: dict[str, tuple[str, str]] = {}
        for name, dist in dists.items():
            floor, newest = dist.versions[0], dist.versions[-1]
            versions[name] = (str(floor), str(newest))
            for top in dist.api(floor).top_level + dist.api(newest).top_level:
                owners = roots.setdefault(top, [])
                if name not in owners:
                    owners.append(name)
        findings, checked, reasons = self._check(uses.uses, dists, roots)
        skipped = [
            *skipped,
            *(
                f"`from {module} import *` at {site}: the names it brings are not "
                "checked"
                for module, site in uses.star_imports
                if module.partition(".")[0] in roots
            ),
            *reasons,
        ]
        return ScanResult(
            findings=tuple(findings),
            skipped=tuple(skipped),
            versions=versions,
            checked=checked,
            seconds=0.0,
            built=0,
        )

    def _check(
        self,
        uses: Sequence[Usage],
        dists: Mapping[str, _Dist],
        roots: Mapping[str, Sequence[str]],
    ) -> tuple[list[StaticFinding], int, list[str]]:
        missing: dict[tuple[str, Bound, str, str | None], list[str]] = {}
        reasons: dict[str, list[str]] = {}
        checked = 0
        for use in uses:
            owner = _owner(use.symbol, roots, dists)
            if owner is None:
                continue
            checked += 1
            dist = dists[owner]
            edges: tuple[tuple[Bound, Version], ...] = (("lower", dist.versions[0]),)
            if len(dist.versions) > 1:
                edges += (("upper", dist.versions[-1]),)
            for bound, version in edges:
                found = _check_use(dist.api(version), use)
                if found.state == "missing":
                    key = (owner, bound, found.detail, found.keyword)
                    missing.setdefault(key, []).append(use.site)
                elif found.state == "unknown":
                    reasons.setdefault(found.detail, []).append(use.site)
        findings = [
            self._finding(dists[owner], bound, symbol, keyword, sites)
            for (owner, bound, symbol, keyword), sites in missing.items()
        ]
        skipped = [
            f"{why}: {len(set(sites))} use{'s' if len(set(sites)) != 1 else ''} "
            f"not checked ({', '.join(dict.fromkeys(sites[:3]))}"
            f"{', ...' if len(set(sites)) > 3 else ''})"  # noqa: PLR2004
            for why, sites in reasons.items()
        ]
        return findings, checked, skipped

    def _finding(
        self,
        dist: _Dist,
        bound: Bound,
        symbol: str,
        keyword: str | None,
        sites: Sequence[str],
    ) -> StaticFinding:
        use = Usage(symbol=symbol, keyword=keyword, site="")
        between = dist.versions[1:] if bound == "lower" else dist.versions[-2::-1]
        other = next(
            (v for v in between if _check_use(dist.api(v), use).state == "present"),
            None,
        )
        version = dist.versions[0] if bound == "lower" else dist.versions[-1]
        return StaticFinding(
            dist=dist.name,
            version=str(version),
            bound=bound,
            symbol=symbol,
            keyword=keyword,
            sites=tuple(dict.fromkeys(sites)),
            other=str(other) if other is not None else None,
            newest=str(dist.versions[-1]),
        )


def _stored_result(path: Path, digest: str) -> ScanResult | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["digest"] == digest:
            result = data["result"]
            return ScanResult(
                findings=tuple(
                    StaticFinding(**{**f, "sites": tuple(f["sites"])})
                    for f in result["findings"]
                ),
                skipped=tuple(result["skipped"]),
                versions={d: (lo, hi) for d, (lo, hi) in result["versions"].items()},
                checked=result["checked"],
                seconds=0.0,
                built=0,
            )
    return None


def _store_result(path: Path, digest: str, result: ScanResult) -> None:
    data = {
        "digest": digest,
        "result": {
            "findings": [dataclasses.asdict(f) for f in result.findings],
            "skipped": list(result.skipped),
            "versions": {d: list(v) for d, v in result.versions.items()},
            "checked": result.checked,
        },
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        temporary.replace(path)


@functools.cache
def _supported_tags() -> frozenset[str]:
    return frozenset(str(tag) for tag in packaging.tags.sys_tags())


def _installs(file: WheelFile) -> bool:
    """Whether a wheel installs on the interpreter running the scan."""
    try:
        tags = parse_wheel_filename(file.filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return False
    if not {str(t) for t in tags} & _supported_tags():
        return False
    requires = getattr(file, "requires_python", None)
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(
            platform.python_version(), prereleases=True
        )
    except InvalidSpecifier:
        return True


def _remote(listing: Listing) -> bool:
    """Whether a listing reads an index or a page over the network."""
    links = getattr(listing, "find_links", ())
    return bool(getattr(listing, "indexes", ())) or any(
        "://" in link and not link.startswith("file:") for link in links
    )


def _applies(requirement: Requirement) -> bool:
    """Whether a requirement's marker holds for the interpreter running the scan."""
    if requirement.marker is None:
        return True
    try:
        return requirement.marker.evaluate({"extra": ""})
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return True


def _owner(
    symbol: str, roots: Mapping[str, Sequence[str]], dists: Mapping[str, _Dist]
) -> str | None:
    """The dependency a dotted use belongs to, by its top-level name.

    A namespace package (``google``) or a name several dists install is settled
    by the longest module path a dist really has; a use reaching only a shared
    namespace belongs to none of them (it may be an undeclared dist's).
    """
    owners = roots.get(symbol.partition(".")[0], ())
    if len(owners) == 1:
        dist = dists[owners[0]]
        edges = (dist.api(dist.versions[0]), dist.api(dist.versions[-1]))
        if not any(symbol.partition(".")[0] in api.namespaces for api in edges):
            return owners[0]
    best, depth = None, 0
    parts = symbol.split(".")
    for name in owners:
        dist = dists[name]
        for api in (dist.api(dist.versions[0]), dist.api(dist.versions[-1])):
            for length in range(len(parts), 0, -1):
                prefix = ".".join(parts[:length])
                if prefix in api.objects and prefix not in api.namespaces:
                    if length > depth:
                        best, depth = name, length
                    break
    return best


def _check_use(api: Api, use: Usage) -> Lookup:
    if use.keyword is not None:
        return accepts(api, use.symbol, use.keyword)
    return lookup(api, use.symbol)


def listing_for(settings: IndexSettings, cache_dir: Path) -> Listing:
    """Where the scan lists wheels, for the user's index settings.

    :param settings: Index URLs, find-links, no-index and offline.
    :param cache_dir: The depbounds cache dir (the index keeps files under it).
    :returns: The listing: the same index reader the resolution uses.
    """
    return Index(settings, cache_dir=cache_dir / "index")


# -- ``depbounds scan`` ---------------------------------------------------------


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``depbounds scan`` to the command's subcommands.

    :param commands: The ``depbounds`` subparsers.
    """
    from pytest_depbounds.installer import add_index_arguments  # noqa: PLC0415

    parser = commands.add_parser(
        "scan",
        help="Check statically that the symbols and keywords the project uses "
        "exist at each dependency's floor and newest version",
    )
    parser.add_argument(
        "project", nargs="?", type=Path, default=Path(), help="Project folder"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="The depbounds cache dir (default: PROJECT/.pytest_cache/d/depbounds)",
    )
    parser.add_argument(
        "-r",
        "--requirements",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="Requirements file whose requirements are scanned too (repeatable), "
        "e.g. requirements.txt",
    )
    parser.add_argument("--extras", default="", help="Extras scanned too (a,b)")
    parser.add_argument("--groups", default=None, help="Dependency groups (a,b)")
    add_index_arguments(parser)
    parser.add_argument(
        "--refresh",
        type=float,
        default=DEFAULT_REFRESH,
        help="Seconds the index's list of versions is reused (default: %(default)s)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="Exit with 1 when a use is missing"
    )
    parser.add_argument("--json", type=Path, help="Write the findings as JSON")


def run_command(args: argparse.Namespace) -> int:
    """Run ``depbounds scan``.

    :param args: The parsed command line.
    :returns: The exit code: 1 with ``--strict`` and a finding, else 0.
    """
    from pytest_depbounds.declared import read_declaration  # noqa: PLC0415
    from pytest_depbounds.installer import IndexSettings  # noqa: PLC0415

    project = args.project.resolve()
    settings = IndexSettings.from_arguments(args, os.environ)
    words = [w for w in args.extras.split(",") if w]
    groups = [w for w in args.groups.split(",") if w] if args.groups else None
    cache_dir = args.cache_dir or project / ".pytest_cache" / "d" / "depbounds"
    try:
        declaration = read_declaration(
            project,
            extras=words,
            groups=groups,
            # Relative files are relative to where the command runs.
            requirements_files=[path.resolve() for path in args.requirements],
        )
        listing = listing_for(settings, cache_dir)
        refresh = float("inf") if args.offline else args.refresh
        result = Scanner(listing, cache_dir, refresh=refresh).scan(declaration)
    except DepboundsError as exc:
        sys.stderr.write(f"depbounds scan: {exc}\n")
        return exc.exit_code
    for line in result.lines():
        sys.stdout.write(f"{line}\n")
    if args.json is not None:
        args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n", "utf-8")
    return 1 if args.strict and result.findings else 0
