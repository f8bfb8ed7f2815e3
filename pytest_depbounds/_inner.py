"""The plugin loaded inside a bound's env: it writes each report as a JSON line.

Stdlib and pytest only: it runs under whatever pytest the env holds, possibly an
old one, and pytest-depbounds itself is never installed there (its own
dependencies would skew the pins). The outer session puts this file alone on
``PYTHONPATH`` and loads it with ``-p pytest_depbounds_inner``.

A failed report also carries the raw facts of its exception (``FACTS_KEY``):
the outer session, which can read the env's metadata, turns them into findings.
They ride on the report itself so that xdist workers forward them too.

The deprecation radar (``warning`` records) sees every ``DeprecationWarning``,
``PendingDeprecationWarning`` and ``FutureWarning`` raised during collection
and each test, even those the project's filters ignore, without changing what
those filters do: see `_Radar`.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import keyword
import linecache
import os
import platform
import re
import signal
import sys
import sysconfig
import types
import warnings
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

    from _pytest.config import Config
    from _pytest.config.argparsing import Parser
    from _pytest.main import Session
    from _pytest.nodes import Collector, Item
    from _pytest.reports import CollectReport, TestReport
    from _pytest.runner import CallInfo

RESULTS_VAR = "DEPBOUNDS_RESULTS"
OPTIONS_VAR = "DEPBOUNDS_OPTIONS"
#: The outer session's pid: when it dies (``SIGKILL``), this session stops too.
PARENT_VAR = "DEPBOUNDS_PARENT_PID"
#: Seconds between two looks at whether the outer session is still alive.
_PARENT_POLL = 0.5
#: The report attribute (and serialised key) holding a failure's facts.
FACTS_KEY = "depbounds_facts"
#: The teardown report attribute carrying an xdist worker's radar records.
WARNINGS_KEY = "depbounds_warnings"

#: Bounds on what one failure writes: the innermost frames matter.
_MAX_CHAIN = 8
_MAX_FRAMES = 40
_MAX_NAMES = 16
_MAX_TEXT = 2000
_FUNCTIONS = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
)
_DOTTED = re.compile(r"(?<![\w.'\"])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

_stream: IO[str] | None = None
#: Whether this is an xdist worker of a recorded session.
_worker = False
# Reports do not carry their config; serialising them needs its hooks.
_configs: list[Config] = []
#: Whether an xdist worker's collection was counted (each worker collects all).
_xdist_collected: list[int] = []


def pytest_addoption(parser: Parser) -> None:
    """Accept our outer options, so a project's addopts or ini keys stay valid."""
    try:
        specs = json.loads(os.environ.get(OPTIONS_VAR, "[]"))
    except ValueError:
        specs = []
    group = parser.getgroup("depbounds (ignored inside a bound env)")
    for flag, takes_value, ini_type in specs:
        if flag == "--depbounds":
            group.addoption(flag, action="store", nargs="?", const="", default=None)
        elif takes_value:
            group.addoption(flag, action="store", default=None)
        else:
            group.addoption(flag, action="store_true", default=False)
        if ini_type:
            parser.addini(flag.lstrip("-").replace("-", "_"), "ignored", type=ini_type)


def pytest_configure(config: Config) -> None:
    """Open the results file; xdist workers leave it to their controller."""
    global _stream, _worker  # noqa: PLW0603 - one stream per process
    path = os.environ.get(RESULTS_VAR)
    if path and hasattr(config, "workerinput"):
        _worker = True  # the radar's records ride on the teardown reports
    if not path or hasattr(config, "workerinput"):
        return
    _stream = open(path, "a", encoding="utf-8")  # noqa: SIM115, PTH123
    _configs[:] = [config]
    _watch_parent()
    _emit(
        {
            "event": "start",
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        }
    )


