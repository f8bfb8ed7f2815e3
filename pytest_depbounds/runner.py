"""Run the user's pytest session inside a bound's env and stream its records back."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from pytest_depbounds import _inner
from pytest_depbounds.options import OPTIONS, strip_our_args
from pytest_depbounds.process import (
    child_environ,
    describe_signal,
    kill_group,
    tracked,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

INNER_MODULE = "pytest_depbounds_inner"

#: Lines of the inner session's output shown when it crashed.
LOG_TAIL_LINES = 30

_INI_TYPES = {"flag": "bool", "list": "args"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class InnerRequest:
    """One inner pytest session."""

    bound: str
    env_python: Path
    args: tuple[str, ...]
    cwd: Path
    inner_dir: Path
    results: Path
    log: Path
    cache_dir: Path
    timeout: float | None


#: pytest's exit statuses of a session that broke rather than ran its tests
#: (``pytest.ExitCode`` values; old pytests return the same numbers).
_BROKEN_EXITSTATUS = {3: "an internal error", 4: "a usage error"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """How an inner session ended."""

    returncode: int | None
    exitstatus: int | None
    timed_out: bool
    interrupted: bool
    elapsed: float
    log: Path

    @property
    def crashed(self) -> bool:
        """Whether the session died, or reported an end where no test could pass.

        pytest writes its own end after an INTERNALERROR (a plugin or hook that
        raised) or a usage error too: those ran no test to its end, so they are
        crashes, never a pass with no tests.
        """
        return self.exitstatus is None or self.exitstatus in _BROKEN_EXITSTATUS

    def describe(self) -> str:
        """One phrase saying how a crashed session ended."""
        if self.exitstatus in _BROKEN_EXITSTATUS:
            what = _BROKEN_EXITSTATUS[self.exitstatus]
            return f"ended with {what} (exit status {self.exitstatus})"
        if self.timed_out:
            return "timed out and was stopped"
        if self.interrupted:
            return "was interrupted"
        if self.returncode is not None and self.returncode < 0:
            return f"was killed by {describe_signal(-self.returncode)}"
        return f"crashed with exit code {self.returncode}"

    def log_tail(self, count: int = LOG_TAIL_LINES) -> str:
        """The end of the session's own output.

        :param count: How many lines.
        :returns: Its last ``count`` lines.
        """
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-count:])


def install_inner_plugin(directory: Path) -> Path:
    """Put the inner plugin alone in a folder meant for ``PYTHONPATH``.

    :param directory: The private folder.
    :returns: The folder.
    """
    directory.mkdir(parents=True, exist_ok=True)
    source = Path(_inner.__file__).read_text(encoding="utf-8")
    target = directory / f"{INNER_MODULE}.py"
    if not target.exists() or target.read_text(encoding="utf-8") != source:
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(source, encoding="utf-8")
        temporary.replace(target)
    return directory


def inner_argv(request: InnerRequest) -> list[str]:
    """The inner session's command line: the user's arguments, our plugin first.

    The env's ``pytest`` script is run rather than ``python -m pytest``, which
    would put the working folder first on ``sys.path`` and test the project's
    source tree instead of the installed project.
    """
    script = request.env_python.parent / "pytest"
    entry = [str(script)] if script.is_file() and os.name != "nt" else ["-m", "pytest"]
    # With the cacheprovider disabled on the command line, ``cache_dir`` is an
    # unknown ini key: a warning, an INTERNALERROR under ``filterwarnings =
    # error``. (Disabled in addopts, pytest registered the key first.)
    cache = (
        ()
        if _blocks_cacheprovider(request.args)
        else ("-o", f"cache_dir={request.cache_dir}")
    )
    return [str(request.env_python), *entry, "-p", INNER_MODULE, *cache, *request.args]


def _blocks_cacheprovider(args: Sequence[str]) -> bool:
    """Whether ``args`` hold ``-p no:cacheprovider`` (or ``-pno:cacheprovider``).

    :param args: The inner session's own arguments.
    :returns: Whether pytest's cache is disabled by them.
    """
    plugins = [
        args[i + 1] if arg == "-p" and i + 1 < len(args) else arg[2:]
        for i, arg in enumerate(args)
        if arg.startswith("-p")
    ]
    return "no:cacheprovider" in plugins


def inner_environ(request: InnerRequest, base: Mapping[str, str]) -> dict[str, str]:
    """The inner session's environment: the user's, with our plugin on the path."""
    env = child_environ(base, python_path=str(request.inner_dir))
    # The env activated, as tox and nox do: a test running a console script
    # (the project's own CLI) runs the env's, not one further on the PATH.
    scripts = request.env_python.parent
    env["PATH"] = os.pathsep.join(p for p in (str(scripts), env.get("PATH", "")) if p)
    env["VIRTUAL_ENV"] = str(scripts.parent)
    env[_inner.RESULTS_VAR] = str(request.results)
    env[_inner.PARENT_VAR] = str(os.getpid())
    env[_inner.OPTIONS_VAR] = json.dumps(
        [["--depbounds", False, None]]
        + [
            [
                o.flag,
                o.takes_value,
                _INI_TYPES.get(o.kind, "string") if o.has_ini else None,
            ]
            for o in OPTIONS
        ]
    )
    # Bytecode goes to our cache, never beside the user's files, so it can be
    # kept between runs even where PYTHONDONTWRITEBYTECODE is set: a re-run
    # in a kept env then skips recompiling pytest and the dependencies.
    if not env.get("PYTHONPYCACHEPREFIX"):
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(request.cache_dir / "pycache")
    addopts = env.get("PYTEST_ADDOPTS")
    if addopts:
        env["PYTEST_ADDOPTS"] = shlex.join(strip_our_args(shlex.split(addopts)))
    return env


class StopSignal(Protocol):
    """What tells a running session to stop (a ``threading.Event``, say)."""

    def is_set(self) -> bool:
        """:returns: Whether to stop."""


def run_inner(
    request: InnerRequest,
    on_record: Callable[[dict[str, Any]], None],
    stop: StopSignal,
) -> RunOutcome:
    """Run the inner session, passing each record on as soon as it is written.

    :param request: The session.
    :param on_record: Called with each JSON record, in order.
    :param stop: Set by the caller to stop the session (Ctrl-C).
    :returns: How it ended.
    """
    request.results.parent.mkdir(parents=True, exist_ok=True)
    request.results.write_text("", encoding="utf-8")
    start = time.monotonic()
    finish: list[int] = []
    timed_out = interrupted = False

    def record(item: dict[str, Any]) -> None:
        if item.get("event") == "finish":
            finish.append(int(item.get("exitstatus", 1)))
        on_record(item)

    with (
        request.log.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            inner_argv(request),
            cwd=request.cwd,
            env=inner_environ(request, os.environ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as proc,
        tracked(proc),
        request.results.open(encoding="utf-8") as results,
    ):
        pending = ""
        while True:
            try:
                proc.wait(timeout=0.05)
                done = True
            except subprocess.TimeoutExpired:
                done = False
            pending = _drain(results, pending, record)
            if done:
                break
            if stop.is_set():
                interrupted = True
                kill_group(proc)
            elif request.timeout and time.monotonic() - start > request.timeout:
                timed_out = True
                kill_group(proc)
        pending = _drain(results, pending, record)
    for line in pending.splitlines():
        _parse(line, record)
    return RunOutcome(
        returncode=proc.returncode,
        exitstatus=finish[-1] if finish else None,
        timed_out=timed_out,
        interrupted=interrupted,
        elapsed=time.monotonic() - start,
        log=request.log,
    )


def _drain(
    results: IO[str], pending: str, on_record: Callable[[dict[str, Any]], None]
) -> str:
    pending += results.read()
    *complete, pending = pending.split("\n")
    for line in complete:
        _parse(line, on_record)
    return pending


def _parse(line: str, on_record: Callable[[dict[str, Any]], None]) -> None:
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except ValueError:
        return
    if not isinstance(record, dict):
        return
    on_record(record)
