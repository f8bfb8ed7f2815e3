"""One virtualenv per bound, trusted only when its stamp (written last) matches."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_depbounds.errors import EnvBuildError
from pytest_depbounds.installer import parse_build_failure, pinned_versions
from pytest_depbounds.process import ExecuteRequest, execute

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping

    from pytest_depbounds.installer import Installer
    from pytest_depbounds.interpreters import Interpreter

STAMP = "depbounds-stamp.json"
PINS = "depbounds-pins.txt"

#: Test hook: ``POINT:MARKER`` makes a build block at ``POINT`` in a child that
#: writes its pid to ``MARKER``, as a slow installer step would, so that a test can
#: kill or interrupt the run there. Never set outside our own tests.
PAUSE_VAR = "PYTEST_DEPBOUNDS_TEST_PAUSE"

#: Envs kept per bound; older ones (by last use) are removed after a build.
KEEP_PER_BOUND = 3

#: The prefix of the bounds of bisection's and localisation's probe envs, which
#: are kept by run (:func:`prune_runs`), not by count.
PROBE_FAMILY = "bisect"

#: Folders never part of the project's source digest.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "build", "dist", "node_modules", "htmlcov", "site-packages"}
)


#: Files that can change what the project's build installs. Test runs write
#: reports, logs and caches beside the source: those must not force a reinstall.
_SOURCE_SUFFIXES = (
    *(".py", ".pyi", ".pyx", ".pxd", ".c", ".h", ".cpp", ".rs"),
    *(".toml", ".cfg", ".ini", ".in", ".typed"),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnvPlan:
    """What a bound env must hold."""

    bound: str
    interpreter: Interpreter
    pins: tuple[str, ...]
    installer: str
    project_dir: Path
    project_name: str
    build_inputs: tuple[Path, ...]
    editable: bool
    #: ``name version`` of the pins built from their sdist (said: it is slow).
    from_source: tuple[str, ...] = ()

    def key(self) -> str:
        """Digest of everything that, changed, needs a new env.

        The project's own files are not part of it: a change there (its
        ``pyproject.toml`` included) only reinstalls the project. Its folder is:
        two projects sharing a cache dir never install into one env.
        """
        payload = {
            "bound": self.bound,
            "project": str(self.project_dir.resolve()),
            "python": [self.interpreter.executable, self.interpreter.version],
            "pins": sorted(self.pins),
            "installer": self.installer,
            "editable": self.editable,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuiltEnv:
    """A ready env."""

    path: Path
    python: Path
    reused: bool
    project_reinstalled: bool
    elapsed: float


def env_python(path: Path) -> Path:
    """The interpreter inside an env folder."""
    if os.name == "nt":  # pragma: no cover - Windows
        return path / "Scripts" / "python.exe"
    return path / "bin" / "python"


def env_dir(plan: EnvPlan, envs_dir: Path) -> Path:
    """The folder of a plan's env: its bound, then the start of its key."""
    return envs_dir / f"{plan.bound}-{plan.key()[:16]}"


def is_built(plan: EnvPlan, envs_dir: Path) -> bool:
    """Whether a plan's env is built and stamped, so that using it needs no install.

    :param plan: What the env must hold.
    :param envs_dir: The folder holding every env.
    :returns: Whether its stamp matches (the project may still need a reinstall).
    """
    stamp = _read_stamp(env_dir(plan, envs_dir))
    return stamp is not None and stamp.get("key") == plan.key()