def _watch_parent() -> None:
    """Stop this session and what it started when the outer session is gone.

    Ctrl-C reaches us through the outer session, which kills our process group;
    a ``SIGKILL`` of the outer session cannot, and a hanging test would run on
    as an orphan. We lead our own process group: end all of it.
    """
    import threading  # noqa: PLC0415 - only in the recorded session

    try:
        parent = int(os.environ.get(PARENT_VAR, ""))
    except ValueError:
        return
    if os.name != "posix" or os.getppid() != parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(_PARENT_POLL)
        if os.getpgid(0) == os.getpid():
            with contextlib.suppress(OSError):
                os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="depbounds-parent-watch", daemon=True).start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: Item, call: CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the facts of a failed phase's exception to its report."""
    del item
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None:
        _attach_facts(report, call.excinfo.value)
    if call.when == "teardown" and _radars:
        # An xdist worker has no results file: its controller forwards the report.
        carried = [*_pending, *_radars[-1].drain()]
        _pending.clear()
        if carried:
            setattr(report, WARNINGS_KEY, carried)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: Collector) -> Generator[None, Any, None]:
    """Attach the facts of a collection error to its report."""
    del collector
    outcome = yield
    report = outcome.get_result()
    # pytest keeps the CallInfo on the report until collect_one_node pops it.
    call = getattr(report, "call", None)
    excinfo = getattr(call, "excinfo", None)
    if report.failed and excinfo is not None:
        _attach_facts(report, excinfo.value)


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: Session) -> Generator[None, Any, None]:
    """Watch for deprecations while the project's modules are imported."""
    del session
    with _Radar("", "collect"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Item) -> Generator[None, Any, None]:
    """Watch for deprecations while a test runs (setup, call and teardown)."""
    with _Radar(item.nodeid, "runtest"):
        yield


def pytest_collection_finish(session: Session) -> None:
    """Say how many tests this bound collected."""
    _emit({"event": "collected", "count": len(session.items)})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Under xdist the controller collects nothing: count the first worker's items."""
    del node
    if not _xdist_collected:
        _xdist_collected.append(len(ids))
        _emit({"event": "collected", "count": len(ids)})


def pytest_collectreport(report: CollectReport) -> None:
    """Forward collection errors and skips; passing collections are implied."""
    if not report.passed:
        _emit_report(report, "collectreport")


def pytest_runtest_logreport(report: TestReport) -> None:
    """Forward each phase of each test."""
    _emit_report(report, "report")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: Session, exitstatus: int) -> None:
    """Record that the session ended normally, with its exit status."""
    del session
    _emit({"event": "finish", "exitstatus": int(exitstatus)})


def pytest_unconfigure(config: Config) -> None:
    """Close the results file."""
    del config
    global _stream  # noqa: PLW0603
    if _stream is not None:
        _stream.close()
        _stream = None


def _emit_report(report: CollectReport | TestReport, event: str) -> None:
    if _stream is None:
        return
    data: Any = None
    for config in _configs:
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
    if data is None:
        data = {
            "nodeid": report.nodeid,
            "outcome": report.outcome,
            "when": getattr(report, "when", "collect"),
            "longrepr": str(report.longrepr) if report.longrepr else None,
            FACTS_KEY: getattr(report, FACTS_KEY, None),
        }
    # xdist's controller adds its worker object, which means nothing outside it.
    data.pop("node", None)
    _emit({"event": event, "data": data})


def _emit(record: dict[str, Any]) -> None:
    if _stream is None:
        return
    _stream.write(json.dumps(record, default=str) + "\n")
    _stream.flush()


# -- facts: what the exception says, for the outer session to attribute ---------


def _attach_facts(report: TestReport | CollectReport, exc: BaseException) -> None:
    try:
        chain = [_exception_facts(e) for e in _chain(exc)]
    except Exception as error:  # noqa: BLE001 - never fail a run over its facts
        chain = [{"type": "facts-error", "message": repr(error), "frames": []}]
    setattr(report, FACTS_KEY, {"chain": chain})


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, then its cause or context, as the traceback shows them."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < _MAX_CHAIN:
        found.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return found


