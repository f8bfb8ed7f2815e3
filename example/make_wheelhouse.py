"""Build the example's local package index: one wheel per fake library version.

Run it with the Python that has pytest-depbounds installed, from any folder::

    python example/make_wheelhouse.py

It reads ``libs/<distribution>/<version>/`` (the source of each release) and
writes ``wheelhouse/<distribution>-<version>-py3-none-any.whl``, the folder
``depbounds_find_links`` in ``pyproject.toml`` points to.
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.version import Version

try:
    from pytest_depbounds.testing import write_wheel
except ImportError:
    sys.exit("make_wheelhouse.py needs pytest-depbounds: pip install pytest-depbounds")

HERE = Path(__file__).resolve().parent
LIBS = HERE / "libs"
WHEELHOUSE = HERE / "wheelhouse"

#: ``Requires-Python`` of the releases that declare one.
REQUIRES_PYTHON = {
    ("depbounds-example-timekit", "2.0"): ">=3.8",
}


def release_files(folder: Path) -> dict[str, str]:
    """The source files of one release: archive path -> text."""
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def main() -> int:
    WHEELHOUSE.mkdir(exist_ok=True)
    for stale in WHEELHOUSE.glob("depbounds_example_*.whl"):
        stale.unlink()
    count = 0
    for dist in sorted(p for p in LIBS.iterdir() if p.is_dir()):
        releases = [p for p in dist.iterdir() if p.is_dir()]
        for release in sorted(releases, key=lambda p: Version(p.name)):
            files = release_files(release)
            wheel = write_wheel(
                WHEELHOUSE,
                dist.name,
                release.name,
                files,
                requires=(),
                requires_python=REQUIRES_PYTHON.get((dist.name, release.name)),
            )
            print(f"wrote {wheel.relative_to(HERE)}  ({', '.join(files)})")
            count += 1
    print(f"{count} wheels in {WHEELHOUSE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
