"""The outer session: prepare each bound's env, run the session there, replay it.

Registered instead of a normal run (as xdist's ``DSession``): the outer session
never collects, so it never imports the project under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from pytest_depbounds import github, radar
from pytest_depbounds import report as reporting
from pytest_depbounds.attribution import (
    Attributor,
    SiteIndex,
    attribute_failures,
    crash_facts,
    drop_shared,
    site_packages,
)
from pytest_depbounds.bisection import after_attribution
from pytest_depbounds.bounds import resolution_for, strict_notes
from pytest_depbounds.envs import EnvPlan, ensure_env
from pytest_depbounds.errors import (
    EXIT_ENV_FAILED,
    ConfigurationError,
    DepboundsError,
    EnvBuildError,
)
from pytest_depbounds.freeze import freeze_bound
from pytest_depbounds.index import Index
from pytest_depbounds.installer import IndexSettings, Installer
from pytest_depbounds.interpreters import find_for as find_interpreter
from pytest_depbounds.interpreters import parse_python_option
from pytest_depbounds.options import forwarded_args
from pytest_depbounds.process import allow_children, kill_all
from pytest_depbounds.radar import WarningLog
from pytest_depbounds.redact import redact, redact_data, scrub_file
from pytest_depbounds.resolution import (
    MAX_STEPS,
    ResolveRequest,
    cached_pins,
    downloaded_constraints,
    local_constraints,
    remember,
    resolve,
    tooling_requirements,
)
from pytest_depbounds.results import (
    BoundResult,
    Note,
    Tally,
    rebuild_report,
    split_facts,
)
from pytest_depbounds.runner import (
    InnerRequest,
    StopSignal,
    install_inner_plugin,
    run_inner,
)
from pytest_depbounds.scan import Scanner
from pytest_depbounds.speculation import AnyOf, Check, Event, Gate

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from pytest_depbounds.bounds import BoundName
    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.envs import BuiltEnv
    from pytest_depbounds.interpreters import Interpreter
    from pytest_depbounds.resolution import ConstraintsFile, Pins
    from pytest_depbounds.runner import RunOutcome
    from pytest_depbounds.scan import ScanResult
    from pytest_depbounds.settings import Settings

Log = Callable[[str], None]

#: The node id of a crashed inner session's report (its bound appended).
CRASH_NODEID = "depbounds::inner-session"
#: Lines of a crashed session's output searched for the traceback that ended it.
CRASH_LINES = 200


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Context:
    interpreters: Mapping[str, Interpreter]
    installer: Installer
    index: Index
    cache_dir: Path
    inner_dir: Path
    #: Per bound, the constraints files given with our options.
    constraints: Mapping[str, tuple[ConstraintsFile, ...]]


class BoundsSession:
    """Runs the user's session once per requested bound and reports per bound."""

    def __init__(
        self, config: pytest.Config, settings: Settings, declaration: Declaration
    ) -> None:
        self.config = config
        self.settings = settings
        self.declaration = declaration
        self.results: list[BoundResult] = []
        self.states: dict[str, _BoundState] = {}
        self.stop = threading.Event()
        self.interpreter_labels: dict[str, str] = {}
        #: Notes on the declaration in each bound: left out by marker, kept as is.
        self.source_notes: dict[str, tuple[Note, ...]] = {}
        #: The marker environment of each bound's interpreter.
        self.markers: dict[str, dict[str, str]] = {}
        #: The run's exit code, once ``pytest_sessionfinish`` computed it.
        self.exitcode: int | None = None
        #: Exit code of an error that ended the run before any bound ran.
        self.fatal: int | None = None
        self.scan_result: ScanResult | None = None
        #: The upper bound's pins once resolved (``None``: it could not be),
        #: which the lookahead env compares its own with before it is built.
        self.upper_pins: Pins | None = None
        self.upper_resolved = threading.Event()

    def _declared(self, bound: str) -> Declaration:
        """The declaration on a bound's interpreter, false markers left out.

        Such a dist is not direct there, even when another dependency installs it
        (structlog's ``typing-extensions; python_version<'3.11'``, which
        pytest-asyncio pulls in).
        """
        markers = self.markers.get(bound)
        if markers is None:
            return self.declaration
        return self.declaration.applicable(markers)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        """Skip the outer collection: tests are collected inside each env."""
        del session
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Prepare and run every bound, replaying their reports in bound order."""
        allow_children()
        try:
            context = self._context()
        except DepboundsError as exc:
            self._fatal(exc)
            return True
        self.interpreter_labels = {
            bound: interpreter.label
            for bound, interpreter in context.interpreters.items()
        }
        if self.settings.scan_first:
            self._scan(context)
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None and hasattr(terminal, "_show_progress_info"):
            # Percentages cannot be right while later bounds are still collecting.
            terminal._show_progress_info = False  # noqa: SLF001
        channels: dict[BoundName, queue.Queue[Event]] = {
            bound: queue.Queue() for bound in self._work_bounds()
        }
        with ThreadPoolExecutor(max_workers=self.settings.jobs) as pool:
            for bound, channel in channels.items():
                pool.submit(self._work, bound, channel, context)
            try:
                for bound, channel in channels.items():
                    self.results.append(self._consume(session, bound, channel))
            except KeyboardInterrupt:
                self.stop.set()
                kill_all()
                self._interrupted(channels)
                raise
            except BaseException:
                self.stop.set()
                kill_all()
                raise
        self._attribute()
        self.results = after_attribution(
            self.results,
            config=self.config,
            settings=self.settings,
            declaration=self.declaration,
            workspace={
                # Bisection runs each failing bound on that bound's interpreter;
                # until it takes one per bound, the first bound's is used.
                "interpreter": context.interpreters[self.settings.bounds[0]],
                "installer": context.installer,
                "cache_dir": context.cache_dir,
                "inner_dir": context.inner_dir,
                "stop": self.stop,
            },
        )
        self._radar()
        self._lookahead()
        self._add_scan_notes()
        return True

    def _fatal(self, exc: DepboundsError) -> None:
        """End the run before any bound with one line and the error's exit code."""
        self.fatal = exc.exit_code
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        message = f"ERROR: {redact(str(exc))}"
        if terminal is None:
            print(message)  # noqa: T201 - no terminal reporter (-p no:terminal)
            return
        terminal.ensure_newline()
        terminal.write_line(message, red=True, bold=True)

    def _interrupted(self, channels: Mapping[BoundName, queue.Queue[Event]]) -> None:
        """Record the bounds Ctrl-C cut short, once their workers have stopped."""
        done = {result.bound for result in self.results}
        for bound, channel in channels.items():
            if bound in done:
                continue
            _wait_for_end(channel, timeout=10.0)
            state = self.states.get(bound) or _BoundState(
                bound=bound, view=reporting.BoundView(self.config, bound)
            )
            self.results.append(self._finish(state, "interrupted", None))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Set the exit code from every bound, and write the JSON report."""
        if self.fatal is not None:
            session.exitstatus = self.fatal
        elif self.results and session.exitstatus not in (
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
        ):
            session.exitstatus = exit_code(self.results, int(session.exitstatus))
        if self.settings.report is not None:
            try:
                reporting.write_json(
                    self.settings.report,
                    self.results,
                    exitcode=int(session.exitstatus),
                    declaration=self.declaration,
                )
            except OSError as exc:
                # The report was asked for: a run that cannot write it must not pass.
                self._fatal(
                    DepboundsError(
                        f"cannot write the report {self.settings.report}: "
                        f"{exc.strerror or exc}"
                    )
                )
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.USAGE_ERROR
        self.exitcode = int(session.exitstatus)
        github.publish_summary(self.results, exitcode=self.exitcode, environ=os.environ)

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """Show the per-bound table after pytest's own summary."""
        reporting.write_summary(terminalreporter, self.results, exitcode=self.exitcode)
        if github.enabled(os.environ):
            for line in github.annotation_lines(
                self.results,
                project_dir=self.declaration.project_dir,
                workspace=github.workspace(os.environ),
            ):
                terminalreporter.write_line(line)

    # -- worker threads: no pytest hooks here, only events ----------------------

    def _context(self) -> _Context:
        specs = parse_python_option(self.settings.python)
        found: dict[str, Interpreter] = {}
        interpreters: dict[str, Interpreter] = {}
        for bound in self.settings.bounds:
            spec = specs[bound]
            if (spec or "") not in found:
                found[spec or ""] = find_interpreter(
                    spec, self.declaration.requires_python
                )
            interpreters[bound] = found[spec or ""]
        if self.settings.lookahead and "upper" in interpreters:
            interpreters[LOOKAHEAD] = interpreters["upper"]
        index = IndexSettings.from_environ(
            os.environ,
            index_url=self.settings.index_url,
            extra_index_urls=self.settings.extra_index_urls,
            find_links=self.settings.find_links,
            no_index=self.settings.no_index,
            offline=self.settings.offline,
        )
        # Index options of --depbounds-requirements files, where the user set none.
        index = self.declaration.index.fill(index)
        installer = Installer.select(self.settings.installer, index)
        if (
            installer.name == "pip"
            and self.settings.strategy == "lowest"
            and "lower" in self.settings.bounds
        ):
            raise ConfigurationError(
                "--depbounds-strategy=lowest needs uv: pip has no strategy that "
                "lowers transitive dependencies (use --depbounds-installer=uv, or "
                "the default lowest-direct)"
            )
        cache_dir = self.settings.cache_dir or _default_cache_dir(self.config)
        reader = Index(index, cache_dir=cache_dir / "index")
        try:
            inner_dir = install_inner_plugin(cache_dir / "inner")
        except OSError as exc:
            msg = f"cannot write to the cache dir {cache_dir}: {exc.strerror or exc}"
            raise EnvBuildError(msg) from None
        return _Context(
            interpreters=interpreters,
            installer=installer,
            index=reader,
            cache_dir=cache_dir,
            inner_dir=inner_dir,
            constraints=self._constraints_files(reader, cache_dir),
        )

    def _constraints_files(
        self, index: Index, cache_dir: Path
    ) -> dict[str, tuple[ConstraintsFile, ...]]:
        """The constraints files of each bound, an upper one downloaded if a URL."""
        files: dict[str, tuple[ConstraintsFile, ...]] = {"lower": (), "upper": ()}
        lower, upper = self.settings.lower_constraints, self.settings.upper_constraints
        if lower is not None and "lower" in self.settings.bounds:
            files["lower"] = (local_constraints(str(lower), "lower"),)
        if upper is not None and "upper" in self.settings.bounds:
            if "://" in upper:
                files["upper"] = (
                    downloaded_constraints(
                        upper,
                        index,
                        cache_dir / "constraints",
                        max_age=self.settings.refresh,
                        offline=self.settings.offline,
                    ),
                )
            else:
                files["upper"] = (local_constraints(upper, "upper"),)
        return files

    def _work(
        self, bound: BoundName, channel: queue.Queue[Event], context: _Context
    ) -> None:
        def log(message: str) -> None:
            channel.put(("log", redact(message)))

        try:
            interpreter = context.interpreters[bound]
            self.markers[bound] = interpreter.marker_environment()
            self.source_notes[bound] = self.declaration.notes(
                self.markers[bound], interpreter.label
            )
            with contextlib.ExitStack() as held:
                pins: Pins | None
                outcome: RunOutcome | None = None
                if bound == LOOKAHEAD:
                    # Resolved before anything is built: no env when it cannot
                    # differ from the upper bound.
                    pins = self._resolve(bound, context, log)
                    if self._same_as_upper(pins):
                        channel.put(("skipped", LOOKAHEAD_SAME))
                        return
                else:
                    pins, outcome = self._speculate(bound, context, log, channel, held)
                if outcome is None and not self.stop.is_set():
                    pins = pins or self._resolve(bound, context, log)
                    outcome = self._build_and_run(
                        bound,
                        pins,
                        context,
                        log,
                        put=channel.put,
                        held=held,
                        stop=self.stop,
                    )
            if outcome is None:
                channel.put(("interrupted", None))
                return
            channel.put(("done", outcome))
        except DepboundsError as exc:
            channel.put(("error", exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            error = EnvBuildError(f"cannot write {where}{exc.strerror or exc}")
            channel.put(("error", error))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            channel.put(("bug", exc))
        finally:
            if bound == "upper":
                self.upper_resolved.set()  # the lookahead never waits in vain

    def _build_and_run(
        self,
        bound: BoundName,
        pins: Pins,
        context: _Context,
        log: Log,
        *,
        put: Callable[[Event], None],
        held: contextlib.ExitStack,
        stop: StopSignal,
    ) -> RunOutcome | None:
        """Build (or reuse) the env of the pins and run the session in it.

        :returns: How the session ended; ``None`` if stopped before it started.
        """
        put(("pins", pins))
        # The env stays locked while its session runs: a concurrent run
        # on the same cache waits instead of rebuilding it underneath.
        env = self._env_stepping_up(bound, pins, context, log, put=put, held=held)
        put(("env", env))
        if self.settings.freeze_dir is not None:
            frozen = freeze_bound(
                self.settings.freeze_dir,
                bound=bound,
                env_path=env.path,
                pins=pins,
                project=self.declaration.project_name,
                interpreter=context.interpreters[bound],
                include_all=self.settings.freeze_all,
            )
            log(f"froze the env into {frozen}")
        if stop.is_set():
            return None
        inner = self._inner_request(bound, env, context, pins)
        outcome = run_inner(inner, lambda record: put(("record", record)), stop)
        # The session's own files may hold what its tests printed.
        scrub_file(inner.log)
        scrub_file(inner.results)
        return outcome

    def _speculate(
        self,
        bound: BoundName,
        context: _Context,
        log: Log,
        channel: queue.Queue[Event],
        held: contextlib.ExitStack,
    ) -> tuple[Pins | None, RunOutcome | None]:
        """Run on the last pins while they are resolved again.

        Only for a bound whose pins are due to be resolved again (the upper
        one): its events are held back until the new pins are known, and let
        through if they are the same.

        :returns: The new pins (``None`` if not resolved again) and the
            session's outcome (``None`` if the pins changed: the caller builds
            the new ones, or if the run was stopped).
        """
        workdir = context.cache_dir / "resolutions"
        due = (
            bound != "lower" and not self.settings.offline and not self.settings.rebuild
        )
        last = (
            cached_pins(self._request(bound, context), context.installer, workdir)
            if due
            else None
        )
        if last is None or time.time() - last.resolved_at <= self.settings.refresh:
            return None, None
        # Said before the check's thread starts: it logs its own "resolving".
        log("looking for new releases; running on the last pins meanwhile")
        gate = Gate(channel)
        check = Check(
            lambda: self._resolve(bound, context, log, fresh=True),
            last,
            gate.open,
            same=lambda new, old: new.lines == old.lines,
        )
        failed: DepboundsError | None = None
        outcome: RunOutcome | None = None
        try:
            outcome = self._build_and_run(
                bound,
                # The same pins, unless the check says otherwise: not stale.
                dataclasses.replace(last, reused=False),
                context,
                log,
                put=gate.put,
                held=held,
                stop=AnyOf(self.stop, check.wrong),
            )
        except DepboundsError as exc:
            failed = exc  # stands only if the pins are confirmed
        try:
            new = check.result()
        except DepboundsError as exc:
            # Nothing of the project changed: the index is likely unreachable.
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.resolved_at))
            exc.args = (
                f"{exc} (--depbounds-offline runs on the last pins, resolved {when})",
            )
            raise
        if check.confirmed():
            if failed is not None:
                raise failed
            return new, outcome
        gate.discard()
        log(f"new releases ({_changes(last, new)}): building their env")
        return new, None

    def _request(
        self,
        bound: BoundName,
        context: _Context,
        exclusions: tuple[tuple[str, str, str], ...] = (),
        built: tuple[tuple[str, str], ...] = (),
    ) -> ResolveRequest:
        # Requirements whose marker is false on the bound's interpreter are left out.
        declaration = self._declared(bound)
        declared_tooling = [str(r.requirement) for r in declaration.tooling]
        constraints = context.constraints.get(bound, ())
        return ResolveRequest(
            bound=bound,
            resolution=resolution_for(_strategy_of(bound), self.settings.strategy),
            interpreter=context.interpreters[bound],
            under_test=tuple(str(r.requirement) for r in declaration.under_test),
            tooling=tooling_requirements(declared_tooling, self.settings.with_tooling),
            locations=tuple(r.location for r in declaration.under_test),
            declared_constraints=tuple(
                (str(r.requirement), r.location) for r in declaration.constraints
            ),
            constraints_files=constraints,
            # A lower-constraints file replaces our computation of the floors.
            floors=bound == "lower" and not constraints,
            exclusions=exclusions,
            built=built,
        )

    def _resolve(
        self,
        bound: BoundName,
        context: _Context,
        log: Log,
        exclusions: tuple[tuple[str, str, str], ...] = (),
        *,
        fresh: bool = False,
        built: tuple[tuple[str, str], ...] = (),
    ) -> Pins:
        request = self._request(bound, context, exclusions, built)
        workdir = context.cache_dir / "resolutions"
        workdir.mkdir(parents=True, exist_ok=True)
        # One resolver per request at a time: a concurrent run waits, then reuses it.
        with _locked(workdir / f"{bound}-{request.key(context.installer)[:16]}.lock"):
            pins = resolve(
                request,
                context.installer,
                workdir=workdir,
                max_age=None if bound == "lower" else self.settings.refresh,
                rebuild=self.settings.rebuild or bool(exclusions) or fresh,
                log=log,
                index=context.index,
            )
        if bound == "upper":
            self.upper_pins = pins
            self.upper_resolved.set()
        return pins

    def _env_stepping_up(
        self,
        bound: BoundName,
        pins: Pins,
        context: _Context,
        log: Log,
        *,
        put: Callable[[Event], None],
        held: contextlib.ExitStack,
    ) -> BuiltEnv:
        """Build the env; a lower floor that does not build is stepped over.

        A resolution that read an sdist's static metadata never built it: its
        build failure shows only here.
        """
        exclusions: tuple[tuple[str, str, str], ...] = ()
        built: tuple[tuple[str, str], ...] = ()
        # The last env that built, its lock held: a search bisecting back to its
        # pins takes it again rather than build (and lock) it a second time.
        kept: tuple[tuple[str, ...], BuiltEnv] | None = None
        direct = {r.name for r in self.declaration.under_test}
        while True:
            try:
                if kept is not None and kept[0] == pins.lines:
                    env = kept[1]
                else:
                    env = self._env(bound, pins, context, log, held)
            except EnvBuildError as exc:
                failure = exc.failure
                if (
                    bound != "lower"
                    or failure is None
                    or canonicalize_name(failure[0]) not in direct
                    or failure[:2] in {e[:2] for e in exclusions}
                ):
                    raise
                name, version, why = failure
                if len(exclusions) >= MAX_STEPS:
                    # The pins' note would call this floor installable: it is not.
                    dist = canonicalize_name(name)
                    put(("pins", _without_floor_note(pins, dist)))
                    tried = [
                        v for n, v, _ in exclusions if canonicalize_name(n) == dist
                    ]
                    tried.append(version)
                    raise EnvBuildError(
                        f"{bound} bound: gave up after {len(tried)} floors of {name} "
                        f"that do not build ({', '.join(tried)}); declare a higher "
                        f"minimum. The last: {exc}",
                        failure=failure,
                    ) from None
                exclusions = (
                    *exclusions,
                    (name, version, f"sdist build failed: {why}"),
                )
                pins = self._resolve(bound, context, log, exclusions, built=built)
                following = pins.versions.get(canonicalize_name(name), "?")
                log(f"{name}=={version} does not build: trying {following}")
                put(("pins", pins))
                continue
            kept = (pins.lines, env)
            narrower = self._bisect_back(
                bound, context, log, pins, exclusions=exclusions, built=built
            )
            if narrower is not None:
                pins, built = narrower
                put(("pins", pins))
                continue
            if exclusions:
                # The next run starts from these pins, not from the failing floor.
                remember(
                    self._request(bound, context),
                    context.installer,
                    context.cache_dir / "resolutions",
                    pins,
                )
            return env

    def _bisect_back(
        self,
        bound: BoundName,
        context: _Context,
        log: Log,
        pins: Pins,
        *,
        exclusions: tuple[tuple[str, str, str], ...],
        built: tuple[tuple[str, str], ...],
    ) -> tuple[Pins, tuple[tuple[str, str], ...]] | None:
        """The pins of a lower floor to try, when the search jumped over some.

        :param pins: The pins whose env just built.
        :param exclusions: The floors that failed to install.
        :param built: The stepped-over floors whose env built before.
        :returns: The next pins and ``built`` with these pins' floors, or
            ``None`` when no version below them is left to try.
        """
        stepped = {canonicalize_name(n) for n, _, _ in exclusions}
        new = tuple(
            (name, pins.versions[name])
            for name in sorted(stepped)
            if name in pins.versions and (name, pins.versions[name]) not in built
        )
        if not new:
            return None
        built = (*built, *new)
        trial = self._resolve(bound, context, log, exclusions, built=built)
        moved = [
            (name, version, trial.versions.get(name))
            for name, version in new
            if trial.versions.get(name) != version
        ]
        if not moved:
            return None
        for name, version, following in moved:
            below = max(
                (v for n, v, _ in exclusions if canonicalize_name(n) == name),
                key=Version,
            )
            between = f"between {below} and {version}"
            log(f"{name}=={version} builds: trying {following} ({between})")
        return trial, built

    def _env(
        self,
        bound: BoundName,
        pins: Pins,
        context: _Context,
        log: Log,
        held: contextlib.ExitStack,
    ) -> BuiltEnv:
        declaration = self.declaration
        plan = EnvPlan(
            bound=bound,
            interpreter=context.interpreters[bound],
            pins=pins.lines,
            installer=context.installer.name,
            project_dir=declaration.project_dir,
            project_name=declaration.project_name or declaration.project_dir.name,
            build_inputs=declaration.build_inputs,
            editable=self.settings.editable,
            from_source=pins.from_source,
        )
        return ensure_env(
            plan,
            context.installer,
            envs_dir=context.cache_dir / "envs",
            rebuild=self.settings.rebuild,
            log=log,
            hold=held,
        )

    def _inner_request(
        self, bound: BoundName, env: BuiltEnv, context: _Context, pins: Pins
    ) -> InnerRequest:
        runs = context.cache_dir / "runs"
        return InnerRequest(
            bound=bound,
            env_python=env.python,
            args=tuple(
                forwarded_args(
                    self.config.invocation_params.args,
                    xdist="pytest-xdist" in pins.versions,
                )
            ),
            cwd=self.config.invocation_params.dir,
            inner_dir=context.inner_dir,
            # Named after the env, whose lock this run holds: runs of other
            # envs on the same cache never write the same files.
            results=runs / f"{env.path.name}.jsonl",
            log=runs / f"{env.path.name}.log",
            cache_dir=context.cache_dir / "inner-cache" / bound,
            timeout=self.settings.timeout,
        )

    # -- main thread: progress, replay, results -------------------------------

    def _consume(
        self, session: pytest.Session, bound: BoundName, channel: queue.Queue[Event]
    ) -> BoundResult:
        state = _BoundState(bound=bound, view=reporting.BoundView(self.config, bound))
        self.states[bound] = state
        state.view.header()
        while True:
            try:
                kind, payload = channel.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "log":
                state.view.step(payload)
            elif kind == "pins":
                state.pins = payload
                state.view.pins(
                    payload, self._declared(bound), self.source_notes.get(bound, ())
                )
            elif kind == "env":
                state.env = payload
                state.view.env(payload)
            elif kind == "record":
                self._replay(session, state, payload)
            elif kind == "bug":
                raise payload
            elif kind == "skipped":
                state.skipped = True
                state.view.line(payload)
                return self._finish(state, kind, None)
            else:
                return self._finish(state, kind, payload)

    def _replay(
        self, session: pytest.Session, state: _BoundState, record: dict[str, Any]
    ) -> None:
        event = record.get("event")
        if event == "start":
            state.runtime = record
            state.view.line(
                f"running pytest {record.get('pytest')} on "
                f"{record.get('implementation')} {record.get('python')}"
            )
        elif event == "collected":
            state.collected = int(record.get("count", 0))
            if state.bound != LOOKAHEAD:
                session.testscollected += state.collected
            state.view.collected(state.collected)
        elif event == "warning":
            state.warnings.add(redact_data(record))
        elif event in {"report", "collectreport"}:
            self._replay_report(state, event, record)

    def _replay_report(
        self, state: _BoundState, event: str, record: dict[str, Any]
    ) -> None:
        """Count a report and replay it through pytest's hooks, tagged."""
        hook = self.config.hook
        # A test's output may print an index URL or a token: mask it before
        # the terminal, JUnit or any other plugin sees it.
        data, facts = split_facts(state.warnings.take(redact_data(record["data"])))
        if facts is not None:
            when = "collect" if event == "collectreport" else data.get("when")
            state.failures.append((str(data.get("nodeid")), str(when), facts))
        report = rebuild_report(self.config, data, state.bound)
        state.tally.add(report)
        if state.bound == LOOKAHEAD:
            return  # what would break is a note, never a failed test
        if isinstance(report, pytest.CollectReport):
            hook.pytest_collectreport(report=report)
            return
        if report.when == "setup":
            hook.pytest_runtest_logstart(nodeid=report.nodeid, location=report.location)
        hook.pytest_runtest_logreport(report=report)
        if report.when == "teardown":
            hook.pytest_runtest_logfinish(
                nodeid=report.nodeid, location=report.location
            )

    def _finish(self, state: _BoundState, kind: str, payload: object) -> BoundResult:
        error = crash = None
        outcome: RunOutcome | None = None
        if kind == "error":
            error = redact(str(payload))
            state.view.error(error)
            self.config.hook.pytest_runtest_logreport(
                report=reporting.env_failure_report(state.bound, error)
            )
        elif kind == "done":
            outcome = cast("RunOutcome", payload)
            if outcome.crashed and not outcome.interrupted:
                crash = f"the inner pytest session {outcome.describe()}"
                tail = redact(outcome.log_tail())
                facts = crash_facts(
                    outcome.log_tail(CRASH_LINES), self.config.invocation_params.dir
                )
                started = state.collected is not None or state.tally.tests
                if facts is not None and not started:
                    # A plugin or conftest that does not import: name its cause.
                    state.failures.append((CRASH_NODEID, "session", facts))
                if not started:
                    state.crash_note = _unimportable_project_module(
                        outcome.log_tail(CRASH_LINES),
                        self.config.invocation_params.dir,
                    )
                report = _crash_report(state.bound, crash, tail)
                state.tally.add(report)
                if state.bound != LOOKAHEAD:
                    self.config.hook.pytest_runtest_logreport(report=report)
        pins, env = state.pins, state.env
        result = BoundResult(
            bound=state.bound,
            interpreter=self.interpreter_labels.get(state.bound, "?"),
            pins=dict(pins.versions) if pins else {},
            direct=tuple(r.name for r in self._declared(state.bound).under_test),
            resolution=resolution_for(
                _strategy_of(state.bound), self.settings.strategy
            ),
            env_path=str(env.path) if env else None,
            env_reused=bool(env and env.reused),
            project_reinstalled=bool(env and env.project_reinstalled),
            env_seconds=env.elapsed if env else 0.0,
            run_seconds=outcome.elapsed if outcome else 0.0,
            counts=dict(state.tally.counts),
            collected=state.collected,
            exitstatus=outcome.exitstatus if outcome else None,
            error=error,
            crash=crash,
            tests=tuple(state.tally.tests.values()),
            notes=(
                *self.source_notes.get(state.bound, ()),
                *((state.crash_note,) if state.crash_note else ()),
                *strict_notes(
                    pins.notes if pins else (),
                    strict_lower=state.bound == "lower" and self.settings.strict_lower,
                ),
            ),
            interrupted=kind == "interrupted"
            or (outcome is not None and outcome.interrupted),
        )
        if not state.skipped:
            state.view.done(result)
        return result

    def _attribute(self) -> None:
        """Name the dependency behind each failure, once every bound's env exists."""
        if not any(state.failures for state in self.states.values()):
            return
        sites = {
            bound: SiteIndex(site_packages(state.env.path))
            for bound, state in self.states.items()
            if state.env is not None
        }
        for index, result in enumerate(self.results):
            state = self.states[result.bound]
            if not state.failures or state.env is None:
                continue
            # A session that crashed at start-up sent no ``start`` record.
            label = self.interpreter_labels.get(result.bound, "").partition(" ")
            attributor = Attributor(
                sites[result.bound],
                self._declared(result.bound),
                env_path=state.env.path,
                implementation=str(state.runtime.get("implementation", label[0])),
                python=str(state.runtime.get("python", label[2])),
                others=[site for bound, site in sites.items() if bound != result.bound],
                markers=self.markers.get(result.bound),
            )
            findings, unattributed = attribute_failures(attributor, state.failures)
            self.results[index] = dataclasses.replace(
                result, findings=findings, unattributed=unattributed
            )
        ran = {
            r.bound: (r.findings, r.unattributed)
            for r in self.results
            if r.bound in sites and r.tests
        }
        shared = drop_shared(ran)
        for index, result in enumerate(self.results):
            if result.bound in shared:
                findings, unattributed = shared[result.bound]
                self.results[index] = dataclasses.replace(
                    result, findings=findings, unattributed=unattributed
                )

    # -- static scan (scan.py) ---------------------------------------------------

    def _scan(self, context: _Context) -> None:
        """Run the static scan before any env is built and show what it found."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        refresh = float("inf") if self.settings.offline else self.settings.refresh
        scanner = Scanner(context.index, context.cache_dir, refresh=refresh)
        if terminal is not None:
            terminal.write_sep("-", "depbounds: static scan")
        try:
            self.scan_result = scanner.scan(self.declaration)
        except (DepboundsError, OSError) as exc:
            # The dynamic run does not need the scan: say why it is missing, go on.
            lines = [f"static scan not done: {exc}"]
        else:
            lines = self.scan_result.lines()
        if terminal is not None:
            for line in lines:
                terminal.write_line(line)

    def _add_scan_notes(self) -> None:
        if self.scan_result is None:
            return
        strict = self.settings.strict_scan
        for index, result in enumerate(self.results):
            notes = self.scan_result.notes(result.bound, strict=strict)
            self.results[index] = dataclasses.replace(
                result, notes=(*result.notes, *notes)
            )

    # -- deprecation radar (radar.py) ------------------------------------------

    def _radar(self) -> None:
        """Add each bound's deprecated dependency uses to its notes."""
        for index, result in enumerate(self.results):
            state = self.states[result.bound]
            if not state.warnings or state.env is None:
                continue
            attributor = Attributor(
                SiteIndex(site_packages(state.env.path)),
                self.declaration,
                env_path=state.env.path,
            )
            found = radar.deprecations(state.warnings, attributor)
            notes = radar.notes(found, strict=self.settings.strict_deprecations)
            self.results[index] = dataclasses.replace(
                result, notes=(*result.notes, *notes)
            )

    # -- lookahead (radar.py) --------------------------------------------------

    def _work_bounds(self) -> tuple[BoundName, ...]:
        """The bounds to run: the lookahead env too when it was asked for.

        Not without an upper-constraints file: nothing holds the upper bound
        back from the newest releases then, so it is the lookahead.
        """
        bounds = self.settings.bounds
        if not self.settings.lookahead or "upper" not in bounds:
            return bounds
        if self.settings.upper_constraints is None:
            reporting.BoundView(self.config, LOOKAHEAD).line(LOOKAHEAD_NO_FILE)
            return bounds
        return (*bounds, LOOKAHEAD)

    def _same_as_upper(self, pins: Pins) -> bool:
        """Whether the lookahead resolved what the upper bound did (no env then)."""
        while not self.upper_resolved.wait(timeout=0.1):
            if self.stop.is_set():
                return False
        return self.upper_pins is not None and pins.versions == self.upper_pins.versions

    def _lookahead(self) -> None:
        """Turn the lookahead env's result into notes of the upper bound."""
        ahead = next((r for r in self.results if r.bound == LOOKAHEAD), None)
        if ahead is None:
            return
        self.results.remove(ahead)
        if self.states[LOOKAHEAD].skipped:
            return
        for index, result in enumerate(self.results):
            if result.bound == "upper":
                notes = radar.lookahead_notes(ahead, result)
                self.results[index] = dataclasses.replace(
                    result, notes=(*result.notes, *notes)
                )