def ensure_env(
    plan: EnvPlan,
    installer: Installer,
    *,
    envs_dir: Path,
    rebuild: bool,
    log: Callable[[str], None],
    hold: contextlib.ExitStack | None = None,
) -> BuiltEnv:
    """Reuse the bound's env when its stamp matches, else build it.

    :param plan: What the env must hold.
    :param installer: The engine that fills it.
    :param envs_dir: The folder holding every env.
    :param rebuild: Build even when a matching env exists.
    :param log: Progress sink.
    :param hold: Keep the env's lock in this stack after returning, so that no
        other run rebuilds, reinstalls into or prunes the env while it is used.
    :returns: The ready env.
    :raises EnvBuildError: When the env cannot be created or filled.
    """
    start = time.monotonic()
    key = plan.key()
    path = env_dir(plan, envs_dir)
    source_digest = _source_digest(plan)
    envs_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_locked(envs_dir / f"{path.name}.lock", log))
        stamp = None if rebuild else _read_stamp(path)
        if stamp is not None and stamp.get("key") == key:
            reinstalled = stamp.get("source") != source_digest and bool(
                plan.build_inputs
            )
            if reinstalled:
                log("project changed: reinstalling it only")
                (path / STAMP).unlink()
                _checkpoint("reinstalling")
                _run(
                    installer_project(installer, plan, path),
                    "install the project",
                    path,
                )
                # A build may rewrite a source file (hatch-vcs, setuptools-scm
                # write the version file): the stamp holds the tree it left.
                source_digest = _source_digest(plan)
            # Also the last use, which pruning goes by.
            _write_stamp(path, key, source_digest)
            if hold is not None:
                hold.enter_context(stack.pop_all())
            return BuiltEnv(
                path=path,
                python=env_python(path),
                reused=not reinstalled,
                project_reinstalled=reinstalled,
                elapsed=time.monotonic() - start,
            )
        _build(plan, installer, path, log)
        _checkpoint("installed")
        _write_stamp(path, key, _source_digest(plan))
        if hold is not None:
            hold.enter_context(stack.pop_all())
    for removed in prune(envs_dir, keep=KEEP_PER_BOUND, bound=plan.bound):
        log(f"removed old env {removed.path.name}")
    return BuiltEnv(
        path=path,
        python=env_python(path),
        reused=False,
        project_reinstalled=False,
        elapsed=time.monotonic() - start,
    )


def installer_project(
    installer: Installer, plan: EnvPlan, path: Path
) -> ExecuteRequest:
    """The command installing the project into the env at ``path``.

    A built (not editable) project is installed from a wheel built once per
    source state and interpreter and shared by the envs, when the installer can
    build one: both bounds and later runs skip the build.
    """
    wheel = None if plan.editable else _project_wheel(installer, plan, path.parent)
    # Built here from the source by pip: a fresh setuptools build base. (An
    # editable install keeps its metadata beside the source, as pip -e does.)
    scratch = path / ".depbounds-build"
    shutil.rmtree(scratch, ignore_errors=True)
    return installer.install_project(
        env_python(path),
        wheel or plan.project_dir,
        name=plan.project_name,
        editable=plan.editable,
        scratch=None if wheel or plan.editable else scratch,
    )


