#!/usr/bin/env python3
"""Time ``depbounds scan`` cold (empty cache) and warm, with 10 dependencies.

By default the dependencies are fake wheels written here (no network): each has six
versions of three modules with 150 functions and 20 classes each, with symbols
and keywords added and removed between versions, and the project's 40 files use
them. ``--real`` scans a project depending on 10 real PyPI distributions instead
(downloads count in the cold time)::

    .venv/bin/python benchmarks/scan.py [--repeat N] [--real] [--json out.json]

Each sample is a whole ``depbounds scan`` process (interpreter start and imports
included), plus the in-process time the scan itself reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_depbounds.testing import write_project, write_wheel  # noqa: E402

DISTS = 10
VERSIONS = ("1.0", "1.1", "1.2", "1.4", "2.0", "2.1")
MODULES = ("core", "io", "util")
FUNCTIONS = 150
CLASSES = 20
FILES = 40
#: A file added between the warm and the edited runs (fake, real).
EDIT = {
    False: "import lib0\n\n\ndef edited():\n    lib0.core.f{n}(1)\n",
    True: "import requests\n\n\ndef edited():\n    requests.get('x', stream={n})\n",
}
#: Real distributions for ``--real``, with floors that have wheels.
REAL = (
    "attrs>=22.2",
    "idna>=3.4",
    "packaging>=23.0",
    "pluggy>=1.0",
    "six>=1.16",
    "tomli>=2.0",
    "certifi>=2023.7.22",
    "urllib3>=2.0",
    "requests>=2.31",
    "iniconfig>=2.0",
)
REAL_SOURCE = """\
import attrs
import idna
import packaging.version
import pluggy
import six
import tomli
import certifi
import urllib3
import requests
import iniconfig


def run():
    attrs.define(slots=True)
    idna.encode("a", uts46=True)
    packaging.version.Version("1").is_prerelease
    pluggy.HookimplMarker("x")
    six.ensure_str("a")
    tomli.loads("", parse_float=float)
    certifi.where()
    urllib3.PoolManager(num_pools=2)
    requests.get("http://x", timeout=1)
    iniconfig.IniConfig("x")


def later():
    # packaging.licenses appeared in 24.2: a finding with "first present in 24.2".
    import packaging.licenses

    return packaging.licenses.canonicalize_license_expression("MIT")
"""


def fake_module(dist: int, module: str, version_index: int) -> str:
    """One module of one fake version: a symbol appears in 1.2, one goes in 2.0."""
    lines = []
    for number in range(FUNCTIONS):
        # Every tenth function gains a keyword in 1.2.
        extra = ", timeout=None" if number % 10 == 0 and version_index >= 2 else ""
        lines.append(f"def f{number}(a, b=1{extra}):\n    return a\n")
    for number in range(CLASSES):
        methods = "".join(
            f"    def m{m}(self, x):\n        return x\n" for m in range(10)
        )
        lines.append(
            f"class C{number}:\n    def __init__(self, a):\n        self.a = a\n"
            f"{methods}"
        )
    if version_index >= 2:
        lines.append("def added():\n    return 1\n")
    if version_index < 4:
        lines.append("def removed():\n    return 1\n")
    return f"# lib{dist}.{module}\n" + "\n\n".join(lines)


def fake_index(folder: Path) -> list[str]:
    """Write the fake wheels; returns the project's requirements."""
    for dist in range(DISTS):
        for index, version in enumerate(VERSIONS):
            files = {
                f"lib{dist}/__init__.py": "from .core import *\n"
                "from . import io, util\n",
                **{
                    f"lib{dist}/{module}.py": fake_module(dist, module, index)
                    for module in MODULES
                },
            }
            write_wheel(folder, f"lib{dist}", version, files)
    return [f"lib{dist}>=1.0" for dist in range(DISTS)]


