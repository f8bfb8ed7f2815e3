"""Read pip requirements files as pip does, keeping the file and line of each entry.

Modelled on tox's ``tox/tox_env/python/pip/req/file.py`` (itself adapted from
pip): continuation lines are joined, comments dropped, ``${VAR}`` expanded, the
options of a line parsed with argparse, ``-r``/``-c`` followed relative to the
including file. Only what decides a bound is kept; options that do not change
which versions exist (``--pre``, ``--prefer-binary``, ...) are accepted and
ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from pytest_depbounds.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# pip's own patterns (pip/_internal/req/req_file.py).
_ENV_VAR_RE = re.compile(r"(?P<var>\$\{(?P<name>[A-Z0-9_]+)\})")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_SCHEME_RE = re.compile(r"^(http|https|file):", re.IGNORECASE)
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^file:", re.IGNORECASE)
_VCS = ("git", "hg", "svn", "bzr")
_EGG_RE = re.compile(r"[#&]egg=([^&]*)")
_EXTRAS_RE = re.compile(r"^(?P<path>.+?)(?P<extras>\[[^\]]*\])$")
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".zip", ".tar")
#: Hashes pip accepts in ``--hash`` (``STRONG_HASHES``).
_HASH_RE = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$")
#: Seconds to fetch a requirements file given as an http(s) URL.
_FETCH_TIMEOUT = 30


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequirementLine:
    """One requirement or constraint of a requirements file, and where it is."""

    #: The PEP 508 requirement; a direct reference (URL, VCS, local path) whose
    #: name is known becomes ``name @ url``. ``None`` only for a direct reference
    #: whose name cannot be known without building it.
    requirement: Requirement | None
    #: The requirement part of the line as written (options removed).
    raw: str
    #: ``file:line``, the file relative to the project dir.
    location: str
    #: From a ``-c`` file: it limits versions, it asks for no install.
    constraint: bool
    #: Given with ``-e``.
    editable: bool
    #: The ``--hash`` values (kept; they play no part in resolution).
    hashes: tuple[str, ...] = ()
    #: The direct reference, made absolute (``file://`` for a local path), or
    #: ``None`` for a requirement by name and version range.
    url: str | None = None

    @property
    def is_direct(self) -> bool:
        """Whether it names a URL, VCS checkout or local path instead of a range."""
        return self.url is not None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequirementsFile:
    """What a requirements file (with every file it includes) declares."""

    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    #: ``-i``/``--index-url``: the last one given wins, as in pip.
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    #: ``-f``/``--find-links``; a relative path that exists is made absolute,
    #: relative to the file that names it.
    find_links: tuple[str, ...] = ()
    no_index: bool = False


def read_requirements_file(
    path: Path | str,
    *,
    base: Path,
    constraint: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RequirementsFile:
    """Read a requirements file and every file it includes with ``-r``/``-c``.

    :param path: The file: a path (relative to the current dir) or an
        ``http(s)://``/``file:`` URL.
    :param base: The project dir: locations are written relative to it.
    :param constraint: Read the file as if given with ``-c``.
    :param environ: Where ``${VAR}`` is looked up (default: ``os.environ``).
    :returns: Requirements and constraints in file order, and index options.
    :raises ConfigurationError: On a missing file or an invalid line, quoting it
        with its ``file:line``.
    """
    reader = _Reader(base, os.environ if environ is None else environ)
    source = _join(os.path.abspath("requirements.txt"), str(path))  # noqa: PTH100
    reader.read(source, constraint=constraint, included_from=None)
    return RequirementsFile(
        requirements=tuple(line for line in reader.lines if not line.constraint),
        constraints=tuple(line for line in reader.lines if line.constraint),
        index_url=reader.index_url,
        extra_index_urls=tuple(dict.fromkeys(reader.extra_index_urls)),
        find_links=tuple(dict.fromkeys(reader.find_links)),
        no_index=reader.no_index,
    )


class _LineError(Exception):
    """A line's options are invalid; the reader adds the location."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _LineError(message)


