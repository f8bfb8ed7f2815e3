"""Command lines of the engines that resolve and install: uv, or pip as a fallback."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.process import ExecuteRequest, child_environ

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping, Sequence

Resolution = Literal["lowest-direct", "lowest", "highest"]


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """Add pip's index options to a ``depbounds`` command.

    :param parser: The command's parser (read back with
        :meth:`IndexSettings.from_arguments`).
    """
    parser.add_argument("--index-url", help="Package index (default: PIP_INDEX_URL)")
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="Another package index (repeatable; default: PIP_EXTRA_INDEX_URL)",
    )
    parser.add_argument(
        "--find-links",
        action="append",
        default=[],
        metavar="DIR_OR_URL",
        help="Directory or page of distributions (repeatable)",
    )
    parser.add_argument("--no-index", action="store_true", help="Use only --find-links")
    parser.add_argument(
        "--offline", action="store_true", help="Use only the resolver's cache"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class IndexSettings:
    """Where distributions come from: the user's settings, passed explicitly."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    offline: bool = False

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        index_url: str | None,
        extra_index_urls: Sequence[str],
        find_links: Sequence[str],
        no_index: bool,
        offline: bool,
    ) -> IndexSettings:
        """Merge our options over the ``PIP_*`` variables a user already set.

        uv reads its own ``UV_*`` variables itself; pip's are translated here so
        that a private index set up for pip also serves uv.

        :returns: The settings for every resolver and installer call.
        """
        env_extra = tuple(environ.get("PIP_EXTRA_INDEX_URL", "").split())
        env_links = tuple(environ.get("PIP_FIND_LINKS", "").split())
        env_no_index = environ.get("PIP_NO_INDEX", "").lower() in {"1", "true", "yes"}
        return cls(
            index_url=index_url or environ.get("PIP_INDEX_URL") or None,
            extra_index_urls=tuple(extra_index_urls) or env_extra,
            find_links=tuple(find_links) or env_links,
            no_index=no_index or env_no_index,
            offline=offline,
        )

    @classmethod
    def from_arguments(
        cls, args: argparse.Namespace, environ: Mapping[str, str]
    ) -> IndexSettings:
        """The settings a ``depbounds`` command was given, over ``PIP_*``.

        :param args: The command line, parsed with the options of
            :func:`add_index_arguments`.
        :param environ: The environment holding the ``PIP_*`` variables.
        :returns: The settings; relative ``--find-links`` folders are made
            absolute against the folder the command runs in.
        """
        return cls.from_environ(
            environ,
            index_url=args.index_url,
            extra_index_urls=args.extra_index_url,
            find_links=[
                link if "://" in link else str(Path(link).resolve())
                for link in args.find_links
            ],
            no_index=args.no_index,
            offline=args.offline,
        )

    def uv_args(self) -> list[str]:
        """Arguments of ``uv pip compile``/``install`` for these settings."""
        # pip's, and uv's own offline mode (pip has none).
        return [*self.pip_args(), *(["--offline"] if self.offline else [])]

    def pip_args(self) -> list[str]:
        """Arguments of ``pip install`` for these settings."""
        args: list[str] = []
        if self.no_index:
            args.append("--no-index")
        elif self.index_url:
            args += ["--index-url", self.index_url]
        if not self.no_index:
            for url in self.extra_index_urls:
                args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args

    def describe(self, environ: Mapping[str, str] | None = None) -> str:
        """Where distributions come from, as an error message names it.

        :param environ: For the index uv reads from its own variables.
        :returns: e.g. ``index https://host/simple, find-links ./wheels``.
        """
        environ = os.environ if environ is None else environ
        parts: list[str] = []
        if self.no_index:
            parts.append("no index")
        else:
            index = (
                self.index_url
                or environ.get("UV_DEFAULT_INDEX")
                or environ.get("UV_INDEX_URL")
            )
            parts.append(f"index {index}" if index else "the default index (PyPI)")
            parts += [f"extra index {url}" for url in self.extra_index_urls]
        if self.find_links:
            parts.append(f"find-links {' '.join(self.find_links)}")
        if self.offline:
            parts.append("offline")
        return ", ".join(parts)

    def fingerprint(self) -> str:
        """A digest that changes whenever the settings would change a resolution."""
        fields = dataclasses.asdict(self)
        fields.pop("offline")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def find_uv() -> str | None:
    """Locate the uv binary: the one of our ``uv`` dependency, else one on PATH.

    :returns: Its path, or ``None`` when uv is not installed.
    """
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - optional at run time
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Installer:
    """Builds resolver and installer commands for one engine."""

    name: Literal["uv", "pip"]
    uv: str | None
    index: IndexSettings

    @classmethod
    def select(cls, name: str | None, index: IndexSettings) -> Installer:
        """Choose the engine: uv unless pip is asked for or uv is missing.

        :param name: ``"uv"``, ``"pip"`` or ``None`` for the default.
        :param index: Where distributions come from.
        :returns: The installer.
        :raises ConfigurationError: When uv is asked for but not installed.
        """
        uv = find_uv()
        if name == "uv" and uv is None:
            raise ConfigurationError(
                "--depbounds-installer=uv, but no uv binary was found: "
                "pip install uv, or use --depbounds-installer=pip"
            )
        if name == "pip" or uv is None:
            return cls(name="pip", uv=None, index=index)
        return cls(name="uv", uv=uv, index=index)

    def _uv_request(self, argv: list[str]) -> ExecuteRequest:
        return ExecuteRequest(
            argv=(*argv, *self.index.uv_args()), env=_installer_environ()
        )

    def _pip_request(self, argv: list[str]) -> ExecuteRequest:
        return ExecuteRequest(
            argv=(*argv, *self.index.pip_args()), env=_installer_environ()
        )

    def compile(
        self,
        requirements_in: Path,
        *,
        python: str,
        resolution: Resolution,
        constraints: Sequence[Path] = (),
        output: Path,
    ) -> ExecuteRequest:
        """Resolve a requirements file into exact pins for one interpreter.

        :param requirements_in: The requirements to resolve.
        :param python: The interpreter the pins are for.
        :param resolution: uv's resolution strategy.
        :param constraints: Files of pins the result must respect (pip ``-c``).
        :param output: Where the pins are written: uv's requirements format for
            uv, pip's JSON installation report for pip.
        :returns: The command.
        """
        if self.uv is not None:
            argv = [self.uv, "pip", "compile", str(requirements_in)]
            argv += ["--python", python, "--resolution", resolution]
            argv += ["--no-header", "--no-annotate", "--quiet", "-o", str(output)]
            for constraint in constraints:
                argv += ["--constraint", str(constraint)]
            return self._uv_request(argv)
        argv = [sys.executable, "-m", "pip", "--python", python, "install"]
        argv += ["--dry-run", "--ignore-installed", "--quiet", "--report", str(output)]
        argv += ["--disable-pip-version-check", "-r", str(requirements_in)]
        for constraint in constraints:
            argv += ["--constraint", str(constraint)]
        return self._pip_request(argv)

    def pip_metadata(
        self, requirements_in: Path, *, python: str, output: Path
    ) -> ExecuteRequest:
        """Pip's installation report of some pins alone, for their metadata.

        Without their dependencies: pins that cannot be installed together
        still report what each of them requires.

        :param requirements_in: ``name==version`` lines.
        :param python: The interpreter the pins are for.
        :param output: Where pip writes its JSON report.
        :returns: The command.
        """
        argv = [sys.executable, "-m", "pip", "--python", python, "install"]
        argv += ["--dry-run", "--ignore-installed", "--no-deps", "--quiet"]
        argv += ["--report", str(output), "--disable-pip-version-check"]
        argv += ["-r", str(requirements_in)]
        return self._pip_request(argv)

    def install_pins(self, env_python: Path, pins: Path) -> ExecuteRequest:
        """Install a complete set of exact pins into an env, resolving nothing.

        :param env_python: The env's interpreter.
        :param pins: A file of ``name==version`` lines (a resolver's output).
        :returns: The command.
        """
        if self.uv is not None:
            argv = [self.uv, "pip", "install", "--python", str(env_python), "--quiet"]
            argv += ["--no-deps", "-r", str(pins)]
            return self._uv_request(argv)
        argv = [str(env_python), "-m", "pip", "install", "--quiet", "--no-deps"]
        argv += ["--disable-pip-version-check", "-r", str(pins)]
        return self._pip_request(argv)

    def build_wheel(
        self, project_dir: Path, *, python: str, out_dir: Path, scratch: Path
    ) -> ExecuteRequest | None:
        """Build the project's wheel once, for every env that installs it.

        :param project_dir: The folder holding its ``pyproject.toml``.
        :param python: The interpreter the wheel is built for.
        :param out_dir: Where the wheel is written.
        :param scratch: An empty folder for setuptools' ``build/`` and
            ``*.egg-info``, removed after the build.
        :returns: The command, or ``None`` when this installer builds in place.
        """
        if self.uv is None:
            return None
        # Not --quiet: that hides the exception a failing backend raises.
        argv = [self.uv, "build", "--wheel", "--python", python]
        argv += ["--out-dir", str(out_dir), str(project_dir)]
        return _build_outside(self._uv_request(argv), scratch)

    def install_project(
        self,
        env_python: Path,
        project_dir: Path,
        *,
        name: str,
        editable: bool,
        scratch: Path | None = None,
    ) -> ExecuteRequest:
        """Build the project from its source and install it without dependencies.

        :param env_python: The env's interpreter.
        :param project_dir: The folder holding its ``pyproject.toml``, or a wheel.
        :param name: Its distribution name, reinstalled even if the version is equal.
        :param editable: Install it editable.
        :param scratch: An empty folder for setuptools' ``build/`` and
            ``*.egg-info`` when the source is built here.
        :returns: The command.
        """
        target = ["-e", str(project_dir)] if editable else [str(project_dir)]
        if self.uv is not None:
            argv = [self.uv, "pip", "install", "--python", str(env_python), "--quiet"]
            argv += ["--no-deps", "--reinstall-package", name, *target]
            request = self._uv_request(argv)
        else:
            argv = [str(env_python), "-m", "pip", "install", "--quiet", "--no-deps"]
            argv += ["--disable-pip-version-check", "--force-reinstall", *target]
            request = self._pip_request(argv)
        return request if scratch is None else _build_outside(request, scratch)