def fake_source(number: int) -> str:
    """A project file using every fake dependency."""
    lines = [f"import lib{d}\nfrom lib{d}.util import f3" for d in range(DISTS)]
    body = []
    for dist in range(DISTS):
        body += [
            f"    lib{dist}.core.f{(number + k) % FUNCTIONS}(1)" for k in range(10)
        ]
        body += [
            f"    lib{dist}.io.f{number % 10 * 10}(1, timeout=3)",
            f"    lib{dist}.util.C{number % CLASSES}(1).m3(2)",
            f"    lib{dist}.core.added()" if number == 0 else "    pass",
            f"    lib{dist}.util.removed()" if number == 1 else "    pass",
        ]
    return "\n".join(lines) + "\n\n\ndef run():\n" + "\n".join(body) + "\n"


def make_project(root: Path, *, real: bool) -> tuple[Path, list[str]]:
    """Write the project; returns it and the ``depbounds scan`` index arguments."""
    if real:
        project = write_project(
            root / "project",
            "scanbench",
            dependencies=list(REAL),
            package={"scanbench/__init__.py": REAL_SOURCE},
        )
        return project, []
    links = root / "wheels"
    requirements = fake_index(links)
    package = {"scanbench/__init__.py": ""}
    package.update({f"scanbench/m{n}.py": fake_source(n) for n in range(FILES)})
    project = write_project(
        root / "project", "scanbench", dependencies=requirements, package=package
    )
    return project, ["--no-index", "--find-links", str(links)]


def run_scan(
    project: Path, cache: Path, index_args: list[str], *, bytecode: bool
) -> tuple[float, str]:
    """One ``depbounds scan`` process: its wall time and its output."""
    command = [
        str(Path(sys.executable).with_name("depbounds")),
        "scan",
        str(project),
        "--cache-dir",
        str(cache),
        *index_args,
    ]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    environ["PIP_CONFIG_FILE"] = os.devnull
    if bytecode:
        environ.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=environ, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"depbounds scan failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def inner_seconds(output: str) -> float:
    """The scan's own time, from its last line (``... in 0.12 s: ...``)."""
    last = output.strip().splitlines()[-1]
    return float(last.rpartition(" in ")[2].split(" s")[0])


def main() -> int:
    """Run the benchmark and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--real", action="store_true", help="10 real PyPI dists")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="Let the scan processes write and use bytecode (unset "
        "PYTHONDONTWRITEBYTECODE), as on most machines",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="depbounds-scanbench-"))
    try:
        project, index_args = make_project(root, real=args.real)
        cold, warm, edited, output = [], [], [], ""
        edit = project / "scanbench" / "edited.py"
        for round_number in range(args.repeat):
            cache = root / f"cache{round_number}"
            edit.write_text("", encoding="utf-8")
            cold.append(run_scan(project, cache, index_args, bytecode=args.bytecode))
            warm.append(run_scan(project, cache, index_args, bytecode=args.bytecode))
            output = warm[-1][1]
            # One new use: the uses of the other files and every summary are reused.
            edit.write_text(EDIT[args.real].format(n=round_number), encoding="utf-8")
            edited.append(run_scan(project, cache, index_args, bytecode=args.bytecode))
        stats = {
            name: {
                "process_median": statistics.median(s for s, _ in samples),
                "scan_median": statistics.median(inner_seconds(o) for _, o in samples),
                "process_samples": [round(s, 3) for s, _ in samples],
            }
            for name, samples in (("cold", cold), ("warm", warm), ("edited", edited))
        }
        findings = [line for line in output.splitlines() if line.startswith("static:")]
        print(f"project: {DISTS} dependencies, {'real' if args.real else 'fake'}")
        dont = os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.bytecode
        print(f"PYTHONDONTWRITEBYTECODE: {'set' if dont else 'unset'}")
        print(output.strip().splitlines()[-1])
        print(f"{len(findings)} findings")
        print(f"{'':6} {'depbounds scan':>16} {'scan itself':>12}")
        for name, values in stats.items():
            print(
                f"{name:6} {values['process_median']:15.2f}s "
                f"{values['scan_median']:11.2f}s"
            )
        met = stats["warm"]["process_median"] < 2.0
        print(f"target: warm < 2 s: {'met' if met else 'NOT met'}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "stats": stats,
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "real": args.real,
                        "bytecode": not dont,
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