def _project_wheel(installer: Installer, plan: EnvPlan, envs_dir: Path) -> Path | None:
    """The project's wheel for this source state, built on first use."""
    folder = _wheel_folder(plan, envs_dir)
    with _locked(folder.parent / f"{folder.name}.lock", lambda _: None):
        wheels = sorted(folder.glob("*.whl"))
        if (folder / "complete").is_file() and len(wheels) == 1:
            return wheels[0]
        if folder.exists():
            shutil.rmtree(folder)
        scratch = folder.parent / f"{folder.name}.build"
        shutil.rmtree(scratch, ignore_errors=True)
        request = installer.build_wheel(
            plan.project_dir,
            python=plan.interpreter.executable,
            out_dir=folder,
            scratch=scratch,
        )
        if request is None:
            return None
        try:
            _run(request, "build the project", folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        wheels = sorted(folder.glob("*.whl"))
        if len(wheels) != 1:
            return None  # an unusual backend: install from the source instead
        # Written last: a build killed half-way is never taken for a wheel.
        (folder / "complete").touch()
    # A build that rewrote a source file (a version file) left the tree in
    # another state: that state has this wheel too, or each run builds anew.
    after = _wheel_folder(plan, envs_dir)
    if after != folder:
        with _locked(after.parent / f"{after.name}.lock", lambda _: None):
            if not (after / "complete").is_file():
                shutil.rmtree(after, ignore_errors=True)
                shutil.copytree(folder, after)
    _prune_wheels(folder)
    return wheels[0]


def _wheel_folder(plan: EnvPlan, envs_dir: Path) -> Path:
    """Where the project's wheel for its current source state is kept."""
    digest = hashlib.sha256(
        f"{_source_digest(plan)}:{plan.interpreter.executable}".encode()
    ).hexdigest()[:16]
    return envs_dir.parent / "project-wheels" / f"{plan.project_name}-{digest}"


def _prune_wheels(kept: Path) -> None:
    """Remove the project's older wheels, past a few, once nothing can be using them."""
    project = kept.name.rsplit("-", 1)[0]
    older = sorted(
        (d for d in kept.parent.glob(f"{project}-*") if d.is_dir() and d != kept),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    cutoff = time.time() - 3600
    for folder in older[KEEP_PER_BOUND:]:
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _build(
    plan: EnvPlan, installer: Installer, path: Path, log: Callable[[str], None]
) -> None:
    if path.exists():
        shutil.rmtree(path)
    log(f"creating env {path.name} ({plan.interpreter.label})")
    _create(plan, installer, path)
    _checkpoint("created")
    pins_file = path / PINS
    pins_file.write_text("\n".join(plan.pins) + "\n", encoding="utf-8")
    building = (
        f"; building {', '.join(plan.from_source)} from source (no wheel for "
        f"{plan.interpreter.label}): this can take minutes"
        if plan.from_source
        else ""
    )
    log(f"installing {len(plan.pins)} packages with {installer.name}{building}")
    _run(
        installer.install_pins(env_python(path), pins_file),
        "install the pins",
        path,
        versions=pinned_versions(plan.pins),
    )
    _checkpoint("pins")
    if not plan.build_inputs:
        # Only requirements files (an application): its tests import its source.
        log(f"{plan.project_dir.name} has no pyproject.toml, setup.cfg or setup.py")
        return
    log(f"installing {plan.project_name} from {plan.project_dir}")
    _run(installer_project(installer, plan, path), "install the project", path)


def _create(plan: EnvPlan, installer: Installer, path: Path) -> None:
    from virtualenv import cli_run  # noqa: PLC0415 - slow import, only when building

    args = [str(path), "--python", plan.interpreter.executable, "--no-periodic-update"]
    if installer.name == "uv":
        args.append("--no-seed")
    else:
        args += ["--no-setuptools", "--no-wheel"]
    try:
        cli_run(args, setup_logging=False)
    except SystemExit as exc:
        msg = f"virtualenv could not create {path} (exit {exc.code})"
        raise EnvBuildError(msg) from None
    except Exception as exc:  # noqa: BLE001 - virtualenv raises many kinds
        msg = f"virtualenv could not create {path}: {exc}"
        raise EnvBuildError(msg) from None


def _run(
    request: ExecuteRequest,
    what: str,
    path: Path,
    *,
    versions: Mapping[str, str] | None = None,
) -> None:
    outcome = execute(request)
    if not outcome.ok:
        # pip names what it could not build without its version: the pins say it.
        failure = parse_build_failure(outcome.stderr + "\n" + outcome.stdout, versions)
        if failure is not None:
            name, version, why = failure
            what = f"{what}: {name}=={version} does not build ({why})"
        log = path.parent / f"{path.name}.log"
        raise EnvBuildError(
            f"could not {what}: {outcome.failure(log)}", failure=failure
        )


def _checkpoint(point: str) -> None:
    """Block at a named point of a build when a test asks for it (``PAUSE_VAR``)."""
    wanted, _, marker = os.environ.get(PAUSE_VAR, "").partition(":")
    if wanted != point or not marker:
        return
    # A child, as an installer step is: Ctrl-C must stop it like a real one.
    script = (
        "import os, sys, time\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    execute(ExecuteRequest(argv=(sys.executable, "-c", script, marker)))


def _read_stamp(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads((path / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not env_python(path).exists():
        return None
    return data


def _write_stamp(path: Path, key: str, source: str) -> None:
    data = {"key": key, "source": source, "written": time.time()}
    temporary = path / f"{STAMP}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data), encoding="utf-8")
    temporary.replace(path / STAMP)


def _source_digest(plan: EnvPlan) -> str:
    # An editable install follows the source by itself and is stale only when
    # its build inputs change; a built one, as soon as any source file changes.
    digest = hashlib.sha256()
    if plan.editable:
        for path in plan.build_inputs:
            digest.update(path.read_bytes())
        return digest.hexdigest()
    for root, dirs, files in os.walk(plan.project_dir):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in _SKIPPED_DIRS
            and not d.endswith(".egg-info")
            and not (Path(root) / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if not name.endswith(_SOURCE_SUFFIXES):
                continue
            with contextlib.suppress(OSError):
                stat = (Path(root) / name).stat()
                entry = f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n"
                digest.update(entry.encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path, log: Callable[[str], None]) -> Iterator[None]:
    from filelock import FileLock, Timeout  # noqa: PLC0415

    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"waiting for another run using {lock_path.stem}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnvInfo:
    """An env found in the cache."""

    path: Path
    bound: str
    complete: bool
    last_used: float

    @functools.cached_property
    def size(self) -> int:
        """Bytes on disk; walking an env is slow, so only when asked."""
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += (Path(root) / name).lstat().st_size
        return total


def list_envs(envs_dir: Path) -> list[EnvInfo]:
    """The envs of a cache dir, most recently used first.

    :param envs_dir: The ``envs`` folder of a depbounds cache dir.
    :returns: One entry per env folder.
    """
    if not envs_dir.is_dir():
        return []
    found = []
    for path in envs_dir.iterdir():
        if not path.is_dir():
            continue
        stamp = path / STAMP
        complete = _read_stamp(path) is not None
        try:
            last_used = (stamp if complete else path).stat().st_mtime
        except OSError:
            continue
        found.append(
            EnvInfo(
                path=path,
                bound=path.name.rsplit("-", 1)[0],
                complete=complete,
                last_used=last_used,
            )
        )
    return sorted(found, key=lambda e: e.last_used, reverse=True)


def prune(
    envs_dir: Path,
    *,
    keep: int,
    bound: str | None = None,
    families: Collection[str] = (),
) -> list[EnvInfo]:
    """Remove all but the ``keep`` most recently used envs of each bound.

    Incomplete envs are always removed; an env another run holds is left alone.

    :param envs_dir: The ``envs`` folder of a depbounds cache dir.
    :param keep: Envs kept per bound.
    :param bound: Only prune this bound's envs.
    :param families: Families of probe envs left alone (:func:`prune_runs`
        keeps them by run).
    :returns: The envs removed.
    """
    removed: list[EnvInfo] = []
    seen: dict[str, int] = {}
    for env in list_envs(envs_dir):
        if bound is not None and env.bound != bound:
            continue
        if any(_in_family(env, family) for family in families):
            continue
        seen[env.bound] = seen.get(env.bound, 0) + env.complete
        if env.complete and seen[env.bound] <= keep:
            continue
        if _remove(envs_dir, env):
            removed.append(env)
    return removed


def _in_family(env: EnvInfo, family: str) -> bool:
    return env.bound == family or env.bound.startswith(f"{family}-")


def _remove(envs_dir: Path, env: EnvInfo) -> bool:
    """Remove an env unless another run holds its lock."""
    from filelock import FileLock, Timeout  # noqa: PLC0415

    lock = FileLock(str(envs_dir / f"{env.path.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    try:
        env.size  # noqa: B018 - measured before it is gone, for the report
        shutil.rmtree(env.path, ignore_errors=True)
    finally:
        lock.release()
    return True


def prune_runs(
    envs_dir: Path, *, family: str, used: Collection[str] | None, keep: int
) -> list[EnvInfo]:
    """Record the envs of a family one run used; remove those its last runs did not.

    Bisection and localisation build an env per pinned set, many per run, each
    its own bound (``bisect-lower-twolib-1.6``): kept by run, not by count, so a
    re-run finds every one of them again, and the envs of older runs go as the
    older envs of a bound do. The ledger lives beside the ``envs`` folder.

    :param envs_dir: The ``envs`` folder of a depbounds cache dir.
    :param family: The prefix of the envs' bounds (``bisect``).
    :param used: Folder names of the envs this run used; ``None`` records no
        run and only thins (``depbounds cache prune``).
    :param keep: Runs whose envs are kept, this one included (at least this
        one when it used any).
    :returns: The envs removed.
    """
    ledger = envs_dir.parent / "env-runs" / f"{family}.json"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with _locked(ledger.with_suffix(".lock"), lambda _: None):
        try:
            runs = json.loads(ledger.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            runs = []
        if not isinstance(runs, list):
            runs = []
        if used is not None:
            runs = [sorted(used), *runs][: max(keep, 1)]
        else:
            runs = runs[: max(keep, 0)]
        temporary = ledger.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(runs), encoding="utf-8")
        temporary.replace(ledger)
        kept = {str(name) for run in runs if isinstance(run, list) for name in run}
    return [
        env
        for env in list_envs(envs_dir)
        if _in_family(env, family)
        and env.path.name not in kept
        and _remove(envs_dir, env)
    ]
