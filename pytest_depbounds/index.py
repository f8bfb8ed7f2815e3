"""The files of a distribution on the indexes and find-links: the only index I/O.

Reads PEP 691 JSON pages, falling back to PEP 503 HTML, and find-links folders
and pages, as uv and pip would with the same :class:`IndexSettings`. uv has no
command that lists files with their yanked flag, ``Requires-Python`` and tags,
and ``pip index versions`` shows none of those, so this module reads the index
itself; the resolver is still uv (or pip).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email.parser
import hashlib
import http.client
import json
import netrc
import os
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from pytest_depbounds.errors import ResolutionError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from packaging.version import Version

    from pytest_depbounds.installer import IndexSettings

#: The index both uv and pip use when none is configured.
DEFAULT_INDEX = "https://pypi.org/simple/"

#: PEP 691 content negotiation: JSON first, HTML accepted.
_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)

#: Attempts per URL, and the first pause between them (doubled each time).
ATTEMPTS = 3
BACKOFF = 0.5

#: Seconds a request may take.
TIMEOUT = 30.0

#: Archives whose names are sdists.
_SDIST_SUFFIXES = (".tar.gz", ".zip")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistFile:
    """One file of one version of a distribution, as an index lists it."""

    filename: str
    #: Where it is: an ``http(s)://`` or ``file://`` URL.
    url: str
    version: Version
    kind: Literal["wheel", "sdist"]
    #: The wheel's tags as strings (``cp311-cp311-manylinux_2_17_x86_64``);
    #: empty for an sdist.
    tags: frozenset[str] = frozenset()
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    #: URL of its PEP 658 core metadata, when the index serves it.
    metadata_url: str | None = None


def redact(url: str) -> str:
    """A URL without its password, for messages (as :mod:`pytest_depbounds.redact`).

    :param url: Any URL, possibly ``https://user:secret@host/``.
    :returns: The URL with the password (or a lone token) replaced by ``****``.
    """
    from pytest_depbounds.redact import redact as redact_text  # noqa: PLC0415

    return redact_text(url, {})


def parse_filename(name: str, filename: str, url: str) -> DistFile | None:
    """Describe a file from its name, when it is a wheel or sdist of ``name``.

    :param name: The distribution wanted (any spelling).
    :param filename: The file's name.
    :param url: Where it is.
    :returns: The file, or ``None`` for another distribution or an unknown format.
    """
    wanted = canonicalize_name(name)
    try:
        if filename.endswith(".whl"):
            dist, version, _build, tags = parse_wheel_filename(filename)
            if dist != wanted:
                return None
            return DistFile(
                filename=filename,
                url=url,
                version=version,
                kind="wheel",
                tags=frozenset(str(tag) for tag in tags),
            )
        if filename.endswith(_SDIST_SUFFIXES):
            dist, version = parse_sdist_filename(filename)
            if dist != wanted:
                return None
            return DistFile(filename=filename, url=url, version=version, kind="sdist")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


class _Anchors(HTMLParser):
    """The ``<a>`` elements of a PEP 503 page, with their ``data-*`` attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self.anchors.append(dict(attrs))


def parse_html(name: str, page_url: str, text: str) -> list[DistFile]:
    """The files of ``name`` on a PEP 503 page or a find-links page.

    :param name: The distribution wanted.
    :param page_url: The page's URL, against which links are resolved.
    :param text: The page's HTML.
    :returns: The files, in page order.
    """
    parser = _Anchors()
    parser.feed(text)
    base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
    found = []
    for anchor in parser.anchors:
        href = anchor.get("href")
        if not href:
            continue
        url = urllib.parse.urljoin(base, href)
        filename = urllib.parse.unquote(
            urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
        )
        described = parse_filename(name, filename, url)
        if described is None:
            continue
        yanked = anchor.get("data-yanked", False) is not False
        metadata = anchor.get(
            "data-core-metadata", anchor.get("data-dist-info-metadata")
        )
        found.append(
            dataclasses.replace(
                described,
                requires_python=anchor.get("data-requires-python") or None,
                yanked=yanked,
                yanked_reason=anchor.get("data-yanked") or None,
                metadata_url=_metadata_url(url) if _truthy(metadata) else None,
            )
        )
    return found