def _build_outside(request: ExecuteRequest, scratch: Path) -> ExecuteRequest:
    """Have setuptools build under ``scratch``, not in the project's folder.

    setuptools reuses the project's ``build/lib``: a module deleted from the
    source would stay in every wheel built after. A fresh build base per build
    (``DIST_EXTRA_CONFIG`` is read after ``setup.cfg``) also keeps ``build/``
    and ``*.egg-info`` out of the project.
    """
    extra = build_outside_environ(scratch)
    if not extra:
        return request
    return dataclasses.replace(request, env={**(request.env or os.environ), **extra})


def build_outside_environ(scratch: Path) -> dict[str, str]:
    """The variables that have setuptools build under ``scratch``.

    :param scratch: An empty folder for ``build/`` and ``*.egg-info``.
    :returns: ``DIST_EXTRA_CONFIG`` naming a config written there; nothing when
        the user has their own (their setuptools configuration wins).
    """
    if "DIST_EXTRA_CONFIG" in os.environ:
        return {}
    scratch.mkdir(parents=True, exist_ok=True)
    config = scratch / "setuptools.cfg"
    text = (
        f"[build]\nbuild_base = {scratch / 'build'}\n[egg_info]\negg_base = {scratch}\n"
    )
    config.write_text(text, encoding="utf-8")
    return {"DIST_EXTRA_CONFIG": str(config)}


