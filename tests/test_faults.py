"""Faults: killed builds, Ctrl-C, concurrent runs, untouched files, planted secrets."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.envs import PAUSE_VAR
from pytest_depbounds.process import BLOCKED_ENV_VARS, child_environ
from pytest_depbounds.testing import write_project

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

PACKAGE = {"myproj/__init__.py": "import fakelib\n"}
TESTS = {
    "test_go.py": """
        import os
        import pathlib
        import time

        import fakelib


        def test_go():
            marker = os.environ.get("DEPBOUNDS_FAULTS_STARTED")
            if marker:
                name = "lower" if hasattr(fakelib, "old_api") else "upper"
                pathlib.Path(f"{marker}-{name}").write_text("started")
            if os.environ.get("DEPBOUNDS_FAULTS_HANG_UPPER") and not hasattr(
                fakelib, "old_api"
            ):
                time.sleep(120)
    """
}


def _project(root: Path) -> Path:
    return write_project(
        root, "myproj", dependencies=["fakelib>=1.0"], package=PACKAGE, tests=TESTS
    )


def _pytest(
    project: Path, *args: str, env: dict[str, str] | None = None, out: Path
) -> subprocess.Popen[bytes]:
    """Start an outer run in its own process group, as a shell starts a job."""
    environ = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
        **(env or {}),
    }
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
            cwd=project,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_after_ctrl_c(proc: subprocess.Popen[bytes], out: Path) -> int:
    """The run's exit code; if it hangs, fail with every thread's stack."""
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # PYTHONFAULTHANDLER (set by _pytest) dumps the threads on SIGABRT.
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=30)
        pytest.fail(
            f"still running 60 s after Ctrl-C:\n{out.read_text(errors='replace')}"
        )


def _run(project: Path, *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended ({proc.returncode}) before {path.name}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} never appeared")
        time.sleep(0.05)


def _wait_for_text(out: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in out.read_text(errors="replace"):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} never printed:\n{out.read_text(errors='replace')}")
        time.sleep(0.05)


def _processes_mentioning(needle: str) -> list[str]:
    """Command lines of live processes naming a path (our children do: envs, markers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    """After the test, stop what a failed assertion may have left running."""
    yield
    for line in _processes_mentioning(str(tmp_path)):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    os.killpg(proc.pid, sig)


def _kill_pid_in(marker: Path) -> None:
    # The paused step is a child in a session of its own, as installers are: a
    # SIGKILL of the run does not reach it, the machine's reboot would.
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(marker.read_text()), signal.SIGKILL)


# -- killed at any point of an env build ------------------------------------------


@pytest.mark.parametrize("point", ["created", "pins", "installed", "reinstalling"])
@pytest.mark.usefixtures("_no_leftovers")
def test_a_build_killed_at_any_point_is_rebuilt(
    point: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "proj")
    monkeypatch.chdir(project)
    if point == "reinstalling":
        # The project's reinstall into a complete env, after a source change.
        assert _run(project, "--depbounds=lower")[0] == 0
        (project / "myproj" / "extra.py").write_text("X = 1\n")
    marker = tmp_path / "paused"
    out = tmp_path / "killed.out"
    proc = _pytest(
        project, "--depbounds=lower", env={PAUSE_VAR: f"{point}:{marker}"}, out=out
    )
    try:
        _wait_for(marker, proc)
    finally:
        _kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)
        _kill_pid_in(marker)
    code, output = _run(project, "--depbounds=lower")
    assert "Traceback" not in output
    assert "[lower] creating env" in output, output
    assert "[lower] env reused" not in output
    assert code == 0, output


# -- Ctrl-C ------------------------------------------------------------------------