def parse_json(name: str, page_url: str, text: str) -> list[DistFile]:
    """The files of ``name`` on a PEP 691 JSON page.

    :param name: The distribution wanted.
    :param page_url: The page's URL, against which file URLs are resolved.
    :param text: The page's JSON.
    :returns: The files, in page order.
    """
    data = json.loads(text)
    found = []
    for item in data.get("files", []):
        url = urllib.parse.urljoin(page_url, str(item.get("url", "")))
        described = parse_filename(name, str(item.get("filename", "")), url)
        if described is None:
            continue
        yanked = item.get("yanked", False)
        metadata = item.get("core-metadata", item.get("dist-info-metadata", False))
        found.append(
            dataclasses.replace(
                described,
                requires_python=item.get("requires-python") or None,
                yanked=yanked is not False,
                yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
                metadata_url=_metadata_url(url) if _truthy(metadata) else None,
            )
        )
    return found


def _truthy(value: object) -> bool:
    # PEP 658/714: present as "true", a hash mapping, or a "sha256=..." string.
    if value is None or value is False:
        return False
    return not (isinstance(value, str) and value.lower() == "false")


def _metadata_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path + ".metadata"))


class Index:
    """Lists and reads distribution files from the configured sources.

    One instance per run: pages are fetched at most once each.
    """

    def __init__(
        self,
        settings: IndexSettings,
        *,
        environ: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare to read from ``settings``.

        :param settings: Index URLs, find-links, no-index and offline.
        :param environ: Where ``UV_*`` index variables are read (uv reads them
            too); default ``os.environ``.
        :param cache_dir: Where downloaded wheels are kept to read their metadata.
        :param sleep: Waits between attempts (replaced in tests).
        """
        environ = os.environ if environ is None else environ
        self.settings = settings
        self.cache_dir = cache_dir
        self.sleep = sleep
        index_url = (
            settings.index_url
            or environ.get("UV_DEFAULT_INDEX")
            or environ.get("UV_INDEX_URL")
            or DEFAULT_INDEX
        )
        extra = settings.extra_index_urls or tuple(
            (
                environ.get("UV_INDEX", "")
                + " "
                + environ.get("UV_EXTRA_INDEX_URL", "")
            ).split()
        )
        self.indexes: tuple[str, ...] = (
            ()
            if settings.no_index
            else (
                index_url,
                *extra,
            )
        )
        self.find_links = settings.find_links or tuple(
            environ.get("UV_FIND_LINKS", "").replace(",", " ").split()
        )
        self._files: dict[str, list[DistFile]] = {}
        self._pages: dict[str, str | None] = {}
        self._content_types: dict[str, str] = {}
        #: ``host:port`` → (user, password), from the URLs configured or listed.
        self._credentials: dict[str, tuple[str, str]] = {}
        for url in (*self.indexes, *self.find_links):
            self._remember(url)
        self._netrc_path = environ.get("NETRC")
        self._netrc: netrc.netrc | None = None

    def files(self, name: str) -> list[DistFile]:
        """Every file of a distribution on the indexes and find-links.

        :param name: The distribution, any spelling.
        :returns: Its files; empty when nothing is known (or offline with no
            local find-links).
        :raises ResolutionError: When an index keeps failing.
        """
        key = canonicalize_name(name)
        if key not in self._files:
            found: list[DistFile] = []
            for link in self.find_links:
                found += self._find_links(key, link)
            if not self.settings.offline:
                for index in self.indexes:
                    found += self._index_files(key, index)
            # Listed URLs carry no credentials (they end up in caches and
            # messages): requests to their host get them from the table.
            self._files[key] = [self._without_credentials(f) for f in found]
        return self._files[key]

    def requires(self, name: str, version: Version) -> list[Requirement] | None:
        """The ``Requires-Dist`` of one version, read from its metadata.

        From PEP 658 metadata when the index serves it, else from a wheel (or
        an sdist's ``PKG-INFO``), downloaded when remote.

        :param name: The distribution.
        :param version: The version.
        :returns: Its requirements, or ``None`` when they cannot be read.
        """
        files = [f for f in self.files(name) if f.version == version]
        files.sort(key=lambda f: (f.metadata_url is None, f.kind != "wheel"))
        for file in files:
            # Metadata only explains a finding: a file that cannot be read is skipped.
            with contextlib.suppress(
                OSError,
                ValueError,
                tarfile.TarError,
                zipfile.BadZipFile,
                ResolutionError,
            ):
                text = self._metadata_text(file)
                if text is None:
                    continue
                message = email.parser.Parser().parsestr(text, headersonly=True)
                requirements = []
                for raw in message.get_all("Requires-Dist") or []:
                    with contextlib.suppress(InvalidRequirement):
                        requirements.append(Requirement(raw))
                return requirements
        return None

    def fetch_text(self, url: str) -> str:
        """Download a text file over http(s), with the same retries.

        :param url: The URL (credentials in it are sent as basic auth).
        :returns: Its text.
        :raises ResolutionError: When it cannot be downloaded.
        """
        text = self._get(url, accept="text/plain, */*", missing_ok=False)
        assert text is not None  # noqa: S101 - missing_ok=False never returns None
        return text

    def download(self, url: str, filename: str) -> Path:
        """A listed file's local path, downloaded once into the cache dir.

        :param url: Its ``file:`` or http(s) URL, as :meth:`files` lists it.
        :param filename: Its file name.
        :returns: The path (a ``file:`` URL's own).
        :raises ResolutionError: When it cannot be downloaded.
        """
        path = self._fetch(url, filename, missing_ok=False)
        assert path is not None  # noqa: S101 - missing_ok=False never returns None
        return path

    # -- credentials ----------------------------------------------------------

    def _remember(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self._credentials.setdefault(_host(parts), (user, password))

    def _without_credentials(self, file: DistFile) -> DistFile:
        self._remember(file.url)
        metadata = file.metadata_url and _strip_credentials(file.metadata_url)
        return dataclasses.replace(
            file, url=_strip_credentials(file.url), metadata_url=metadata
        )

    def _credentials_for(
        self, parts: urllib.parse.SplitResult
    ) -> tuple[str, str] | None:
        """Credentials for a URL, in pip's and uv's order.

        Those written in it, then those of a configured URL on the same host,
        then the netrc file's (``NETRC``, else ``~/.netrc``).
        """
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            return user, urllib.parse.unquote(parts.password or "")
        known = self._credentials.get(_host(parts))
        if known is not None:
            return known
        if self._netrc is None:
            try:
                self._netrc = netrc.netrc(self._netrc_path)
            except (OSError, netrc.NetrcParseError):
                # No netrc, or one we may not read: as if it were empty.
                self._netrc = netrc.netrc(os.devnull)
        entry = self._netrc.authenticators(parts.hostname or "")
        return None if entry is None else (entry[0], entry[2] or "")

    def _request(self, url: str, accept: str) -> urllib.request.Request:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            msg = f"not an http(s) URL: {redact(url)}"
            raise ResolutionError(msg)
        headers = {"Accept": accept, "User-Agent": "pytest-depbounds"}
        credentials = self._credentials_for(parts)
        if credentials is not None:
            # urllib sends neither a URL's credentials nor netrc's: send them as
            # pip does.
            token = base64.b64encode(":".join(credentials).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        url = _strip_credentials(url)
        return urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above

    # -- sources --------------------------------------------------------------

    def _find_links(self, name: str, link: str) -> list[DistFile]:
        folder: Path | None = None
        if link.startswith("file:"):
            folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(link).path))
        elif "://" not in link:
            folder = Path(link)
        if folder is not None:
            if folder.is_dir():
                return [
                    _with_local_requires_python(described, path)
                    for path in sorted(folder.iterdir())
                    if (described := parse_filename(name, path.name, path.as_uri()))
                ]
            if folder.is_file():
                return self._page_files(
                    name, folder.as_uri(), folder.read_text("utf-8")
                )
            return []
        if self.settings.offline:
            return []
        text = self._page(link)
        return [] if text is None else self._page_files(name, link, text)

    def _index_files(self, name: str, index: str) -> list[DistFile]:
        url = index.rstrip("/") + f"/{name}/"
        if url.startswith("file:") or "://" not in url:
            folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
            page = folder / "index.html"
            if not page.is_file():
                return []
            return parse_html(name, page.as_uri(), page.read_text("utf-8"))
        text = self._page(url)
        if text is None:
            return []
        content_type = self._content_types.get(url, "")
        if "json" in content_type:
            return parse_json(name, url, text)
        return parse_html(name, url, text)

    def _page_files(self, name: str, url: str, text: str) -> list[DistFile]:
        return parse_html(name, url, text)

    def _page(self, url: str) -> str | None:
        if url not in self._pages:
            self._pages[url] = self._get(url, accept=_ACCEPT, missing_ok=True)
        return self._pages[url]

    def _get(self, url: str, *, accept: str, missing_ok: bool) -> str | None:
        body = self._get_bytes(url, accept=accept, missing_ok=missing_ok)
        return None if body is None else body.decode("utf-8", errors="replace")

    def _get_bytes(self, url: str, *, accept: str, missing_ok: bool) -> bytes | None:
        request = self._request(url, accept)
        last = ""
        attempts = 0
        for attempt in range(ATTEMPTS):
            attempts += 1
            if attempt:
                self.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only, checked in _request
                    self._content_types[url] = response.headers.get("Content-Type", "")
                    return bytes(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and missing_ok:  # noqa: PLR2004 - not on this index
                    return None
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500:  # noqa: PLR2004 - a client error does not heal
                    break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = str(reason) or type(exc).__name__
        raise ResolutionError(
            f"the package index {redact(url)} could not be read "
            f"({attempts} attempt{'s' if attempts != 1 else ''}): {last}"
        )

    def _metadata_text(self, file: DistFile) -> str | None:
        if file.metadata_url is not None and not file.url.startswith("file:"):
            body = self._get_bytes(file.metadata_url, accept="*/*", missing_ok=True)
            if body is not None:
                return body.decode("utf-8", errors="replace")
        path = self._local(file)
        if path is None:
            return None
        if file.kind == "wheel":
            return _wheel_metadata(path)
        if file.filename.endswith(".tar.gz"):
            return _sdist_metadata(path)
        return None

    def _local(self, file: DistFile) -> Path | None:
        if self.settings.offline and not file.url.startswith("file:"):
            return None
        return self._fetch(file.url, file.filename, missing_ok=True)

    def _fetch(self, url: str, filename: str, *, missing_ok: bool) -> Path | None:
        if url.startswith("file:"):
            return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if self.cache_dir is None:
            if missing_ok:
                return None
            msg = f"cannot download {filename}: no cache dir to keep it in"
            raise ResolutionError(msg)
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        target = self.cache_dir / "files" / digest / filename
        if not target.is_file():
            body = self._get_bytes(url, accept="*/*", missing_ok=missing_ok)
            if body is None:
                return None
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{os.getpid()}")
            temporary.write_bytes(body)
            temporary.replace(target)
        return target


def _host(parts: urllib.parse.SplitResult) -> str:
    """``host[:port]`` of a URL, the key of its credentials (pip's netloc)."""
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _strip_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=_host(parts)))


def versions_of(files: Iterable[DistFile]) -> list[Version]:
    """The distinct versions among files, ascending.

    :param files: Files of one distribution.
    :returns: Sorted versions.
    """
    return sorted({f.version for f in files})


def _with_local_requires_python(file: DistFile, path: Path) -> DistFile:
    """A local file's ``Requires-Python``: no page lists it, its metadata does."""
    try:
        text = _wheel_metadata(path) if file.kind == "wheel" else _sdist_metadata(path)
    except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError):
        return file
    if not text:
        return file
    message = email.parser.Parser().parsestr(text, headersonly=True)
    requires_python = message.get("Requires-Python")
    return dataclasses.replace(file, requires_python=requires_python or None)


def _wheel_metadata(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            folder, _, leaf = member.partition("/")
            if folder.endswith(".dist-info") and leaf == "METADATA":
                return archive.read(member).decode("utf-8", errors="replace")
    return None


def _sdist_metadata(path: Path) -> str | None:
    if not path.name.endswith(".tar.gz"):
        return None
    with tarfile.open(path) as archive:
        for info in archive.getmembers():
            if info.name.count("/") == 1 and info.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(info)
                if handle is not None:
                    return handle.read().decode("utf-8", errors="replace")
    return None