def read_pip_report(output: Path) -> dict[str, str]:
    """Read the pins of the installation report ``pip install --report`` wrote.

    :param output: The report file.
    :returns: Distribution name → version.
    """
    report = json.loads(output.read_text(encoding="utf-8"))
    return {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report.get("install", [])
    }


def read_pip_requires(output: Path) -> dict[tuple[str, str], list[str]]:
    """Read what each distribution of a pip installation report requires.

    :param output: The report file.
    :returns: ``(name, version)`` → its ``Requires-Dist`` entries.
    """
    report = json.loads(output.read_text(encoding="utf-8"))
    return {
        (
            canonicalize_name(item["metadata"]["name"]),
            item["metadata"]["version"],
        ): list(item["metadata"].get("requires_dist") or ())
        for item in report.get("install", [])
    }


def read_pip_lines(output: Path) -> dict[str, str]:
    """Read the pins of a pip installation report as requirement lines.

    A direct reference (URL, VCS, local path) stays one: ``name @ url``, so that
    it installs from where it was declared, as uv's output keeps it.

    :param output: The report file.
    :returns: Distribution name → ``name==version`` or ``name @ url``.
    """
    report = json.loads(output.read_text(encoding="utf-8"))
    lines: dict[str, str] = {}
    for item in report.get("install", []):
        name = canonicalize_name(item["metadata"]["name"])
        info = item.get("download_info") or {}
        url = info.get("url")
        if item.get("is_direct") and url:
            vcs = info.get("vcs_info")
            if vcs:  # PEP 610: the scheme and the commit are kept apart
                url = f"{vcs['vcs']}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
            lines[name] = f"{name} @ {url}"
        else:
            lines[name] = f"{name}=={item['metadata']['version']}"
    return lines