def _exception_facts(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    facts: dict[str, Any] = {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": _text(exc),
        # A warning turned into an error by the warning filters: its category.
        "warning": kind.__name__ if isinstance(exc, Warning) else None,
    }
    if isinstance(exc, ImportError):
        facts["name"], facts["path"] = exc.name, exc.path
    elif isinstance(exc, SyntaxError):
        facts["path"], facts["lineno"] = exc.filename, exc.lineno
    elif isinstance(exc, AttributeError):
        facts["name"] = getattr(exc, "name", None)
        if sys.version_info >= (3, 10) and facts["name"] is not None:
            facts["obj"] = _describe(exc.obj)
    facts["frames"] = _frames(exc.__traceback__)
    return facts


def _frames(tb: types.TracebackType | None) -> list[dict[str, Any]]:
    entries = []
    while tb is not None:
        # pytest's own frames and the import machinery's say nothing of a cause.
        name = str(tb.tb_frame.f_globals.get("__name__", ""))
        if not name.startswith(("_pytest.", "pluggy.", "importlib._bootstrap")):
            entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    entries = entries[-_MAX_FRAMES:]
    # Objects on a line say which library a failing expression used: look at
    # the innermost line, and at the innermost one outside every install dir.
    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    outside = [
        i
        for i, (frame, _) in enumerate(entries)
        if not frame.f_code.co_filename.startswith((*installed, "<"))
    ]
    resolved = {len(entries) - 1, *outside[-1:]}
    frames = []
    for index, (frame, lineno) in enumerate(entries):
        code = frame.f_code
        line = linecache.getline(code.co_filename, lineno).strip()
        facts: dict[str, Any] = {
            "file": os.path.abspath(code.co_filename)  # noqa: PTH100
            if not code.co_filename.startswith("<")
            else code.co_filename,
            "lineno": lineno,
            "function": code.co_name,
            "qualname": getattr(code, "co_qualname", code.co_name),
            "module": str(frame.f_globals.get("__name__", "")),
            "line": line[:_MAX_TEXT],
        }
        if index in resolved:
            facts["names"] = _names(line, frame)
        frames.append(facts)
    return frames


def _names(line: str, frame: types.FrameType) -> list[dict[str, Any]]:
    """What the dotted names on a line are bound to, read without side effects."""
    names = []
    for expr in dict.fromkeys(_DOTTED.findall(line)):
        head, *rest = expr.split(".")
        if keyword.iskeyword(head):
            continue
        scope = frame.f_locals if head in frame.f_locals else frame.f_globals
        if head not in scope:
            continue
        obj, done = scope[head], [head]
        missing = None
        for part in rest:
            try:
                obj = inspect.getattr_static(obj, part)
            except AttributeError:
                missing = part
                break
            if isinstance(obj, (staticmethod, classmethod)):
                obj = obj.__func__
            elif isinstance(obj, property):
                obj = obj.fget
            done.append(part)
        described = _describe(obj)
        described["expr"] = ".".join(done)
        if missing is not None:
            described["missing"] = missing
        names.append(described)
        if len(names) >= _MAX_NAMES:
            break
    return names


def _describe(obj: object) -> dict[str, Any]:
    """Where an object comes from: its module, qualified name and module file."""
    try:
        if isinstance(obj, types.ModuleType):
            kind, module, qualname = "module", obj.__name__, ""
        elif isinstance(obj, type):
            kind, module, qualname = "class", obj.__module__, obj.__qualname__
        elif isinstance(obj, _FUNCTIONS):
            kind = "function"
            module = str(getattr(obj, "__module__", None) or "")
            qualname = str(getattr(obj, "__qualname__", ""))
        else:
            kind = "instance"
            module, qualname = type(obj).__module__, type(obj).__qualname__
        file = getattr(sys.modules.get(module), "__file__", None)
    except Exception:  # noqa: BLE001 - proxies and broken objects say nothing
        return {"kind": "unknown"}
    return {"kind": kind, "module": module, "qualname": qualname, "file": file}


def _text(exc: BaseException) -> str:
    try:
        return str(exc)[:_MAX_TEXT]
    except Exception:  # noqa: BLE001 - a broken __str__
        return f"<unprintable {type(exc).__name__}>"


# -- the deprecation radar -------------------------------------------------------

#: What the radar records: warnings that announce a future break.
RADAR_CATEGORIES: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    FutureWarning,
)
_MAX_STACK = 60
#: Frames of these modules say nothing of who triggered a warning.
_PLUMBING = ("_pytest.", "pluggy.")
_IMPORTING = ("importlib._bootstrap", "importlib.util")
#: Stack key → id of each warning already sent with its stack.
_sent: dict[tuple[Any, ...], int] = {}
#: The radars watching on an xdist worker, innermost last.
_radars: list[_Radar] = []
#: Records of a worker's collection, not yet sent.
_pending: list[dict[str, Any]] = []


