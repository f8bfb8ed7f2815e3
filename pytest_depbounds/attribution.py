"""Name the dependency behind a failure: dist, version, symbol and project line.

The inner session records what each exception says (its chain, its frames, the
objects on the failing line); this module reads the bound env's own metadata
(``importlib.metadata.distributions(path=[purelib])`` and their RECORD files) to
turn those facts into a `Finding`, then groups findings by culprit.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.markers import InvalidMarker, UndefinedComparison
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pytest_depbounds.declared import is_tooling

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pytest_depbounds.declared import Declaration

Kind = Literal[
    "missing-module",
    "missing-name",
    "missing-attribute",
    "call-mismatch",
    "error-in-dependency",
    "warning-from-dependency",
    "project-error-with-dependency",
    "broken-dependency",
]
Relation = Literal["direct", "transitive", "undeclared"]
Place = Literal["project", "dependency", "tooling", "other"]

#: Folders of a project that hold installed code, not the project's own.
_INSTALL_DIRS = frozenset({"site-packages", "dist-packages"})

_CANNOT_IMPORT = re.compile(
    r"cannot import name '(?P<name>[^']+)'(?: from '(?P<module>[^']+)')?"
)
_MODULE_ATTRIBUTE = re.compile(
    r"^(?:partially initialized )?module '(?P<module>[\w.]+)' has no attribute "
    r"'(?P<name>\w+)'"
)
_CALL = re.compile(r"^(?P<func>[\w.<>]+)\(\) (?P<problem>.*)$")
_KEYWORD = re.compile(
    r"got (?:an unexpected keyword argument|multiple values for argument|some "
    r"positional-only arguments passed as keyword arguments:) '(?P<arg>\w+)'"
)
_MISSING_ARGS = re.compile(r"missing \d+ required (?:positional|keyword-only) argument")
_POSITIONAL = re.compile(r"takes (?:from )?\d+ (?:to \d+ )?positional argument")
_QUOTED = re.compile(r"'(\w+)'")
#: Modules of setuptools that old releases import without declaring it.
_SETUPTOOLS = frozenset({"pkg_resources", "setuptools", "distutils"})

# pytest's short traceback, as a session that crashed before reporting printed it.
_TB_FRAME = re.compile(r"^(?P<file>\S.*?\.pyw?):(?P<lineno>\d+): in (?P<function>\S+)$")
_TB_FILE = re.compile(r'^E\s+File "(?P<path>[^"]+)", line (?P<lineno>\d+)')
_TB_ERROR = re.compile(r"^E\s+(?P<type>[A-Za-z_][\w.]*): ?(?P<message>.*)$")
_NO_MODULE = re.compile(r"^No module named '(?P<name>[^']+)'")
_ERROR_PATH = re.compile(r"\((?P<path>[^()]+\.pyw?)\)$")
_NO_ATTRIBUTE = re.compile(r"has no attribute '(?P<name>\w+)'")
_MAX_DETAIL = 200
#: Usage sites a finding's message names; the rest are counted.
_SHOWN_USAGES = 5


@dataclasses.dataclass(frozen=True, kw_only=True)
class Finding:
    """Why one failure happened, named in terms of one distribution."""

    kind: Kind
    #: The culprit distribution; ``None`` for a module no installed dist provides.
    dist: str | None
    version: str | None
    #: Dotted symbol: ``pkg.sub.name``, ``pkg.func(kw=)`` or a module name.
    symbol: str
    #: The project's own ``path:line`` (relative to the project) that used it.
    usage: str | None
    relation: Relation
    #: How the dist got installed: ``("myproj", "a 1.0", "b 3.1")`` when a declared
    #: requirement pulls it in, ``("pytest 8.3", "b 3.1")`` when test tooling does.
    chain: tuple[str, ...]
    #: The exception's type and first line.
    detail: str
    #: What is wrong, without the usage site or the chain.
    headline: str
    #: The requirement to write instead (``fakelib>=1.4``, or for a release that
    #: breaks the project, the cap ``green-io<3.0`` the advice warns about).
    fix: str | None = None
    #: What to do, ending with the fix: ``write `fakelib>=1.4` (…)``.
    advice: str | None = None
    #: The version bisection found: the lowest with which the failing tests pass
    #: (lower), or the first that breaks them (upper); ``None`` when not bisected.
    true_bound: str | None = None

    @property
    def message(self) -> str:
        """One line for a user: what is wrong, where it is used, how it is reached."""
        return self.describe((self.usage,) if self.usage else ())

    def describe(self, usages: Sequence[str]) -> str:
        """The message for one or more usage sites of the same culprit.

        :param usages: Project ``path:line`` sites.
        :returns: e.g. ``fakelib 1.0: `fakelib.new_api` missing — used at a.py:3``.
        """
        text = self.headline
        if usages:
            verb = "imported" if self.kind == "broken-dependency" else "used"
            # The rest are in the JSON report: a wall of sites hides the advice.
            shown = list(usages[:_SHOWN_USAGES])
            if len(usages) > _SHOWN_USAGES:
                shown.append(f"{len(usages) - _SHOWN_USAGES} more")
            text += f" — {verb} at {', '.join(shown)}"
        if self.relation == "transitive" and self.chain:
            text += f" (via {' → '.join(self.chain)})"
        elif self.relation == "undeclared" and self.dist is not None:
            text += "; not declared"
            if self.chain:
                text += f", installed through {' → '.join(self.chain)}"
        return text


@dataclasses.dataclass(frozen=True, kw_only=True)
class Culprit:
    """One finding and every failure it explains."""

    finding: Finding
    usages: tuple[str, ...]
    #: Node ids of the failing tests it explains.
    tests: tuple[str, ...]
    #: Node ids of the files it stopped from collecting.
    collectors: tuple[str, ...]
    #: It stopped the inner session before any test ran.
    crashed: bool = False

    @property
    def summary(self) -> str:
        """The finding with all its usage sites and how many failures it explains."""
        counts = []
        if self.crashed:
            counts.append("the inner session crashes before running a test")
        if self.tests:
            counts.append(_count(len(self.tests), "test", "fail"))
        if self.collectors:
            counts.append(_count(len(self.collectors), "file", "fail") + " to collect")
        text = ", ".join([self.finding.describe(self.usages), *counts])
        return f"{text}; {self.finding.advice}" if self.finding.advice else text


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstalledDist:
    """One distribution installed in the env."""

    name: NormalizedName
    display: str
    version: str
    requires: tuple[Requirement, ...]

    @property
    def label(self) -> str:
        """``name version``, as a user reads it."""
        return f"{self.display} {self.version}"


class SiteIndex:
    """The distributions of one env's site-packages, by file and by module."""

    def __init__(self, paths: Sequence[Path]) -> None:
        """Read every distribution installed in ``paths``.

        :param paths: The env's site-packages folders.
        """
        self.paths = tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in paths))
        self.dists: dict[NormalizedName, InstalledDist] = {}
        self._files: dict[str, NormalizedName] = {}
        self._modules: dict[str, NormalizedName] = {}
        self._packages: dict[str, set[NormalizedName]] = {}
        self._origins: dict[str, str] = {}
        for dist in metadata.distributions(path=[str(p) for p in self.paths]):
            self._add(dist)

    def _add(self, dist: metadata.Distribution) -> None:
        meta = dist.metadata
        name = meta["Name"] if "Name" in meta else None  # noqa: SIM401 - no .get()
        if not name or canonicalize_name(name) in self.dists:
            return
        key = canonicalize_name(name)
        self.dists[key] = InstalledDist(
            name=key,
            display=name,
            version=dist.version,
            requires=tuple(_requirements(dist.requires or ())),
        )
        files = dist.files
        if files is None:
            for top in (dist.read_text("top_level.txt") or "").split():
                self._packages.setdefault(top, set()).add(key)
            return
        for file in files:
            located = os.path.normpath(str(dist.locate_file(file)))
            self._files[located] = key
            self._origins[located] = file.as_posix()
            self._add_module(file.parts, key)

    def _add_module(self, parts: tuple[str, ...], key: NormalizedName) -> None:
        *folders, last = parts
        if any(not f.isidentifier() for f in folders):
            return
        for depth in range(1, len(folders) + 1):
            self._packages.setdefault(".".join(folders[:depth]), set()).add(key)
        stem, _, suffix = last.partition(".")
        if suffix not in {"py", "pyi"} and not suffix.endswith(("so", "pyd")):
            return
        if stem == "__init__":
            if folders:
                self._modules[".".join(folders)] = key
        elif stem.isidentifier():
            self._modules[".".join([*folders, stem])] = key

    def dist_of_file(self, file: str | None) -> InstalledDist | None:
        """The distribution whose RECORD lists a file, if any."""
        if not file or file.startswith("<"):
            return None
        key = self._files.get(os.path.normpath(os.path.realpath(file)))
        return self.dists.get(key) if key else None

    def record_path(self, file: str) -> str | None:
        """A file's path as its distribution's RECORD lists it."""
        return self._origins.get(os.path.normpath(os.path.realpath(file)))

    def dist_of_module(
        self, module: str, file: str | None = None
    ) -> InstalledDist | None:
        """The distribution providing a module, by its file first, else by its name.

        The file wins so that a module reached through another package's namespace
        (``requests.packages.urllib3``) maps to the dist that holds it.
        """
        found = self.dist_of_file(file)
        if found is not None:
            return found
        name = module
        while name:
            key = self._modules.get(name)
            owners = self._packages.get(name, set())
            if key is None and len(owners) == 1:
                key = next(iter(owners))
            if key is not None:
                return self.dists.get(key)
            name = name.rpartition(".")[0]
        return None

    def has_module(self, module: str) -> bool:
        """Whether some installed distribution holds this module or package."""
        return module in self._modules or module in self._packages