@pytest.mark.usefixtures("_no_leftovers")
def test_ctrl_c_during_an_install_stops_every_child(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    marker = tmp_path / "paused"
    out = tmp_path / "run.out"
    proc = _pytest(
        project, "--depbounds=lower", env={PAUSE_VAR: f"pins:{marker}"}, out=out
    )
    _wait_for(marker, proc)
    installer = int(marker.read_text())
    _kill_group(proc, signal.SIGINT)
    code = _wait_after_ctrl_c(proc, out)
    output = out.read_text(errors="replace")
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output
    assert "lower  interrupted" in output, output
    assert not Path(f"/proc/{installer}").exists() or _zombie(installer)
    assert _processes_mentioning(str(tmp_path)) == []
    # What the interrupted build left is not trusted: the next run rebuilds.
    code, output = _run(project, "--depbounds=lower")
    assert "[lower] creating env" in output
    assert code == 0, output


@pytest.mark.usefixtures("_no_leftovers")
def test_ctrl_c_during_the_inner_runs_prints_what_finished(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    started = tmp_path / "started"
    out = tmp_path / "run.out"
    proc = _pytest(
        project,
        "--depbounds",
        "--depbounds-jobs=2",
        "--depbounds-report=r.json",
        env={
            "DEPBOUNDS_FAULTS_STARTED": str(started),
            "DEPBOUNDS_FAULTS_HANG_UPPER": "1",
        },
        out=out,
    )
    _wait_for(Path(f"{started}-upper"), proc)
    _wait_for_text(out, "[lower] passed")
    _kill_group(proc, signal.SIGINT)
    code = _wait_after_ctrl_c(proc, out)
    output = out.read_text(errors="replace")
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert any(line.startswith("lower  passed") for line in lines), output
    assert any(line.startswith("upper  interrupted") for line in lines), output
    assert _processes_mentioning(str(tmp_path)) == []
    report = json.loads((project / "r.json").read_text())
    assert report["exitcode"] == 2
    assert [b["status"] for b in report["bounds"]] == ["passed", "interrupted"]


@pytest.mark.usefixtures("_no_leftovers")
def test_an_inner_session_does_not_outlive_a_killed_run(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    started = tmp_path / "started"
    out = tmp_path / "run.out"
    proc = _pytest(
        project,
        "--depbounds=upper",
        env={
            "DEPBOUNDS_FAULTS_STARTED": str(started),
            "DEPBOUNDS_FAULTS_HANG_UPPER": "1",
        },
        out=out,
    )
    _wait_for(Path(f"{started}-upper"), proc)
    assert _processes_mentioning(str(tmp_path)), "no inner session to orphan"
    # SIGKILL leaves no chance to clean up: the inner session notices alone.
    _kill_group(proc, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(tmp_path)) == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# -- concurrent runs ----------------------------------------------------------------


def test_a_run_waits_for_the_env_another_run_holds(tmp_path: Path) -> None:
    from filelock import FileLock  # noqa: PLC0415

    project = _project(tmp_path / "proj")
    assert _run(project, "--depbounds=lower")[0] == 0
    (lock_path,) = (project / ".pytest_cache/d/depbounds/envs").glob("lower-*.lock")
    out = tmp_path / "second.out"
    with FileLock(str(lock_path)):
        proc = _pytest(project, "--depbounds=lower", out=out)
        _wait_for_text(out, "waiting for another run using lower-")
        time.sleep(0.5)
        assert proc.poll() is None, "the run did not wait for the lock"
    assert proc.wait(timeout=120) == 0, out.read_text()
    assert "lower  passed" in out.read_text()


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    # The first pair builds the env (one waits for the other), the rest reuse it.
    for attempt in range(10):
        outs = [tmp_path / f"run-{attempt}-{n}.out" for n in (1, 2)]
        procs = [_pytest(project, "--depbounds=lower", out=out) for out in outs]
        codes = [proc.wait(timeout=300) for proc in procs]
        for code, out in zip(codes, outs, strict=True):
            output = out.read_text(errors="replace")
            assert code == 0, output
            assert "Traceback" not in output
            assert "lower  passed     1 passed" in output, output


# -- nothing of the user's is modified ----------------------------------------------


def _digest(
    root: Path, skip: Sequence[str] = (), *, contents: bool = True
) -> dict[str, str]:
    """Per file: its content digest, or its size and mtime (a big tree)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(files):
            path = Path(folder, name)
            if path.name in skip:
                continue
            if contents:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                stat = path.lstat()
                found[str(path)] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


def test_a_full_run_modifies_neither_the_project_nor_the_running_env(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path / "proj")
    site = Path(sysconfig.get_paths()["purelib"])
    # pytest's cache (where our envs live) and bytecode are written by any pytest
    # run; the report and the JUnit XML (one more per bound) were asked for.
    junit = ("junit.xml", "junit.lower.xml", "junit.upper.xml")
    skip = (".pytest_cache", "__pycache__", "r.json", *junit)
    project_before = _digest(project, skip)
    site_before = _digest(site, ("__pycache__",), contents=False)
    code, output = _run(
        project, "--depbounds", "--depbounds-report=r.json", "--junitxml=junit.xml"
    )
    assert code == 0, output
    assert (project / "r.json").is_file()
    assert _digest(project, skip) == project_before
    assert _digest(site, ("__pycache__",), contents=False) == site_before


# -- credentials ---------------------------------------------------------------------

# Planted in the run's arguments and environment, then looked for in every output.
SECRET_URL_PASSWORD = "pw-SECRET-in-index-url-7f3a"  # noqa: S105
SECRET_EXTRA_TOKEN = "tok-SECRET-in-pip-variable-91c2"  # noqa: S105
SECRET_UV_PASSWORD = "uv-SECRET-password-variable-5d0e"  # noqa: S105
SECRETS = (SECRET_URL_PASSWORD, SECRET_EXTRA_TOKEN, SECRET_UV_PASSWORD)


@pytest.fixture
def private_index(
    fake_index: Path, tooling_wheels: Path, serve_index: Callable[..., int]
) -> int:
    credentials = {f"user:{SECRET_URL_PASSWORD}", f"__token__:{SECRET_EXTRA_TOKEN}"}
    return serve_index([fake_index, tooling_wheels], credentials)


LEAKY_TESTS = {
    "test_env.py": """
        import os

        import fakelib


        def test_prints_the_environment():
            for name in sorted(os.environ):
                if name.startswith(("PIP_", "UV_", "DEPBOUNDS_")):
                    print(name, os.environ[name])
            assert False, os.environ["PIP_EXTRA_INDEX_URL"]
    """
}


def test_a_planted_secret_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_index: int
) -> None:
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv(
        "PIP_EXTRA_INDEX_URL",
        f"http://__token__:{SECRET_EXTRA_TOKEN}@127.0.0.1:{private_index}/simple",
    )
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", SECRET_UV_PASSWORD)
    index = f"http://user:{SECRET_URL_PASSWORD}@127.0.0.1:{private_index}/simple"
    project = write_project(
        tmp_path / "proj",
        "myproj",
        dependencies=["fakelib>=1.0"],
        package=PACKAGE,
        tests=LEAKY_TESTS,
    )
    cache = tmp_path / "cache"
    common = [f"--depbounds-index-url={index}", f"--depbounds-cache-dir={cache}"]
    # A run whose test prints the variables and fails with a token in its message.
    code, first = _run(
        project,
        "--depbounds",
        "-rA",
        "--depbounds-report=r.json",
        "--junitxml=junit.xml",
        *common,
    )
    assert code == 1, first
    assert "test_prints_the_environment@lower" in first
    assert "****" in first
    # A run that fails to resolve: the index is named in the error, masked.
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml")
        .read_text()
        .replace('"fakelib>=1.0"', '"fakelib>=1.0", "nosuchdist>=1"')
    )
    code, second = _run(
        project,
        "--depbounds=lower",
        "--depbounds-report=r2.json",
        "--junitxml=junit2.xml",
        *common,
    )
    assert code == 6, second
    assert f"from index http://user:****@127.0.0.1:{private_index}/simple" in second
    outputs = {"first run": first, "second run": second}
    for root in (project, cache):
        for path in root.rglob("*"):
            if path.is_file() and "site-packages" not in path.parts:
                outputs[str(path)] = path.read_text(errors="replace")
    assert (project / "junit.xml").is_file()
    assert any(name.endswith(".log") for name in outputs)
    leaks = [
        f"{where}: {secret}"
        for where, text in outputs.items()
        for secret in SECRETS
        if secret in text
    ]
    assert leaks == []


def test_no_shell_strings() -> None:
    root = Path(__file__).parent.parent
    needle = "shell" + "=True"
    sources = [
        path
        for folder in ("pytest_depbounds", "tests", "benchmarks", "example", ".ci")
        for path in root.joinpath(folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ""}
    ]
    assert len(sources) > 20
    assert [str(p) for p in sources if needle in p.read_text(errors="replace")] == []


def test_the_readme_lists_every_dropped_variable() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The environment of the envs", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {
        name for row in rows for name in re.findall(r"`([A-Z_]+)`", row.split("|")[1])
    }
    assert documented == set(BLOCKED_ENV_VARS)
    environ = dict.fromkeys(BLOCKED_ENV_VARS, "x") | {"PIP_INDEX_URL": "kept"}
    assert child_environ(environ, python_path="inner") == {
        "PIP_INDEX_URL": "kept",
        "PYTHONPATH": "inner",
    }
