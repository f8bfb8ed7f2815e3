"""Reading the files of a distribution from find-links folders and indexes."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from typing import TYPE_CHECKING, ClassVar

import pytest
from packaging.version import Version

from pytest_depbounds.errors import ResolutionError
from pytest_depbounds.index import Index, parse_html, parse_json, redact
from pytest_depbounds.installer import IndexSettings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each path from ``routes``: (status, content type, body)."""

    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}
    seen: ClassVar[list[tuple[str, str | None, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append(
            (self.path, self.headers.get("Authorization"), self.headers.get("Accept"))
        )
        status, content_type, body = self.routes.get(
            self.path, (404, "text/plain", b"not found")
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[str]:
    _Scripted.routes = {}
    _Scripted.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _index(**kwargs: object) -> Index:
    return Index(IndexSettings(**kwargs), environ={}, sleep=lambda _: None)  # type: ignore[arg-type]


def test_a_find_links_folder_lists_wheels_and_sdists(floors_index: Path) -> None:
    files = _index(no_index=True, find_links=(str(floors_index),)).files("OldLib")
    by_version = {(str(f.version), f.kind): f for f in files}
    assert sorted(by_version) == [
        ("1.0", "sdist"),
        ("1.1", "wheel"),
        ("1.2", "wheel"),
        ("1.3", "wheel"),
        ("1.4", "wheel"),
        ("2.0", "wheel"),
    ]
    assert by_version["1.1", "wheel"].tags == {"cp27-cp27m-win32"}
    # No page says it: the wheel's own metadata does.
    assert by_version["1.2", "wheel"].requires_python == ">=3.99"
    assert by_version["1.0", "sdist"].url.startswith("file://")


def test_a_pep_503_index_gives_yanked_and_requires_python(http_index: str) -> None:
    files = _index(index_url=http_index).files("oldlib")
    yanked = [(str(f.version), f.yanked_reason) for f in files if f.yanked]
    assert yanked == [("1.3", "broken import")]
    (python_limited,) = [f for f in files if f.requires_python]
    assert (python_limited.version, python_limited.requires_python) == (
        Version("1.2"),
        ">=3.99",
    )
    assert all(f.url.startswith(http_index.removesuffix("simple/")) for f in files)


def test_an_unknown_project_has_no_files(http_index: str) -> None:
    assert _index(index_url=http_index).files("nothing-here") == []


def test_pep_691_json_is_asked_for_and_read(scripted: str) -> None:
    page = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {},
                "yanked": "security",
                "core-metadata": {"sha256": "00"},
            },
            {
                "filename": "demo-1.1.tar.gz",
                "url": "https://files.invalid/demo-1.1.tar.gz",
                "hashes": {},
                "requires-python": ">=3.8",
            },
            {"filename": "other-1.0.tar.gz", "url": "x", "hashes": {}},
        ],
    }
    _Scripted.routes["/simple/demo/"] = (
        200,
        "application/vnd.pypi.simple.v1+json",
        json.dumps(page).encode(),
    )
    files = _index(index_url=f"http://{scripted}/simple").files("demo")
    assert [(str(f.version), f.kind, f.yanked) for f in files] == [
        ("1.0", "wheel", True),
        ("1.1", "sdist", False),
    ]
    assert files[0].yanked_reason == "security"
    assert files[0].url == f"http://{scripted}/files/demo-1.0-py3-none-any.whl"
    assert files[0].metadata_url == files[0].url + ".metadata"
    assert files[1].requires_python == ">=3.8"
    assert "application/vnd.pypi.simple.v1+json" in str(_Scripted.seen[0][2])


def test_credentials_in_the_url_are_sent_and_never_shown(scripted: str) -> None:
    _Scripted.routes["/simple/demo/"] = (503, "text/plain", b"down")
    index = _index(index_url=f"http://alice:s3cret@{scripted}/simple/")
    with pytest.raises(ResolutionError) as raised:
        index.files("demo")
    message = str(raised.value)
    assert message == (
        f"the package index http://alice:****@{scripted}/simple/demo/ could not be read "
        "(3 attempts): HTTP 503 Service Unavailable"
    )
    assert "s3cret" not in message
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert [auth for _, auth, _ in _Scripted.seen] == [expected] * 3


def test_a_client_error_is_not_retried(scripted: str) -> None:
    _Scripted.routes["/simple/demo/"] = (403, "text/plain", b"no")
    with pytest.raises(ResolutionError, match=r"\(1 attempt\): HTTP 403"):
        _index(index_url=f"http://{scripted}/simple/").files("demo")


def test_a_dead_index_is_named(unused_port: int) -> None:
    with pytest.raises(
        ResolutionError,
        match=rf"the package index http://127.0.0.1:{unused_port}/simple/demo/ "
        r"could not be read \(3 attempts\)",
    ):
        _index(index_url=f"http://127.0.0.1:{unused_port}/simple/").files("demo")


@pytest.fixture
def unused_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_reads_only_local_find_links(floors_index: Path) -> None:
    index = _index(
        index_url="http://127.0.0.1:9/simple/",
        find_links=(str(floors_index),),
        offline=True,
    )
    assert {str(f.version) for f in index.files("blib")} == {"1.0", "2.0", "2.1"}


def test_requires_dist_is_read_from_a_local_wheel(floors_index: Path) -> None:
    index = _index(no_index=True, find_links=(str(floors_index),))
    requires = index.requires("alib", Version("1.0"))
    assert [str(r) for r in requires or ()] == ["blib>=2.0"]


def test_requires_dist_is_read_from_a_served_wheel(
    http_index: str, tmp_path: Path
) -> None:
    index = Index(IndexSettings(index_url=http_index), environ={}, cache_dir=tmp_path)
    requires = index.requires("alib", Version("1.5"))
    assert [str(r) for r in requires or ()] == ["blib>=2.0"]


def test_html_pages_resolve_links_and_keep_data_attributes() -> None:
    page = """<html><head><base href="https://cdn.invalid/base/"></head><body>
    <a href="demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl#sha256=ab"
       data-requires-python="&gt;=3.11" data-dist-info-metadata="sha256=cd">w</a>
    <a href="demo-1.0.zip" data-yanked="">z</a>
    <a href="demo-1.0.exe">ignored</a>
    <a>no href</a>
    </body></html>"""
    files = parse_html("demo", "https://index.invalid/simple/demo/", page)
    assert [f.filename for f in files] == [
        "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "demo-1.0.zip",
    ]
    wheel, sdist = files
    assert wheel.url.startswith("https://cdn.invalid/base/demo-2.0")
    assert wheel.requires_python == ">=3.11"
    assert wheel.tags == {"cp311-cp311-manylinux_2_17_x86_64"}
    assert wheel.metadata_url is not None
    assert sdist.yanked
    assert sdist.yanked_reason is None


def test_json_without_files_is_empty() -> None:
    assert parse_json("demo", "https://i.invalid/simple/demo/", "{}") == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@host.invalid/simple/", "https://u:****@host.invalid/simple/"),
        ("https://token@host.invalid:8443/x", "https://****@host.invalid:8443/x"),
        ("https://host.invalid/simple/", "https://host.invalid/simple/"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_find_links_page_is_read_like_a_folder(http_index: str) -> None:
    index = _index(no_index=True, find_links=(http_index + "blib/",))
    assert [(str(f.version), f.kind) for f in index.files("blib")] == [
        ("1.0", "wheel"),
        ("2.0", "wheel"),
        ("2.1", "wheel"),
    ]
    assert index.files("oldlib") == []
