"""Run a child process from an argv list and report what it did."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

#: Variables that would make a child see another environment than the one we built
#: (nox ``_BLACKLISTED_ENV_VARS``, plus the outer session's own search path).
BLOCKED_ENV_VARS = frozenset(
    {"PIP_RESPECT_VIRTUALENV", "PIP_REQUIRE_VIRTUALENV", "__PYVENV_LAUNCHER__"}
    | {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH", "UV_PYTHON"}
)


# Children still running, so that Ctrl-C in the main thread can stop those that
# worker threads started.
_running: set[subprocess.Popen[Any]] = set()
_running_lock = threading.Lock()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecuteRequest:
    """A command to run: never a shell string."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """What a finished command returned."""

    request: ExecuteRequest
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Whether the command exited with 0."""
        return self.returncode == 0 and not self.timed_out

    def error_tail(self, limit: int = 12) -> str:
        """The last lines of its error output, or the line that best says why."""
        lines = [line.rstrip() for line in self.stderr.splitlines() if line.strip()]
        return "\n".join(lines[-limit:]) or self.last_error_line()

    def last_error_line(self) -> str:
        """The line of its output that best says why it failed."""
        for stream in (self.stderr, self.stdout):
            lines = [line.strip() for line in stream.splitlines() if line.strip()]
            errors = [line for line in lines if "error" in line.lower()]
            if errors:
                return errors[-1]
            if lines:
                return lines[-1]
        if self.timed_out:
            return f"timed out after {self.request.timeout:g} s"
        return f"exit code {self.returncode}"


def child_environ(
    base: Mapping[str, str], *, python_path: str | None = None
) -> dict[str, str]:
    """Build a child's environment: the user's, minus what would change the env.

    :param base: Usually ``os.environ``.
    :param python_path: The only ``PYTHONPATH`` entry the child may see.
    :returns: A new mapping.
    """
    env = {k: v for k, v in base.items() if k not in BLOCKED_ENV_VARS}
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    return env


def execute(request: ExecuteRequest) -> Outcome:
    """Run a command to completion, killing its whole process group on timeout.

    :param request: What to run.
    :returns: Its outcome; never raises for a non-zero exit.
    """
    start = time.monotonic()
    with (
        subprocess.Popen(
            request.argv,
            cwd=request.cwd,
            env=request.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        ) as proc,
        tracked(proc),
    ):
        try:
            stdout, stderr = proc.communicate(timeout=request.timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            stdout, stderr = proc.communicate()
            return Outcome(
                request=request,
                returncode=proc.returncode,
                stdout=stdout,
                stderr=stderr,
                elapsed=time.monotonic() - start,
                timed_out=True,
            )
        except BaseException:
            # Ctrl-C: the child is in its own session, so it is ours to stop.
            kill_group(proc)
            raise
    return Outcome(
        request=request,
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        elapsed=time.monotonic() - start,
    )


@contextlib.contextmanager
def tracked(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """Register a running child so :func:`kill_all` can stop it.

    :param proc: The child.
    """
    with _running_lock:
        _running.add(proc)
    try:
        yield
    finally:
        with _running_lock:
            _running.discard(proc)


def kill_all() -> None:
    """Stop every child still running (Ctrl-C), with everything they started."""
    with _running_lock:
        running = list(_running)
    for proc in running:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a child started with ``start_new_session`` and everything it started.

    :param proc: The child.
    """
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    else:  # pragma: no cover - Windows
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