class _Radar:
    """Records deprecations in one phase, leaving the warning filters' effect alone.

    It runs inside pytest's own ``catch_warnings_for_item`` (which is
    ``tryfirst``), so the filters it finds are the project's configured ones,
    marks included. Each ``ignore`` filter that could match a recorded category
    becomes ``always`` for that category, and ``showwarning`` is replaced: the
    hook records the warning, then does what the original filters said
    (drop it, or hand it on to pytest's log). ``error`` filters are untouched
    and still raise inside the code that warned.
    """

    def __init__(self, nodeid: str, when: str) -> None:
        self.nodeid = nodeid
        self.when = when
        self.counts: dict[tuple[Any, ...], int] = {}
        self.details: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.catcher: Any = None

    def __enter__(self) -> None:
        if _stream is None and not _worker:
            return
        if _worker:
            _radars.append(self)
        try:
            self.catcher = warnings.catch_warnings()
            self.catcher.__enter__()
            previous = warnings.showwarning
            watched, masked = _watching(list(warnings.filters))
            warnings.resetwarnings()
            cast("list[Any]", warnings.filters).extend(watched)
            warnings.showwarning = self._hook(masked, previous)
        except Exception:  # noqa: BLE001 - the radar never breaks a run
            self._restore()

    def __exit__(self, *exc_info: object) -> None:
        self._restore()
        if self in _radars:
            _radars.remove(self)
            # A worker's collection: its records ride on the first teardown report.
            _pending.extend(self.drain())
        for key, count in self.counts.items():
            record = {
                "event": "warning",
                "nodeid": self.nodeid,
                "when": self.when,
                "count": count,
            }
            known = _sent.get(key)
            if known is None:
                known = _sent[key] = len(_sent) + 1
                record.update(self.details[key])
            record["id"] = known
            _emit(record)

    def drain(self) -> list[dict[str, Any]]:
        """The records so far, each whole (ids are per process), then forgotten."""
        records = [
            {
                "nodeid": self.nodeid,
                "when": self.when,
                "count": count,
                **self.details[key],
            }
            for key, count in self.counts.items()
        ]
        self.counts.clear()
        return records

    def _restore(self) -> None:
        if self.catcher is not None:
            catcher, self.catcher = self.catcher, None
            catcher.__exit__(None, None, None)

    def _hook(self, masked: set[int], previous: Any) -> Any:  # noqa: ANN401
        def showwarning(  # noqa: PLR0917 - the signature of warnings.showwarning
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            frame = sys._getframe(1)  # noqa: SLF001 - the stack is the point
            if issubclass(category, RADAR_CATEGORIES):
                with contextlib.suppress(Exception):  # never break a run
                    self._record(message, category, filename, lineno, frame)
            try:
                module = _warning_module(frame, filename, lineno)
                action = _action(masked, str(message), category, module, lineno)
            except Exception:  # noqa: BLE001 - never break a run: show it
                action = "default"
            if action == "ignore":
                return
            if previous is getattr(warnings, "_showwarning_orig", None):
                impl = getattr(warnings, "_showwarnmsg_impl", None)
                if impl is not None:
                    impl(
                        warnings.WarningMessage(
                            message, category, filename, lineno, file, line
                        )
                    )
                    return
            previous(message, category, filename, lineno, file, line)

        return showwarning

    def _record(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        frame: types.FrameType | None,
    ) -> None:
        stack = _stack(frame)
        text = str(message)[:_MAX_TEXT]
        key = (
            f"{category.__module__}.{category.__qualname__}",
            text,
            filename,
            lineno,
            tuple((f["file"], f["lineno"]) for f in stack),
        )
        self.counts[key] = self.counts.get(key, 0) + 1
        if key not in self.details:
            self.details[key] = {
                "category": category.__name__,
                "message": text,
                "filename": _absolute(filename),
                "lineno": lineno,
                "stack": stack,
            }


def _watching(filters: list[Any]) -> tuple[list[Any], set[int]]:
    """The filters with each ``ignore`` of a recorded category turned ``always``.

    :returns: The new filters, and the ids of the entries that stand for an
        ``ignore`` (the hook drops what they let through, once recorded).
    """
    watched: list[Any] = []
    masked: set[int] = set()
    for entry in filters:
        action, message, category, module, lineno = entry
        if action != "ignore":
            watched.append(entry)
            continue
        if issubclass(category, RADAR_CATEGORIES):
            added = [("always", message, category, module, lineno)]
        else:
            added = [
                ("always", message, ours, module, lineno)
                for ours in RADAR_CATEGORIES
                if issubclass(ours, category)
            ]
            added.append(entry)
        watched += added
        masked.update(id(e) for e in added if e[0] == "always")
    return watched, masked


def _action(
    masked: set[int], text: str, category: type[Warning], module: str, lineno: int
) -> str:
    """What the filters meant for a warning (the matching of ``warn_explicit``).

    The current filters are read, so that a test changing them is obeyed; an
    entry the radar turned ``always`` counts as the ``ignore`` it was.
    """
    for entry in warnings.filters:
        action, message, kind, mod, line = entry
        if (
            _matches(message, text)
            and issubclass(category, kind)
            and _matches(mod, module)
            and line in {0, lineno}
        ):
            return "ignore" if id(entry) in masked else str(action)
    return str(getattr(warnings, "defaultaction", "default"))


def _matches(pattern: Any, text: str) -> bool:  # noqa: ANN401 - a filter's field
    """A filter's message or module test, as ``_warnings.c`` does it."""
    if pattern is None:
        return True
    if isinstance(pattern, str):
        # The interpreter's own default filters hold plain strings ('__main__').
        return pattern == text
    return bool(pattern.match(text))


def _warning_module(frame: types.FrameType | None, filename: str, lineno: int) -> str:
    """The module a warning is attributed to: its frame's ``__name__``."""
    while frame is not None:
        if frame.f_code.co_filename == filename and frame.f_lineno == lineno:
            return str(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    return filename.removesuffix(".py")


def _stack(frame: types.FrameType | None) -> list[dict[str, Any]]:
    """The frames from pytest's out to the code that warned, outermost first."""
    frames: list[dict[str, Any]] = []
    while frame is not None and len(frames) < _MAX_STACK:
        name = str(frame.f_globals.get("__name__", ""))
        if name.startswith(_PLUMBING):
            break
        code = frame.f_code
        # The warnings module, this plugin and the import machinery are plumbing.
        if (
            name != "warnings"
            and not name.startswith(_IMPORTING)
            and (frame.f_globals is not globals())
        ):
            frames.append(
                {
                    "file": _absolute(code.co_filename),
                    "lineno": frame.f_lineno,
                    "function": code.co_name,
                    "qualname": getattr(code, "co_qualname", code.co_name),
                    "module": name,
                }
            )
        frame = frame.f_back
    frames.reverse()
    return frames


def _absolute(filename: str) -> str:
    if filename.startswith("<"):
        return filename
    return os.path.abspath(filename)  # noqa: PTH100
