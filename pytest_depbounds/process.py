"""Run a child process from an argv list and report what it did."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

#: Variables that would make a child see another environment than the one we built
#: (nox ``_BLACKLISTED_ENV_VARS``, plus the outer session's own search path), or
#: change which versions are resolved and installed behind the pins' back: a
#: user's constraints, overrides or upgrade flags would move a bound silently.
#: Index, proxy, certificate and credential settings are kept: installers need them.
BLOCKED_ENV_VARS = frozenset(
    {"PIP_RESPECT_VIRTUALENV", "PIP_REQUIRE_VIRTUALENV", "__PYVENV_LAUNCHER__"}
    | {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH", "UV_PYTHON"}
    | {"PIP_CONSTRAINT", "PIP_REQUIREMENT", "PIP_UPGRADE", "PIP_FORCE_REINSTALL"}
    | {"PIP_IGNORE_INSTALLED", "PIP_NO_DEPS", "PIP_PRE", "PIP_TARGET", "PIP_PREFIX"}
    | {"PIP_USER", "PIP_ROOT", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT"}
    | {"UV_RESOLUTION", "UV_PRERELEASE", "UV_EXCLUDE_NEWER", "UV_SYSTEM_PYTHON"}
    | {"UV_TORCH_BACKEND", "UV_PROJECT_ENVIRONMENT"}
)

#: Prefixes of an installer's headline and cause lines (uv, then pip).
_HEADLINE = ("error:", "\N{MULTIPLICATION SIGN}", "ERROR:")
_CAUSE = ("cause:", "├─▶", "╰─▶", "Caused by:")


# Children still running, so that Ctrl-C in the main thread can stop those that
# worker threads started.
_running: set[subprocess.Popen[Any]] = set()
_running_lock = threading.Lock()
# Set by Ctrl-C: a worker thread between two steps must not start another child.
_stopping = threading.Event()


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
        return self.ending()

    def ending(self) -> str:
        """How the command ended: timed out, killed by a signal, or its exit code."""
        if self.timed_out:
            return f"timed out after {self.request.timeout:g} s"
        if self.returncode < 0:
            return f"killed by {describe_signal(-self.returncode)}"
        return f"exit code {self.returncode}"

    def summary(self) -> str:
        """One line saying why the command failed, from an installer's output.

        uv's headline (``error: ...``) and causes, the exception a build backend
        raised (never its traceback), and uv's specific hints, joined; for other
        output, the line that best says why.

        :returns: A line without line breaks.
        """
        parts, hints = _condense((self.stderr + "\n" + self.stdout).splitlines())
        if not parts:
            return self.last_error_line()
        if self.timed_out or self.returncode < 0:
            parts.append(self.ending())
        text = ": ".join(p.rstrip(":") for p in parts)
        return " ".join([text, *(f"({hint})" for hint in hints)])

    def write_log(self, path: Path) -> Path | None:
        """Write the whole command, its ending and its output, credentials masked.

        :param path: The log file.
        :returns: The log file, or ``None`` when it could not be written (a full
            disk, a read-only folder).
        """
        from pytest_depbounds.redact import redact  # noqa: PLC0415

        text = (
            f"$ {shlex.join(self.request.argv)}\n# {self.ending()}, "
            f"{self.elapsed:.1f} s\n\n[stdout]\n{self.stdout}\n[stderr]\n{self.stderr}"
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(redact(text), encoding="utf-8")
        except OSError:
            return None
        return path

    def failure(self, log: Path) -> str:
        """One line saying why the command failed, and where its whole output is.

        :param log: Where the whole output is written.
        :returns: The line.
        """
        written = self.write_log(log)
        where = f" (full output: {written})" if written is not None else ""
        return f"{self.summary()}{where}"


def describe_signal(number: int) -> str:
    """Name a signal, e.g. ``signal 9 (SIGKILL)``.

    :param number: The signal's number.
    :returns: Its number, name and, when known, what it means.
    """
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    meaning = signal.strsignal(number) if hasattr(signal, "strsignal") else None
    return f"signal {number} ({name}{f': {meaning}' if meaning else ''})"


def _condense(lines: list[str]) -> tuple[list[str], list[str]]:
    """An installer's headline and causes, the backend's exception, and its hints."""
    parts: list[str] = []
    hints: list[str] = []
    block: list[str] = []
    in_block = False
    for raw in lines:
        line = raw.strip()
        kind, text = _classify(line)
        if kind == "block":
            in_block = True
        elif kind in {"part", "hint"}:
            in_block = False
            found = parts if kind == "part" else hints
            if text and text not in found:
                found.append(text)
        elif in_block and line:
            block.append(line)
        elif parts and line and raw.startswith(" "):
            # uv wraps a long cause onto indented lines.
            parts[-1] += f" {line}"
    if block:
        parts.append(exception_line(block))
    return [_shorten(p) for p in parts], [
        h for h in hints if "usually indicate" not in h
    ]


#: Sentences of a resolver's derivation kept on the line (the first, then the
#: last ones, from its last numbered step when that is close to the end): the
#: whole derivation is in the log the line names.
_HEAD_SENTENCES = 1
_TAIL_SENTENCES = 2


def _shorten(part: str) -> str:
    """A resolver's derivation cut to its first and last sentences.

    uv explains a conflict with a test plugin in dozens of sentences ("Because
    ... we can conclude ..."): the first names the conflict, the last ones the
    newest release and the conclusion.

    :param part: One cause of a failure.
    :returns: It, or its ends joined by an ellipsis.
    """
    sentences = re.split(r"(?<=\.) (?=(?:\(\d+\) )?(?:Because|And because) )", part)
    if len(sentences) <= _HEAD_SENTENCES + _TAIL_SENTENCES + 1:
        return part
    # From the last numbered step ("(4) Because X depends on Y"): the fact the
    # conclusion rests on.
    start = max(
        (i for i, text in enumerate(sentences) if re.match(r"\(\d+\) Because", text)),
        default=len(sentences) - _TAIL_SENTENCES,
    )
    start = max(start, len(sentences) - _TAIL_SENTENCES - 2, _HEAD_SENTENCES + 1)
    return " ".join([*sentences[:_HEAD_SENTENCES], "…", *sentences[start:]])


def _classify(line: str) -> tuple[str, str]:
    # uv pip install shows a backend's output in blocks; uv build, as it comes.
    if line in {"[stderr]", "[stdout]"} or line.startswith("Traceback (most recent"):
        return "block", ""
    if line.startswith("hint:"):
        return "hint", line
    text = _after_prefix(line, _HEADLINE)
    if text is None:
        text = _after_prefix(line, _CAUSE)
    return ("text", line) if text is None else ("part", text)


def _after_prefix(line: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    return None


def exception_line(block: list[str]) -> str:
    """The line of a traceback that says why: the exception, else the last line.

    :param block: Lines of a child's output.
    :returns: One of them.
    """
    for line in reversed(block):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line):
            return line
    return block[-1]


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
    if _stopping.is_set():
        return Outcome(
            request=request,
            returncode=-signal.SIGINT,
            stdout="",
            stderr="error: not started: the run was interrupted",
            elapsed=0.0,
        )
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
        stopping = _stopping.is_set()
    if stopping:
        # Started while Ctrl-C was stopping every child: stop it too.
        kill_group(proc)
    try:
        yield
    finally:
        with _running_lock:
            _running.discard(proc)


def kill_all() -> None:
    """Stop every child still running (Ctrl-C), with everything they started.

    Until :func:`allow_children`, no new child starts.
    """
    with _running_lock:
        _stopping.set()
        running = list(_running)
    for proc in running:
        kill_group(proc)


def allow_children() -> None:
    """Let children start again (a new run in the same process)."""
    _stopping.clear()


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