#: The env at the newest releases the ranges admit, beyond the upper constraints:
#: run like a bound, reported as notes of the upper bound.
LOOKAHEAD = cast("BoundName", "lookahead")
#: The one line that says why no lookahead env is built.
LOOKAHEAD_NO_FILE = (
    "skipped: no upper-constraints file, so the upper bound already tests the "
    "newest releases"
)
LOOKAHEAD_SAME = "skipped: the upper constraints hold back no release the ranges admit"


def _changes(old: Pins, new: Pins) -> str:
    """What differs between two sets of pins, as ``name 1.0 -> 1.1`` items."""
    names = sorted(set(old.versions) | set(new.versions))
    changed = [
        f"{n} {old.versions.get(n, '-')} -> {new.versions.get(n, '-')}"
        for n in names
        if old.versions.get(n) != new.versions.get(n)
    ]
    return ", ".join(changed) or "the same versions, other files"


def _without_floor_note(pins: Pins, dist: str) -> Pins:
    """The pins without their ``floor-not-installable`` note on one dist."""
    return dataclasses.replace(
        pins,
        notes=tuple(
            n
            for n in pins.notes
            if not (n.kind == "floor-not-installable" and n.dist == dist)
        ),
    )


def _strategy_of(bound: BoundName) -> BoundName:
    """The bound whose resolver strategy a bound uses (lookahead: the upper's)."""
    return "upper" if bound == LOOKAHEAD else bound