def _build_parser() -> argparse.ArgumentParser:
    # The options pip allows in a requirements file (pip's SUPPORTED_OPTIONS and
    # SUPPORTED_OPTIONS_REQ); an unknown one is an error there too.
    parser = _Parser(add_help=False, prog="", allow_abbrev=False)
    parser.add_argument("-i", "--index-url", "--pypi-url", dest="index_url")
    parser.add_argument("--extra-index-url", action="append", default=[])
    parser.add_argument("--no-index", action="store_true")
    parser.add_argument("-c", "--constraint", action="append", default=[])
    parser.add_argument("-r", "--requirement", action="append", default=[])
    parser.add_argument("-e", "--editable", action="append", default=[])
    parser.add_argument("-f", "--find-links", action="append", default=[])
    parser.add_argument("--hash", action="append", default=[])
    for flag in ("--pre", "--prefer-binary", "--require-hashes"):
        parser.add_argument(flag, action="store_true")
    for flag in (
        "--no-binary",
        "--only-binary",
        "--trusted-host",
        "--use-feature",
        "--config-settings",
        "--global-option",
        "--install-option",
    ):
        parser.add_argument(flag, action="append", default=[])
    return parser


def _is_project(path: Path) -> bool:
    """Whether a folder holds a Python project pip could build."""
    return any((path / name).is_file() for name in ("pyproject.toml", "setup.py"))


class _Reader:
    """Reads one tree of requirements files, depth first, in file order."""

    def __init__(self, base: Path, environ: Mapping[str, str]) -> None:
        self.base = base
        self.environ = environ
        self.parser = _build_parser()
        self.lines: list[RequirementLine] = []
        self.seen: set[tuple[str, bool]] = set()
        self.index_url: str | None = None
        self.extra_index_urls: list[str] = []
        self.find_links: list[str] = []
        self.no_index = False

    def read(self, source: str, *, constraint: bool, included_from: str | None) -> None:
        # A file already read in the same role adds nothing: skipping it is what
        # makes ``a -r b``, ``b -r a`` end.
        if (source, constraint) in self.seen:
            return
        self.seen.add((source, constraint))
        name = self.display(source)
        text = self.fetch(source, name, included_from)
        for number, line in _logical_lines(text, self.environ):
            self.handle(source, f"{name}:{number}", line, constraint=constraint)

    def display(self, source: str) -> str:
        if _SCHEME_RE.match(source):
            return source
        path = Path(source)
        try:
            return path.relative_to(self.base.absolute()).as_posix()
        except ValueError:
            return str(path)

    @staticmethod
    def fetch(source: str, name: str, included_from: str | None) -> str:
        where = f"{included_from}: " if included_from else ""
        try:
            if source.lower().startswith(("http:", "https:")):
                with urllib.request.urlopen(source, timeout=_FETCH_TIMEOUT) as response:  # noqa: S310 - http(s) only
                    data: bytes = response.read()
            else:
                path = _url_to_path(source) if _SCHEME_RE.match(source) else source
                data = Path(path).read_bytes()
            return data.decode("utf-8-sig")
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", exc)
            raise ConfigurationError(
                f"{where}cannot read requirements file {name}: {reason}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"{where}requirements file {name} is not UTF-8: {exc.reason}"
            ) from None

    def handle(
        self, source: str, location: str, line: str, *, constraint: bool
    ) -> None:
        args, options = _break_args_options(line)
        try:
            words = shlex.split(options, posix=True)
            opts = self.parser.parse_args(words)
        except (ValueError, _LineError) as exc:
            raise ConfigurationError(f"{location}: {exc}: {line!r}") from None
        for included, as_constraint in (
            *((r, False) for r in opts.requirement),
            *((c, True) for c in opts.constraint),
        ):
            self.read(
                _join(source, included),
                constraint=as_constraint,
                included_from=location,
            )
        self.index_options(source, opts)
        for value in opts.hash:
            if not _HASH_RE.match(value):
                raise ConfigurationError(
                    f"{location}: --hash must be sha256:, sha384: or sha512: and "
                    f"a hex digest: {line!r}"
                )
        if args and opts.editable:
            raise ConfigurationError(
                f"{location}: a requirement and -e on one line: {line!r}"
            )
        if opts.hash and not args:
            raise ConfigurationError(
                f"{location}: --hash without a requirement: {line!r}"
            )
        raws = [(args, False)] if args else [(e, True) for e in opts.editable]
        for raw, editable in raws:
            entry = self.requirement(source, location, raw, editable=editable)
            entry = dataclasses.replace(
                entry, constraint=constraint, hashes=tuple(opts.hash)
            )
            if constraint and (editable or entry.requirement is None):
                kind = "an editable" if editable else "an unnamed"
                raise ConfigurationError(
                    f"{location}: {kind} requirement cannot be a constraint: {line!r}"
                )
            self.lines.append(entry)

    def index_options(self, source: str, opts: argparse.Namespace) -> None:
        if opts.index_url:
            self.index_url = opts.index_url
        self.extra_index_urls += opts.extra_index_url
        self.no_index = self.no_index or opts.no_index
        for link in opts.find_links:
            self.find_links.append(_find_link(source, link))

    def requirement(
        self, source: str, location: str, raw: str, *, editable: bool
    ) -> RequirementLine:
        fields = {"raw": raw, "location": location, "constraint": False}
        if not editable and not _looks_like_path(raw, Path(source).parent):
            try:
                requirement = Requirement(raw)
            except InvalidRequirement as exc:
                if not _looks_like_url(raw):
                    raise ConfigurationError(
                        f"{location}: invalid requirement: {raw!r}: {_first_line(exc)}"
                    ) from None
            else:
                if requirement.url and not _looks_like_url(requirement.url):
                    # ``name @ ./lib``: made absolute, or the resolver would read
                    # it relative to wherever it runs.
                    url, _, _ = self.reference(source, location, requirement.url)
                    requirement.url = url
                return RequirementLine(
                    requirement=requirement,
                    editable=False,
                    url=requirement.url,
                    **fields,  # type: ignore[arg-type]
                )
        reference, marker = _split_marker(raw, editable=editable)
        try:
            parsed_marker = Marker(marker) if marker else None
        except InvalidMarker as exc:
            raise ConfigurationError(
                f"{location}: invalid environment marker: {raw!r}: {_first_line(exc)}"
            ) from None
        url, extras, local = self.reference(source, location, reference)
        name = _name_of(url, local)
        named = None
        if name is not None:
            text = f"{name}{extras} @ {url}"
            if parsed_marker is not None:
                text += f" ; {parsed_marker}"
            try:
                named = Requirement(text)
            except InvalidRequirement as exc:
                raise ConfigurationError(
                    f"{location}: invalid requirement: {raw!r}: {_first_line(exc)}"
                ) from None
        return RequirementLine(
            requirement=named,
            editable=editable,
            url=url,
            **fields,  # type: ignore[arg-type]
        )

    def reference(
        self, source: str, location: str, reference: str
    ) -> tuple[str, str, Path | None]:
        """The absolute URL of a direct reference, its extras, and its local path."""
        if _looks_like_url(reference):
            return reference, "", None
        match = _EXTRAS_RE.match(reference)
        path_text, extras = (
            (match["path"], match["extras"]) if match else (reference, "")
        )
        # Relative to the file that names it, as tox reads them (pip: the cwd,
        # which is the project dir when the files live there).
        if _SCHEME_RE.match(source):
            raise ConfigurationError(
                f"{location}: a local path in a remote requirements file: {reference!r}"
            )
        path = (Path(source).parent / path_text).resolve()
        beside = (self.base / path_text).resolve()
        if not _is_project(path) and _is_project(beside):
            # ``-e .`` in requirements/dev.txt, written for pip run from the
            # project dir: the folder beside the file is not a project.
            path = beside
        if not path.exists():
            raise ConfigurationError(
                f"{location}: invalid requirement: {reference!r}: it looks like a "
                f"path, and {path} does not exist"
            )
        return path.as_uri(), extras, path