def site_packages(env: Path) -> tuple[Path, ...]:
    """The site-packages folders of a virtualenv, found without running it.

    :param env: The env's folder.
    :returns: Its purelib and platlib folders (one on most systems).
    """
    found = [*env.glob("lib*/*/site-packages"), *env.glob("Lib/site-packages")]
    return tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in found if p.is_dir()))


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Frame:
    file: str
    lineno: int
    function: str
    qualname: str
    module: str
    names: tuple[Mapping[str, Any], ...]
    place: Place
    dist: InstalledDist | None
    site: str | None

    @property
    def symbol(self) -> str:
        if self.function == "<module>":
            return self.module
        return f"{self.module}.{self.qualname}" if self.module else self.qualname


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Exception:
    type: str
    message: str
    facts: Mapping[str, Any]
    frames: tuple[_Frame, ...]

    @property
    def short_type(self) -> str:
        return self.type.rpartition(".")[2]

    @property
    def detail(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        # ImportError names the importing file; the finding names it better.
        path = self.facts.get("path")
        if isinstance(path, str) and path:
            first = first.removesuffix(f" ({path})")
        if len(first) > _MAX_DETAIL:
            first = first[: _MAX_DETAIL - 1] + "…"
        return f"{self.short_type}: {first}" if first else self.short_type

    def usage_index(self) -> int | None:
        indexes = [i for i, f in enumerate(self.frames) if f.place == "project"]
        return indexes[-1] if indexes else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Case:
    """One exception, split at the project's innermost frame."""

    exc: _Exception
    #: The innermost frame of the project's own code, if any.
    usage_frame: _Frame | None
    #: The frames below it (all of them without a project frame).
    deeper: tuple[_Frame, ...]

    @property
    def dependency(self) -> list[_Frame]:
        return [f for f in self.deeper if f.place == "dependency"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Target:
    kind: Kind
    symbol: str
    dist: InstalledDist | None


class Attributor:
    """Attributes the failures of one bound, given that bound's env."""

    def __init__(
        self,
        site: SiteIndex,
        declaration: Declaration,
        *,
        env_path: Path | None = None,
        implementation: str = "",
        python: str = "",
        others: Sequence[SiteIndex] = (),
        markers: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare attribution in one env.

        :param site: The env's distributions.
        :param declaration: The project's declared requirements.
        :param env_path: The env's folder (never project code, even inside it).
        :param implementation: The env's interpreter, e.g. ``CPython``.
        :param python: Its full version, e.g. ``3.11.7`` (for markers).
        :param others: The other bounds' envs, to tell a removed submodule from a
            removed name.
        :param markers: The marker environment of the env's interpreter; without
            it, the running one's with ``python``'s version.
        """
        self.site = site
        self.declaration = declaration
        self.project = declaration.project_name or declaration.project_dir.name
        self.project_dir = Path(os.path.realpath(declaration.project_dir))
        self.env_path = Path(os.path.realpath(env_path)) if env_path else None
        self.others = tuple(others)
        short = ".".join(python.split(".")[:2])
        self.interpreter = (
            " ".join(p for p in (implementation, short) if p) or "this interpreter"
        )
        self.markers = dict(markers or {}) or (
            {"python_version": short, "python_full_version": python} if python else {}
        )
        self.declared = {r.name: r.requirement for r in declaration.under_test}

    # -- entry point ----------------------------------------------------------

    def attribute(self, facts: Mapping[str, Any]) -> Finding | None:
        """The finding for one failure, or ``None`` when no dependency explains it.

        :param facts: The inner session's facts of the failure (``{"chain": [...]}``).
        :returns: The finding.
        """
        raw_chain = facts.get("chain")
        if not isinstance(raw_chain, list):
            return None
        chain = [self._exception(e) for e in raw_chain if isinstance(e, dict)]
        fallback = None
        for exc in chain:
            index = exc.usage_index()
            if index is not None:
                fallback = exc.frames[index].site
        # An exception handled inside a dependency, which then raised another
        # (requests' version check), never reached the project's frames: the
        # one that did carries the way in (the project's line, the dists between).
        carriers: list[_Exception | None] = []
        carrier = None
        for exc in chain:
            carriers.append(carrier)
            if exc.usage_index() is not None:
                carrier = exc
        # The root cause first: pytest wraps import errors in its own.
        for exc, outer in reversed(list(zip(chain, carriers, strict=True))):
            finding = self._attribute_one(exc, fallback, outer)
            if finding is not None:
                return finding
        return None

    # -- one exception --------------------------------------------------------

    def _attribute_one(
        self, exc: _Exception, fallback: str | None, outer: _Exception | None = None
    ) -> Finding | None:
        index = exc.usage_index()
        if index is not None:
            case = _Case(
                exc=exc,
                usage_frame=exc.frames[index],
                deeper=exc.frames[index + 1 :],
            )
        elif outer is not None and (way_in := outer.usage_index()) is not None:
            case = _Case(
                exc=exc,
                usage_frame=outer.frames[way_in],
                deeper=(*outer.frames[way_in + 1 :], *exc.frames),
            )
        else:
            case = _Case(exc=exc, usage_frame=None, deeper=exc.frames)
        usage = case.usage_frame.site if case.usage_frame else fallback
        make = _Maker(self, exc, usage, case.deeper)
        # In order: each rule is more specific than the ones after it.
        rules = (
            self._does_not_compile,
            self._warned,
            self._missing_or_broken,
            self._does_not_load,
            self._raised_in_dependency,
            self._on_project_line,
        )
        for rule in rules:
            finding = rule(case, make)
            if finding is not None:
                return finding
        return None

    def _does_not_compile(self, case: _Case, make: _Maker) -> Finding | None:
        if case.exc.short_type not in {"SyntaxError", "IndentationError", "TabError"}:
            return None
        return self._broken_file(case, make)

    def _does_not_load(self, case: _Case, make: _Maker) -> Finding | None:
        # A compiled module that does not load (undefined symbol, bad ABI).
        if case.exc.short_type != "ImportError" or case.dependency:
            return None
        return self._broken_file(case, make)

    def _broken_file(self, case: _Case, make: _Maker) -> Finding | None:
        path = _str(case.exc.facts.get("path"))
        dist = self._dependency(self.site.dist_of_file(path))
        if dist is None:
            return None
        return make.broken(dist, self._module_of_file(path) or dist.display)

    def _warned(self, case: _Case, make: _Maker) -> Finding | None:
        if not case.exc.facts.get("warning") or not case.dependency:
            return None
        return make.from_frames("warning-from-dependency", case.dependency[-1].dist)

    def _missing_or_broken(self, case: _Case, make: _Maker) -> Finding | None:
        target = self._target(case.exc)
        importing = [f for f in case.dependency if f.function == "<module>"]
        if importing and (target is None or target.dist in {None, importing[-1].dist}):
            # Its own import raised: a broken floor, not the project's API gap.
            first = next(f for f in importing if f.dist == importing[-1].dist)
            return make.broken(importing[-1].dist, first.module)
        if target is None or (target.dist is None and target.kind != "missing-module"):
            return None
        user = next((f for f in reversed(case.deeper) if f.place != "other"), None)
        if target.dist is None and user is not None and user.place == "dependency":
            # A dependency imports what no dist provides (pbr 5 calling
            # pkg_resources): its undeclared need, raised in it, not the project's.
            return None
        return make.finding(target.kind, target.dist, target.symbol, user)

    def _raised_in_dependency(self, case: _Case, make: _Maker) -> Finding | None:
        if not case.dependency:
            return None
        call = _call_problem(case.exc)
        kind: Kind = "call-mismatch" if call is not None else "error-in-dependency"
        return make.from_frames(kind, case.dependency[-1].dist, call or "")

    def _on_project_line(self, case: _Case, make: _Maker) -> Finding | None:
        frame, exc = case.usage_frame, case.exc
        if frame is None or any(f.place != "other" for f in case.deeper):
            return None
        # A test's own verdict, or pytest's, is not a dependency's fault.
        if exc.short_type == "AssertionError" or exc.type.startswith("_pytest."):
            return None
        best: tuple[int, str, InstalledDist] | None = None
        for name in frame.names:
            dist = self._dependency(self._dist_of_object(name))
            if dist is None:
                continue
            expr = str(name.get("expr", ""))
            # Prefer the function or class called over the module holding it.
            score = (name.get("kind") in {"function", "class"}) * 100 + expr.count(".")
            if best is None or score > best[0]:
                best = (score, expr, dist)
        if best is None:
            return None
        return make.finding("project-error-with-dependency", best[2], best[1], frame)

    def _target(self, exc: _Exception) -> _Target | None:
        """The missing or mismatched symbol an exception names, and its dist."""
        facts, short = exc.facts, exc.short_type
        # Objects on the line that raised: where the inner session resolved names.
        raising = exc.frames[-1].names if exc.frames else ()
        name = _str(facts.get("name"))
        if short == "ModuleNotFoundError" and name:
            return self._missing_module(name)
        if short == "ImportError":
            return self._cannot_import(exc, name)
        if short == "AttributeError" and name:
            return self._missing_attribute(exc, name, raising)
        if short == "TypeError":
            return self._call_target(exc, raising)
        return None

    def _cannot_import(self, exc: _Exception, module: str) -> _Target | None:
        match = _CANNOT_IMPORT.search(exc.message)
        module = module or (match.group("module") if match else "")
        if match is None or not module:
            return None
        symbol = f"{module}.{match.group('name')}"
        path = _str(exc.facts.get("path"))
        dist = self._dependency(self.site.dist_of_module(module, path))
        if dist is None:
            return None
        # ``from pkg import sub`` says "cannot import name" for a removed submodule
        # too: another bound's env tells which it was.
        if path.endswith("__init__.py") and any(
            o.has_module(symbol) for o in self.others
        ):
            return _Target(kind="missing-module", symbol=symbol, dist=dist)
        return _Target(kind="missing-name", symbol=symbol, dist=dist)

    def _missing_module(self, module: str) -> _Target | None:
        dist = self.site.dist_of_module(module)
        if dist is not None:
            dist = self._dependency(dist)
            if dist is None:
                return None
            return _Target(kind="missing-module", symbol=module, dist=dist)
        top = module.partition(".")[0]
        if top in getattr(sys, "stdlib_module_names", ()) or self._is_project_module(
            top
        ):
            return None
        return _Target(kind="missing-module", symbol=module, dist=None)

    def _missing_attribute(
        self, exc: _Exception, name: str, raising: Sequence[Mapping[str, Any]]
    ) -> _Target | None:
        obj = exc.facts.get("obj")
        if not isinstance(obj, dict):
            match = _MODULE_ATTRIBUTE.search(exc.message)
            obj = {"kind": "module", "module": match.group("module")} if match else None
        if obj is None:
            # Python < 3.10 keeps no object: find the name that lacked it.
            obj = next((n for n in raising if n.get("missing") == name), None)
        if not isinstance(obj, dict) or not obj.get("module"):
            return None
        dist = self._dependency(self._dist_of_object(obj))
        if dist is None:
            return None
        owner = (
            obj["module"]
            if obj.get("kind") == "module"
            else f"{obj['module']}.{obj.get('qualname')}"
        )
        return _Target(kind="missing-attribute", symbol=f"{owner}.{name}", dist=dist)

    def _call_target(
        self, exc: _Exception, raising: Sequence[Mapping[str, Any]]
    ) -> _Target | None:
        match = _CALL.match(exc.message)
        args = _call_problem(exc)
        if match is None or args is None:
            return None
        func = match.group("func")
        owner = func.removesuffix(".__init__")
        caller = exc.frames[-1].dist if exc.frames else None
        for candidate in raising:
            qualname = str(candidate.get("qualname") or "")
            if candidate.get("kind") not in {"function", "class"} or not qualname:
                continue
            if qualname not in {func, owner} and not func.endswith(f".{qualname}"):
                continue
            dist = self._dependency(self._dist_of_object(candidate))
            # A dist calling itself wrongly is at fault where the project entered it.
            if dist is not None and dist != caller:
                symbol = f"{candidate.get('module')}.{owner}({args})"
                return _Target(kind="call-mismatch", symbol=symbol, dist=dist)
        return None

    # -- helpers ----------------------------------------------------------------

    def _dist_of_object(self, described: Mapping[str, Any]) -> InstalledDist | None:
        module = _str(described.get("module"))
        if not module:
            return None
        return self.site.dist_of_module(module, _str(described.get("file")) or None)

    def _dependency(self, dist: InstalledDist | None) -> InstalledDist | None:
        """The dist if it is a dependency: not the project itself, not test tooling.

        Tooling the project depends on at run time (a plugin's pytest) is a
        dependency under test.
        """
        if dist is None or dist.name == self.declaration.project_name:
            return None
        if is_tooling(dist.name) and dist.name not in self.declared:
            return None
        return dist

    def _module_of_file(self, file: str) -> str | None:
        recorded = self.site.record_path(file)
        if recorded is None or not recorded.endswith(".py"):
            return None
        parts = recorded.removesuffix(".py").split("/")
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _is_project_module(self, top: str) -> bool:
        return any(
            (base / top).is_dir() or (base / f"{top}.py").is_file()
            for base in (self.project_dir, self.project_dir / "src")
        )

    def _exception(self, raw: Mapping[str, Any]) -> _Exception:
        frames = tuple(
            self._frame(f) for f in raw.get("frames") or () if isinstance(f, dict)
        )
        return _Exception(
            type=_str(raw.get("type")),
            message=_str(raw.get("message")),
            facts=raw,
            frames=frames,
        )

    def _frame(self, raw: Mapping[str, Any]) -> _Frame:
        file = _str(raw.get("file"))
        lineno = raw.get("lineno")
        lineno = lineno if isinstance(lineno, int) else 0
        names = raw.get("names")
        place: Place = "other"
        site = None
        dist = self.site.dist_of_file(file)
        if dist is not None and dist.name == self.declaration.project_name:
            place, site = "project", self._installed_project_path(file, lineno)
        elif dist is not None:
            place = "tooling" if is_tooling(dist.name) else "dependency"
        else:
            relative = self._project_path(file)
            if relative is not None:
                place, site = "project", f"{relative}:{lineno}"
        return _Frame(
            file=file,
            lineno=lineno,
            function=_str(raw.get("function")),
            qualname=_str(raw.get("qualname")) or _str(raw.get("function")),
            module=_str(raw.get("module")),
            names=tuple(n for n in names if isinstance(n, dict))
            if isinstance(names, list)
            else (),
            place=place,
            dist=dist,
            site=site,
        )

    def place(
        self, raw: Mapping[str, Any]
    ) -> tuple[Place, InstalledDist | None, str | None]:
        """Whose code a recorded frame ran (used by the deprecation radar).

        :param raw: A frame as the inner session records it (``file``, ``lineno``).
        :returns: Its place, its dist if installed, and ``path:line`` in the
            project for the project's own code.
        """
        frame = self._frame(raw)
        return frame.place, frame.dist, frame.site

    def _project_path(self, file: str) -> str | None:
        """The file's path in the project, if it is the project's own code."""
        if not file or file.startswith("<"):
            return None
        real = Path(os.path.realpath(file))
        if self.env_path is not None and real.is_relative_to(self.env_path):
            return None
        if not real.is_relative_to(self.project_dir):
            return None
        relative = real.relative_to(self.project_dir)
        # Virtualenvs, tox envs and caches inside the project are not its code.
        if any(p in _INSTALL_DIRS or p.startswith(".") for p in relative.parts[:-1]):
            return None
        return relative.as_posix()

    def _installed_project_path(self, file: str, lineno: int) -> str:
        """A non-editable install's file, named as it is in the project's source."""
        recorded = self.site.record_path(file) or Path(file).name
        for prefix in ("", "src/"):
            if (self.project_dir / f"{prefix}{recorded}").is_file():
                return f"{prefix}{recorded}:{lineno}"
        return f"{recorded}:{lineno}"

    def chain_to(self, dist: InstalledDist) -> tuple[InstalledDist, ...] | None:
        """The shortest path of Requires-Dist from a declared requirement to ``dist``.

        :param dist: An installed dist.
        :returns: The dists from the declared one to ``dist``, or ``None``.
        """
        roots = [(name, frozenset(req.extras)) for name, req in self.declared.items()]
        if not roots or dist.name in self.declared:
            return None
        found = self._search(roots, dist.name)
        if found is None:
            tooling = [(n, frozenset[str]()) for n in self.site.dists if is_tooling(n)]
            found = self._search(tooling, dist.name)
        return found

    def _search(
        self,
        roots: Sequence[tuple[NormalizedName, frozenset[str]]],
        goal: NormalizedName,
    ) -> tuple[InstalledDist, ...] | None:
        queue: deque[tuple[NormalizedName, frozenset[str], tuple[NormalizedName, ...]]]
        queue = deque((name, extras, (name,)) for name, extras in roots)
        seen: set[NormalizedName] = set()
        while queue:
            name, extras, path = queue.popleft()
            if name in seen or name not in self.site.dists:
                continue
            seen.add(name)
            if name == goal:
                return tuple(self.site.dists[n] for n in path)
            for requirement in self.site.dists[name].requires:
                if self._applies(requirement, extras):
                    child = canonicalize_name(requirement.name)
                    queue.append((child, frozenset(requirement.extras), (*path, child)))
        return None

    def _applies(self, requirement: Requirement, extras: frozenset[str]) -> bool:
        if requirement.marker is None:
            return True
        marker = requirement.marker
        try:
            return any(
                marker.evaluate({**self.markers, "extra": extra})
                for extra in ("", *sorted(extras))
            )
        except (InvalidMarker, UndefinedComparison, ValueError):
            return True


class _Maker:
    """Builds findings for one exception: relation, chain and message."""

    def __init__(
        self,
        attributor: Attributor,
        exc: _Exception,
        usage: str | None,
        deeper: Sequence[_Frame],
    ) -> None:
        self.attributor = attributor
        self.exc = exc
        self.usage = usage
        self.deeper = deeper

    def _caller(self, dist: InstalledDist) -> _Frame | None:
        """The frame that called into ``dist`` (``None``: the usage site did)."""
        index = next(
            (i for i, f in enumerate(self.deeper) if f.dist == dist), len(self.deeper)
        )
        return next(
            (f for f in reversed(self.deeper[:index]) if f.place != "other"), None
        )

    def broken(self, dist: InstalledDist | None, module: str) -> Finding | None:
        """A dependency whose own import raises on this interpreter."""
        if dist is None:
            return None
        headline = (
            f"{dist.label} does not import on {self.attributor.interpreter}: "
            f"{self.exc.detail}"
        )
        headline += self._setuptools_hint(dist)
        return self._build(
            "broken-dependency", dist, module, headline, self._caller(dist)
        )

    def _setuptools_hint(self, dist: InstalledDist) -> str:
        """Why ``pkg_resources`` is missing, when it is what the dist imported."""
        missing = _str(self.exc.facts.get("name")).partition(".")[0]
        if self.exc.short_type != "ModuleNotFoundError" or missing not in _SETUPTOOLS:
            return ""
        # A venv of Python < 3.12 seeds setuptools; the bound envs hold only
        # what is declared, as every env of Python >= 3.12 does.
        return (
            f" (`{missing}` is setuptools', which {dist.display} uses without "
            "declaring it; the envs install only declared distributions)"
        )

    def from_frames(
        self, kind: Kind, dist: InstalledDist | None, args: str = ""
    ) -> Finding | None:
        """A finding on the entry into the dist where the exception was raised."""
        if dist is None:
            return None
        entry = next(f for f in self.deeper if f.dist == dist)
        symbol = entry.symbol + (f"({args})" if kind == "call-mismatch" else "")
        return self.finding(kind, dist, symbol, self._caller(dist))

    def finding(
        self, kind: Kind, dist: InstalledDist | None, symbol: str, user: _Frame | None
    ) -> Finding:
        """A finding on ``symbol``; ``user`` is the frame that used it directly."""
        label = dist.label if dist else None
        detail = self.exc.detail
        headlines: dict[Kind, str] = {
            "missing-module": f"{label}: module `{symbol}` missing",
            "missing-name": f"{label}: `{symbol}` missing",
            "missing-attribute": f"{label}: `{symbol}` missing",
            "call-mismatch": f"{label}: `{symbol}` not accepted ({detail})",
            "error-in-dependency": f"{label}: {detail} raised in `{symbol}`",
            "warning-from-dependency": f"{label}: `{symbol}` warns {detail}",
            "project-error-with-dependency": (
                f"{label}: {detail} on a line using `{symbol}`"
            ),
        }
        if dist is None:
            return self._undeclared(kind, symbol, user)
        headline = headlines.get(kind, f"{label}: {detail}")
        if kind == "error-in-dependency":
            headline += self._setuptools_hint(dist)
        return self._build(kind, dist, symbol, headline, user)

    def _undeclared(self, kind: Kind, symbol: str, user: _Frame | None) -> Finding:
        """A module no installed dist provides: undeclared, or in an unused extra."""
        project, top = self.attributor.project, symbol.partition(".")[0]
        unselected = self.attributor.declaration.unselected
        where = next((unselected[n] for n in _dist_names(top) if n in unselected), None)
        named = f"extra {canonicalize_name(top)}"
        if where is None and named in map(_canonical_where, unselected.values()):
            where = named  # cattrs' ``bson`` extra installs pymongo
        if where is None:
            headline = (
                f"{project} imports `{top}` but does not declare it: no installed "
                f"distribution provides `{symbol}`"
            )
            extras = sorted({w for w in unselected.values() if w.startswith("extra ")})
            finding = self._build(kind, None, symbol, headline, user)
            if not extras:
                return finding
            names = ", ".join(e.removeprefix("extra ") for e in extras)
            advice = (
                f"declare the distribution that provides `{top}`, or, if one of "
                f"the extras not under test ({names}) does, name it in "
                "--depbounds-extras"
            )
            return dataclasses.replace(finding, advice=advice)
        what, _, name = where.partition(" ")
        if what == "file":
            headline = (
                f"{project} imports `{top}`, which only {name} declares, not "
                f"under test: no installed distribution provides `{symbol}`"
            )
            advice = f"add {name} to --depbounds-requirements to test it"
            finding = self._build(kind, None, symbol, headline, user)
            return dataclasses.replace(finding, advice=advice)
        option = "--depbounds-extras" if what == "extra" else "--depbounds-groups"
        headline = (
            f"{project} imports `{top}`, which only its {what} `{name}` declares, "
            f"not under test: no installed distribution provides `{symbol}`"
        )
        advice = (
            f"add `{name}` to {option} to test it, or skip what needs it when it "
            "is missing (pytest.importorskip)"
        )
        finding = self._build(kind, None, symbol, headline, user)
        return dataclasses.replace(finding, advice=advice)

    def _build(
        self,
        kind: Kind,
        dist: InstalledDist | None,
        symbol: str,
        headline: str,
        user: _Frame | None,
    ) -> Finding:
        relation, chain = self._relation(dist, user)
        return Finding(
            kind=kind,
            dist=dist.display if dist else None,
            version=dist.version if dist else None,
            symbol=symbol,
            usage=self.usage,
            relation=relation,
            chain=chain,
            detail=self.exc.detail,
            headline=headline,
        )

    def _relation(
        self, dist: InstalledDist | None, user: _Frame | None
    ) -> tuple[Relation, tuple[str, ...]]:
        """Direct, transitive (and through what) or undeclared."""
        attributor = self.attributor
        project = attributor.project
        if dist is None:
            return "undeclared", ()
        if dist.name in attributor.declared:
            return "direct", ()
        path = attributor.chain_to(dist) or ()
        declared = bool(path) and path[0].name in attributor.declared
        through = ((project,) if declared else ()) + tuple(d.label for d in path)
        # The project's own code using a dist it does not declare is its own gap,
        # even when a declared dependency happens to install that dist.
        if user is None or user.place == "project":
            return "undeclared", through
        if declared:
            return "transitive", through
        if user.dist is not None:
            # A dependency using a dist that no declared requirement pulls in.
            return "transitive", (project, user.dist.label, dist.label)
        return "undeclared", through


def _canonical_where(where: str) -> str:
    """``extra My_Extra`` → ``extra my-extra``."""
    what, _, name = where.partition(" ")
    return f"{what} {canonicalize_name(name)}"


def _dist_names(module: str) -> list[NormalizedName]:
    """Distributions that may provide a top-level module.

    Its own name, and the dists that provide it in the running env (``yaml`` →
    PyYAML), where they are installed.
    """
    # The usual spellings (PyYAML, pyzmq, python-dateutil), then what is installed.
    spelled = (module, f"py{module}", f"python-{module}")
    return [canonicalize_name(n) for n in (*spelled, *_providers().get(module, []))]


@functools.cache
def _providers() -> Mapping[str, list[str]]:
    """Top-level module → the running env's dists that provide it (read once)."""
    try:
        return metadata.packages_distributions()
    except Exception:  # noqa: BLE001 - a broken dist's metadata: no hint, no failure
        return {}


def _call_problem(exc: _Exception) -> str | None:
    """For a call mismatch, the arguments at fault (``kw=``), else ``None``."""
    if exc.short_type != "TypeError":
        return None
    match = _CALL.match(exc.message)
    if match is None:
        return None
    problem = match.group("problem")
    keyword = _KEYWORD.search(problem)
    if keyword is not None:
        return f"{keyword.group('arg')}="
    if _MISSING_ARGS.search(problem):
        return ", ".join(_QUOTED.findall(problem))
    if _POSITIONAL.search(problem):
        return "…"
    return None


def _count(n: int, noun: str, verb: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''} {verb}{'s' if n == 1 else ''}"


def _requirements(raws: Iterable[str]) -> Iterable[Requirement]:
    for raw in raws:
        try:
            yield Requirement(raw)
        except InvalidRequirement:  # noqa: PERF203 - one bad line spoils no other
            continue


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def group(failures: Iterable[tuple[str, str, Finding]]) -> tuple[Culprit, ...]:
    """Group findings by culprit, in order of first appearance.

    :param failures: ``(nodeid, when, finding)`` per failure; ``when`` is
        ``collect`` for a collection error, ``session`` for a crashed session.
    :returns: One culprit per dist, version, symbol, kind and relation.
    """
    grouped: dict[tuple[str, ...], list[tuple[str, str, Finding]]] = {}
    for nodeid, when, finding in failures:
        key = (
            finding.kind,
            finding.dist or "",
            finding.version or "",
            finding.symbol,
            finding.relation,
        )
        grouped.setdefault(key, []).append((nodeid, when, finding))
    culprits = []
    for items in grouped.values():
        usages = tuple(dict.fromkeys(f.usage for _, _, f in items if f.usage))
        tests = tuple(
            dict.fromkeys(n for n, w, _ in items if w not in {"collect", "session"})
        )
        collectors = tuple(dict.fromkeys(n for n, w, _ in items if w == "collect"))
        culprits.append(
            Culprit(
                finding=items[0][2],
                usages=usages,
                tests=tests,
                collectors=collectors,
                crashed=any(w == "session" for _, w, _ in items),
            )
        )
    return tuple(culprits)


def crash_facts(output: str, cwd: Path) -> dict[str, Any] | None:
    """The facts of the error that ended a session before it reported anything.

    A plugin or a ``conftest.py`` that does not import (a dependency too old or
    too new for it) stops pytest before the inner plugin sees a report: the
    short traceback pytest printed is all there is.

    :param output: The end of the session's output.
    :param cwd: The session's working directory (relative paths start there).
    :returns: Facts as the inner session writes them (``{"chain": [...]}``), or
        ``None`` when the output holds no traceback.
    """
    lines = output.splitlines()
    frames: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    for number, line in enumerate(lines):
        frame = _TB_FRAME.match(line)
        if frame is not None:
            after = lines[number + 1] if number + 1 < len(lines) else ""
            code = "" if after.startswith("E ") else after.strip()
            lineno, function = int(frame["lineno"]), frame["function"]
            frames.append(
                {
                    "file": str(cwd / frame["file"]),
                    "lineno": lineno,
                    "function": function,
                    "qualname": function,
                    "module": "",
                    "line": code,
                }
            )
            continue
        where = _TB_FILE.match(line)
        if where is not None:
            facts["path"], facts["lineno"] = where["path"], int(where["lineno"])
            continue
        error = _TB_ERROR.match(line)
        if error is not None and frames:
            facts |= {"type": error["type"], "message": error["message"]}
            break
    if "type" not in facts:
        return None
    message = facts["message"]
    for pattern in (_NO_MODULE, _NO_ATTRIBUTE):
        match = pattern.search(message)
        if match is not None:
            facts["name"] = match["name"]
    path = _ERROR_PATH.search(message)
    if path is not None and "path" not in facts:
        facts["path"] = path["path"]
    return {"chain": [{**facts, "frames": frames}]}


def attribute_failures(
    attributor: Attributor, failures: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> tuple[tuple[Culprit, ...], tuple[str, ...]]:
    """Attribute every failure of a bound and group the findings by culprit.

    :param attributor: Attribution in the bound's env.
    :param failures: ``(nodeid, when, facts)`` per failed phase or collection.
    :returns: The culprits, and the node ids no finding explains.
    """
    found: list[tuple[str, str, Finding]] = []
    unexplained: list[str] = []
    for nodeid, when, facts in failures:
        finding = attributor.attribute(facts)
        if finding is None:
            unexplained.append(nodeid)
        else:
            found.append((nodeid, when, finding))
    explained = {nodeid for nodeid, _, _ in found}
    unattributed = tuple(dict.fromkeys(n for n in unexplained if n not in explained))
    return group(found), unattributed


#: Findings about how a dependency behaves, not about its API: the same error at
#: every bound says the versions are not what differs.
_BEHAVIOUR_KINDS = frozenset(
    {"error-in-dependency", "project-error-with-dependency", "warning-from-dependency"}
)


def drop_shared(
    by_bound: Mapping[str, tuple[tuple[Culprit, ...], tuple[str, ...]]],
) -> dict[str, tuple[tuple[Culprit, ...], tuple[str, ...]]]:
    """Unattribute the errors every bound raises alike from the same dependency.

    A test that fails with the same error raised in the same dependency at the
    lower and the upper bound fails for a reason no version explains (a test
    setting, a platform): blaming each bound's version, and advising a cap at
    the upper one, would send the user after the wrong cause.

    :param by_bound: Each bound's culprits and unattributed node ids.
    :returns: The same, with those failures moved to the unattributed ones.
    """
    seen: dict[str, dict[str, tuple[object, ...]]] = {
        bound: {
            test: (c.finding.dist, c.finding.kind, c.finding.detail)
            for c in culprits
            if c.finding.kind in _BEHAVIOUR_KINDS
            for test in (*c.tests, *c.collectors)
        }
        for bound, (culprits, _) in by_bound.items()
    }
    result: dict[str, tuple[tuple[Culprit, ...], tuple[str, ...]]] = {}
    for bound, (culprits, unattributed) in by_bound.items():
        others = [s for b, s in seen.items() if b != bound]
        kept: list[Culprit] = []
        dropped: list[str] = []
        for culprit in culprits:
            tests = (*culprit.tests, *culprit.collectors)
            key = (culprit.finding.dist, culprit.finding.kind, culprit.finding.detail)
            if (
                others
                and culprit.finding.kind in _BEHAVIOUR_KINDS
                and all(o.get(t) == key for o in others for t in tests)
            ):
                dropped.extend(tests)
            else:
                kept.append(culprit)
        result[bound] = (tuple(kept), tuple(dict.fromkeys((*unattributed, *dropped))))
    return result