@dataclasses.dataclass(kw_only=True)
class _BoundState:
    """What the main thread knows of a bound while it replays it."""

    bound: BoundName
    view: reporting.BoundView
    tally: Tally = dataclasses.field(default_factory=Tally)
    pins: Pins | None = None
    env: BuiltEnv | None = None
    collected: int | None = None
    #: The inner session's ``start`` record: its pytest and interpreter.
    runtime: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The deprecation radar's records.
    warnings: WarningLog = dataclasses.field(default_factory=WarningLog)
    #: ``(nodeid, when, facts)`` of each failed phase or collection.
    failures: list[tuple[str, str, Mapping[str, Any]]] = dataclasses.field(
        default_factory=list
    )
    #: Not run: it could not differ from another bound (the lookahead).
    skipped: bool = False
    #: Why a session that stopped at start-up could not import a project module.
    crash_note: Note | None = None


def _wait_for_end(channel: queue.Queue[Event], *, timeout: float) -> None:
    """Skip a stopped worker's events until its last one (or a deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kind, _ = channel.get(timeout=0.1)
        except queue.Empty:
            continue
        if kind in {"done", "error", "bug", "interrupted", "skipped"}:
            return


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    from filelock import FileLock  # noqa: PLC0415

    with FileLock(str(path)):
        yield


def exit_code(results: list[BoundResult], pytest_code: int) -> int:
    """The run's exit code from every bound's result.

    :param results: One result per bound run.
    :param pytest_code: What pytest computed from the replayed reports.
    :returns: 6 when an env could not be built, 1 when tests failed, 5 when a
        bound collected no test, else 0.
    """
    if any(r.error is not None for r in results):
        return EXIT_ENV_FAILED
    if any(r.status in {"failed", "crashed"} for r in results):
        return int(pytest.ExitCode.TESTS_FAILED)
    if any(r.status == "no tests" for r in results):
        return int(pytest.ExitCode.NO_TESTS_COLLECTED)
    return 0 if pytest_code == pytest.ExitCode.NO_TESTS_COLLECTED else pytest_code


def _crash_report(bound: str, message: str, tail: str) -> pytest.TestReport:
    nodeid = f"{CRASH_NODEID}@{bound}"
    longrepr = f"{message}; the end of its output:\n{tail}" if tail else message
    return pytest.TestReport(
        nodeid=nodeid,
        location=("depbounds", None, f"{bound} inner session"),
        keywords={},
        outcome="failed",
        longrepr=longrepr,
        when="call",
    )


_NO_MODULE_NAMED = re.compile(r"No module named '(?P<name>[\w.]+)'")


def _unimportable_project_module(tail: str, cwd: Path) -> Note | None:
    """Why a session that stopped at start-up could not import a project module.

    The inner session runs the env's ``pytest`` script, which, unlike
    ``python -m pytest``, does not put the current folder on ``sys.path``: a
    plugin, ``-p`` option or settings module (pytest-django's
    ``DJANGO_SETTINGS_MODULE = tests.settings``) naming a module of the project
    that the project does not install is then not found.

    :param tail: The end of the session's output.
    :param cwd: The session's working directory.
    :returns: A note saying how to make it importable, or ``None``.
    """
    for match in _NO_MODULE_NAMED.finditer(tail):
        top = match["name"].partition(".")[0]
        if (cwd / top).is_dir() or (cwd / f"{top}.py").is_file():
            return Note(
                kind="project-module-not-importable",
                dist=None,
                message=(
                    f"`{top}` is a {'folder' if (cwd / top).is_dir() else 'module'}"
                    " of the project that the inner session cannot import: it runs"
                    " the env's `pytest`, which does not put the current folder on"
                    " sys.path as `python -m pytest` does; add `pythonpath = .` to"
                    " your pytest configuration (pytest>=7), or pass"
                    " `-o pythonpath=.`"
                ),
                location=None,
            )
    return None


def _default_cache_dir(config: pytest.Config) -> Path:
    cache: pytest.Cache | None = getattr(config, "cache", None)
    if cache is not None:
        return cache.mkdir("depbounds")
    # Without pytest's cacheprovider: beside the project, so made ignored as
    # pytest makes its own cache (or git shows every file of the envs).
    folder = config.rootpath / ".depbounds-cache"
    ignore = folder / ".gitignore"
    # An unwritable folder is said where the cache is first written.
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        if not ignore.exists():
            ignore.write_text(
                "# Created by pytest-depbounds automatically.\n*\n", encoding="utf-8"
            )
    return folder