def _installer_environ() -> dict[str, str]:
    env = child_environ(os.environ)
    env.setdefault("UV_NO_PROGRESS", "1")
    return env


#: uv's line naming a distribution it could not build (``Failed to build
#: `foo==1.0```, ``Failed to download and build `foo==1.0```).
_UV_BUILD_FAILURE = re.compile(
    r"Failed to (?:download and )?build `(?P<name>[^`=@ ]+)==(?P<version>[^`]+)`"
)

#: pip's lines naming a distribution it could not build, without its version:
#: its wheel (``Failed building wheel for foo``), or its metadata (pip >= 24
#: names it under ``Encountered error while generating package metadata.``).
_PIP_BUILD_FAILURE = re.compile(
    r"Failed building wheel for (?P<wheel>[A-Za-z0-9._-]+)"
    r"|Encountered error while generating package metadata\.\s*\S+\s+"
    r"(?P<metadata>[A-Za-z0-9._-]+)"
)

#: The end of a build's own output, as pip frames it.
_PIP_END_OF_OUTPUT = "[end of output]"


def parse_build_failure(
    output: str, versions: Mapping[str, str] | None = None
) -> tuple[str, str, str] | None:
    """Find the distribution a resolver or installer could not build, and why.

    :param output: Its standard error and output.
    :param versions: Distribution name → the version asked for: pip names what
        it could not build without its version.
    :returns: ``(name, version, last line of the build's error)``, or ``None``
        when the failure was not a build (or pip's, of a version not asked for).
    """
    found = _UV_BUILD_FAILURE.search(output)
    if found is not None:
        return found["name"], found["version"], _last_line(output[found.end() :])
    pip = _PIP_BUILD_FAILURE.search(output)
    if pip is None or not versions:
        return None
    name = pip["wheel"] or pip["metadata"]
    version = {canonicalize_name(n): v for n, v in versions.items()}.get(
        canonicalize_name(name)
    )
    if version is None:
        return None
    # pip prints the build's output first, framed, then its own summary.
    build_output = output[: pip.start()]
    if _PIP_END_OF_OUTPUT in build_output:
        build_output = build_output[: build_output.rindex(_PIP_END_OF_OUTPUT)]
    return name, version, _last_line(build_output)


#: setuptools' line when the C compiler failed: it says only that it did.
_COMPILER_FAILED = re.compile(
    r"^error: command .*(?:failed with exit code|returned non-zero exit status)",
    re.IGNORECASE,
)
#: The compiler's own error: ``ext/_yaml.c:181:12: fatal error: longintrepr.h: ...``.
_COMPILER_ERROR = re.compile(r":\d+(?::\d+)?: (?:fatal )?error: ")


def _last_line(output: str) -> str:
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip()
        and not line.strip().startswith(("hint:", "help:", "cause:", "[stderr]"))
    ]
    if not lines:
        return "the build failed"
    last = lines[-1]
    if _COMPILER_FAILED.match(last):
        last = next((x for x in reversed(lines) if _COMPILER_ERROR.search(x)), last)
    if len(last) <= _MAX_REASON:
        return last
    # A compiler's whole command line (numpy's old sdists) and no error line: its
    # start says what ran, its end how it failed.
    head, tail = last[: _MAX_REASON * 2 // 3], last[-_MAX_REASON // 3 :]
    return f"{head.rsplit(' ', 1)[0]} … {tail.split(' ', 1)[-1]}"


#: Characters of a build failure's reason kept in messages.
_MAX_REASON = 150


def pinned_versions(lines: Iterable[str]) -> dict[str, str]:
    """The versions of ``name==version`` lines, for :func:`parse_build_failure`.

    :param lines: Requirement lines; others (URLs, ranges) are skipped.
    :returns: Distribution name → version.
    """
    versions: dict[str, str] = {}
    for line in lines:
        with contextlib.suppress(InvalidRequirement):
            requirement = Requirement(line)
            pins = [s for s in requirement.specifier if s.operator in {"==", "==="}]
            if len(pins) == 1 and not requirement.url:
                versions[canonicalize_name(requirement.name)] = pins[0].version
    return versions