def _first_line(exc: Exception) -> str:
    # packaging's messages draw the line and a caret below it: keep one line.
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogicalLine:
    """Physical lines joined at their continuation backslashes, as pip joins them."""

    #: The number of its first physical line.
    number: int
    #: The joined text, with its comments and ``${VAR}`` as written.
    text: str
    #: For each character of ``text``, its offset in the file's text (so an
    #: edit of the joined text can be made in the file: ``--depbounds-fix``).
    offsets: tuple[int, ...]


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Join continuation lines (pip's ``join_lines``), keeping where each character was.

    :param text: A requirements file's text.
    :returns: Its logical lines, blank and comment lines included.
    """
    pieces: list[tuple[str, int]] = []
    first = position = 0
    physical = zip(text.splitlines(), text.splitlines(keepends=True), strict=True)
    for number, (line, whole) in enumerate(physical, start=1):
        comment = _COMMENT_RE.match(line) is not None
        # A comment line ends a continuation, and never continues itself.
        if line.endswith("\\") and not comment:
            if not pieces:
                first = number
            pieces.append((line[:-1], position))
        elif pieces:
            # `` #`` so that the comment is dropped with the line's own.
            pieces.append((f" {line}", position - 1) if comment else (line, position))
            yield _joined(first, pieces)
            pieces = []
        else:
            yield _joined(number, [(line, position)])
        position += len(whole)
    if pieces:
        yield _joined(first, pieces)


def _joined(number: int, pieces: list[tuple[str, int]]) -> LogicalLine:
    offsets = [start + i for piece, start in pieces for i in range(len(piece))]
    text = "".join(piece for piece, _ in pieces)
    return LogicalLine(number=number, text=text, offsets=tuple(offsets))


def requirement_text(line: str) -> str:
    """The requirement part of a logical line: its comment and options removed.

    :param line: A joined line, e.g. ``foo>=1.0 --hash=sha256:... # why``.
    :returns: e.g. ``foo>=1.0``, a substring of ``line``; empty for none.
    """
    return _break_args_options(_COMMENT_RE.sub("", line))[0]


def _logical_lines(text: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """Join continuations, drop comments, expand ``${VAR}`` (pip's ``preprocess``)."""
    for line in logical_lines(text):
        stripped = _COMMENT_RE.sub("", line.text).strip()
        if stripped:
            yield line.number, _expand(stripped, environ)


def _expand(line: str, environ: Mapping[str, str]) -> str:
    # Only ``${NAME}`` with POSIX names; an unset variable stays as written (pip).
    for variable, name in _ENV_VAR_RE.findall(line):
        value = environ.get(name)
        if value:
            line = line.replace(variable, value)
    return line


def _break_args_options(line: str) -> tuple[str, str]:
    # Only the options are shell-split: markers would not survive shlex.
    tokens = line.split(" ")
    args: list[str] = []
    options = tokens[:]
    for token in tokens:
        if token.startswith("-"):
            break
        args.append(token)
        options.pop(0)
    return " ".join(args).strip(), " ".join(options)


def _join(source: str, included: str) -> str:
    if included.lower().startswith("file:"):
        return os.path.abspath(_url_to_path(included))  # noqa: PTH100
    if _SCHEME_RE.match(included):
        return included
    if source.lower().startswith(("http:", "https:")):
        return urllib.parse.urljoin(source, included)
    folder = Path(_url_to_path(source) if _SCHEME_RE.match(source) else source).parent
    return os.path.abspath(folder / included)  # noqa: PTH100 - normalises ``..``


def _find_link(source: str, link: str) -> str:
    if _looks_like_url(link) or _SCHEME_RE.match(source):
        return link
    candidate = Path(source).parent / link
    return str(candidate.resolve()) if candidate.exists() else link


def _looks_like_url(text: str) -> bool:
    if _URL_RE.match(text):
        return True
    vcs, plus, rest = text.partition("+")
    return bool(plus) and vcs.lower() in _VCS and bool(_URL_RE.match(rest))


def _looks_like_path(text: str, folder: Path) -> bool:
    # pip: a path separator or a leading dot, or the name of an archive that
    # exists (``foo-1.0.tar.gz`` is also a valid project name).
    head = text.split(";", 1)[0].strip()
    if "@" in head or _looks_like_url(text):
        return False
    if "/" in head or os.sep in head or head.startswith("."):
        return True
    return head.lower().endswith(_ARCHIVES) and (folder / head).is_file()


def _split_marker(raw: str, *, editable: bool) -> tuple[str, str]:
    if editable:
        return raw.strip(), ""
    # pip: a URL may hold ``;`` (``;`` in a query), so only ``"; "`` starts its marker.
    separator = "; " if _looks_like_url(raw) else ";"
    reference, _, marker = raw.partition(separator)
    return reference.strip(), marker.strip()


def _url_to_path(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    return urllib.request.url2pathname(urllib.parse.unquote(parsed.path))


def _name_of(url: str, local: Path | None) -> str | None:
    """The project name of a direct reference, when it can be read without a build."""
    egg = _EGG_RE.search(url)
    if egg:
        return egg.group(1).split("[", 1)[0] or None
    filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rsplit("/", 1)[-1]
    name: str | None = None
    try:
        if filename.endswith(".whl"):
            name = parse_wheel_filename(filename)[0]
        elif filename.endswith((".tar.gz", ".zip")):
            name = parse_sdist_filename(filename)[0]
        elif local is not None and local.is_dir():
            name = project_name_of(local)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return name


def project_name_of(folder: Path) -> str | None:
    """The name a source tree declares, in ``pyproject.toml`` or ``setup.cfg``.

    :param folder: A project's source folder.
    :returns: The name as written, or ``None`` when neither file states it.
    """
    import configparser  # noqa: PLC0415

    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            name = (
                tomllib.loads(pyproject.read_text(encoding="utf-8"))
                .get("project", {})
                .get("name")
            )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            name = None
        if isinstance(name, str):
            return name
    setup_cfg = folder / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.RawConfigParser()
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return None
        if parser.has_option("metadata", "name"):
            return parser.get("metadata", "name").strip() or None
    return None
