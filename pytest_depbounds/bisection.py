"""Find the culprit dists of a failing bound, and the true bound of each by bisection.

Localisation runs the failing tests by one of two schedules, the one needing
fewer new envs first: each differing direct dependency alone at the failing bound
and the rest at the passing bound ("one alone"), or all at the failing bound but
one held at the passing bound ("leave-one-out"); when it names no culprit, the
other (a failure needing two dependencies together is only found by leaving one
out). It tries dists a finding names first and stops once every failure has a
culprit: each culprit is named even when several break different tests.
Bisection pins one culprit to each released version between its failing and its
passing version (all other direct dependencies held at the failing bound's pins)
and runs only the failing tests, about ``ceil(log2 n) + 1`` envs for ``n``
candidates. Every env goes through `resolution.resolve` and `envs.ensure_env`, so
all of them are cached; a leave-one-out env is its dist's first bisection probe.
The probe envs of the last few runs are kept (`envs.prune_runs`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    canonicalize_name,
)
from packaging.version import InvalidVersion, Version

from pytest_depbounds.attribution import (
    Attributor,
    SiteIndex,
    attribute_failures,
    site_packages,
)
from pytest_depbounds.bounds import resolution_for, unusable_reason
from pytest_depbounds.envs import (
    KEEP_PER_BOUND,
    PROBE_FAMILY,
    EnvPlan,
    ensure_env,
    env_dir,
    is_built,
    prune_runs,
)
from pytest_depbounds.errors import DepboundsError
from pytest_depbounds.fix import (
    UPPER_ADVICE,
    apply_fixes,
    lower_fix,
    suggest,
    target_of,
    upper_advice,
)
from pytest_depbounds.index import Index
from pytest_depbounds.interpreters import target
from pytest_depbounds.options import forwarded_args
from pytest_depbounds.process import kill_all
from pytest_depbounds.resolution import ResolveRequest, cached_pins, resolve
from pytest_depbounds.results import Note, split_facts
from pytest_depbounds.runner import InnerRequest, RunOutcome, run_inner

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    import pytest

    from pytest_depbounds.attribution import Culprit, Finding
    from pytest_depbounds.bounds import BoundName
    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.installer import Installer
    from pytest_depbounds.interpreters import Interpreter
    from pytest_depbounds.report import BoundView
    from pytest_depbounds.results import BoundResult
    from pytest_depbounds.settings import Settings

Verdict = Literal["pass", "fail", "skip"]
Direction = Literal["lower", "upper"]
Localize = Literal["auto", "yes", "no"]

_MARKS = {"pass": "✓", "fail": "✗", "skip": "skipped"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trial:
    """One version tried."""

    version: Version
    verdict: Verdict
    #: Why it was skipped, or where a known verdict came from.
    reason: str = ""
    #: Whether the verdict comes from a bound's own run rather than a new env.
    known: bool = False

    @property
    def label(self) -> str:
        """``1.4 ✗``, ``1.2 skipped (does not install)``."""
        text = f"{self.version} {_MARKS[self.verdict]}"
        return f"{text} ({self.reason})" if self.reason else text


@dataclasses.dataclass(frozen=True, kw_only=True)
class Search:
    """The outcome of one bisection."""

    dist: str
    direction: Direction
    trials: tuple[Trial, ...]
    #: Lower: the lowest version that passes; upper: the last that passes.
    good: Version | None
    #: Lower: the highest version that fails; upper: the first that fails.
    bad: Version | None
    candidates: int

    @property
    def tried(self) -> str:
        """Every version tried, in version order."""
        return ", ".join(t.label for t in sorted(self.trials, key=lambda t: t.version))


def expected_probes(candidates: int) -> int:
    """Envs a bisection over ``candidates`` versions builds at most (no skips).

    :param candidates: Versions from the failing one to the passing one, both
        included; the failing one is known from the bound's own run.
    :returns: ``ceil(log2(n - 1)) + 1``: the passing end, then halving.
    """
    if candidates < 2:  # noqa: PLR2004
        return 0
    return math.ceil(math.log2(candidates - 1)) + 1


def search(
    versions: Sequence[Version],
    probe: Callable[[Version], Trial],
    *,
    dist: str,
    direction: Direction,
    known_reason: str = "",
) -> Search:
    """Bisect ordered versions for the boundary between failing and passing.

    :param versions: Candidates in ascending order: for ``lower`` the first one
        fails (the floor), for ``upper`` the last one fails (the newest).
    :param probe: Runs the failing tests at one version.
    :param dist: The distribution.
    :param direction: ``lower`` (lowest passing) or ``upper`` (last passing).
    :param known_reason: Why the known failing end fails, when worth saying.
    :returns: The search's trials and boundary.
    """
    # ``seq[0]`` is the known failing end; the passing end is verified first.
    seq = list(versions) if direction == "lower" else list(reversed(versions))
    trials = [Trial(version=seq[0], verdict="fail", reason=known_reason, known=True)]
    verdicts: dict[int, Verdict] = {0: "fail"}

    def run(index: int) -> Verdict:
        trial = probe(seq[index])
        trials.append(trial)
        verdicts[index] = trial.verdict
        return trial.verdict

    good = len(seq) - 1
    while good > 0 and run(good) == "skip":
        good -= 1
    if good == 0 or verdicts[good] == "fail":
        return Search(
            dist=dist,
            direction=direction,
            trials=tuple(trials),
            good=None,
            bad=seq[good],
            candidates=len(seq),
        )
    bad = 0
    while good - bad > 1:
        middle = (bad + good) // 2
        # The untried version nearest the middle: skipped ones are left out.
        order = sorted(range(bad + 1, good), key=lambda i: (abs(i - middle), i))
        index = next((i for i in order if i not in verdicts), None)
        if index is None:
            break
        verdict = run(index)
        if verdict == "pass":
            good = index
        elif verdict == "fail":
            bad = index
    return Search(
        dist=dist,
        direction=direction,
        trials=tuple(trials),
        good=seq[good],
        bad=seq[bad],
        candidates=len(seq),
    )


def candidate_versions(
    installer: Installer, name: str, interpreter: Interpreter
) -> list[Version]:
    """The released versions of a distribution that install on one interpreter.

    Not yanked, Requires-Python admitting the interpreter, and a file that
    installs there (a wheel with a matching tag, or an sdist).

    :param installer: Its index settings.
    :param name: The distribution.
    :param interpreter: The env's interpreter.
    :returns: The versions, ascending.
    """
    files = Index(installer.index).files(name)
    env = target(interpreter)
    found = {
        version
        for version in {f.version for f in files}
        if unusable_reason(
            [f for f in files if f.version == version],
            python_version=env.python_version,
            tags=env.tags,
            allow_yanked=False,
        )
        is None
    }
    return sorted(found)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workspace:
    """What building and running a probe env needs, shared by every probe."""

    interpreter: Interpreter
    installer: Installer
    cache_dir: Path
    inner_dir: Path
    declaration: Declaration
    tooling: tuple[str, ...]
    #: The user's arguments without their paths: the node ids replace them.
    args: tuple[str, ...]
    cwd: Path
    rootdir: Path
    timeout: float | None
    rebuild: bool
    editable: bool
    stop: threading.Event
    #: Folder names of the probe envs this run used: pruning keeps them.
    used_envs: set[str] = dataclasses.field(default_factory=set)
    #: Probes resolved by this run: under ``--depbounds-rebuild``, only once.
    resolved: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProbeRun:
    """The failing tests run once with some pins."""

    verdict: Verdict
    reason: str
    #: Inner node ids that failed.
    failed: tuple[str, ...] = ()
    findings: tuple[Culprit, ...] = ()


class Prober:
    """Runs some tests with a bound's direct pins, a few of them changed."""

    def __init__(
        self,
        workspace: Workspace,
        bound: BoundName,
        held: Mapping[str, str],
        tests: Sequence[str],
    ) -> None:
        """Prepare probes of one bound.

        :param workspace: Shared settings.
        :param bound: The bound whose strategy resolves the rest.
        :param held: Pins of the direct dependencies, held unless overridden.
        :param tests: Inner node ids to run.
        """
        self.workspace = workspace
        self.bound = bound
        self.held = {canonicalize_name(n): v for n, v in held.items()}
        self.tests = tuple(tests)
        self.builds = 0
        self.runs = 0

    def _request(self, overrides: Mapping[str, str]) -> ResolveRequest:
        ws = self.workspace
        pins = {**self.held, **{canonicalize_name(n): v for n, v in overrides.items()}}
        requirements = [str(r.requirement) for r in ws.declaration.under_test]
        requirements += [f"{name}=={version}" for name, version in sorted(pins.items())]
        return ResolveRequest(
            bound=self.bound,
            resolution=resolution_for(self.bound),
            interpreter=ws.interpreter,
            under_test=tuple(requirements),
            tooling=ws.tooling,
        )

    def _group(self, overrides: Mapping[str, str]) -> str:
        # One env group per pinned set: a re-run must find every probe's env
        # again; `prune_runs` drops those of older runs.
        moved = (f"{n}-{v}" for n, v in sorted(overrides.items()))
        return "-".join([f"{PROBE_FAMILY}-{self.bound}", *moved])

    def _plan(self, lines: tuple[str, ...], overrides: Mapping[str, str]) -> EnvPlan:
        ws = self.workspace
        return EnvPlan(
            bound=self._group(overrides),
            interpreter=ws.interpreter,
            pins=lines,
            installer=ws.installer.name,
            project_dir=ws.declaration.project_dir,
            project_name=ws.declaration.project_name or ws.declaration.project_dir.name,
            build_inputs=ws.declaration.build_inputs,
            editable=ws.editable,
        )

    def cached(self, overrides: Mapping[str, str]) -> bool:
        """Whether the env of a probe is built already (no resolution, no install).

        :param overrides: Distribution → exact version.
        :returns: Whether its resolution is cached and its env stamped; never
            under ``--depbounds-rebuild``, where every probe resolves and
            builds again.
        """
        ws = self.workspace
        if ws.rebuild:
            return False
        resolved = cached_pins(
            self._request(overrides), ws.installer, workdir=ws.cache_dir / "resolutions"
        )
        return resolved is not None and is_built(
            self._plan(resolved.lines, overrides), ws.cache_dir / "envs"
        )

    def run(
        self, overrides: Mapping[str, str], *, watch: str | None = None
    ) -> ProbeRun:
        """Build (or reuse) the env with ``overrides`` pinned and run the tests.

        :param overrides: Distribution → exact version.
        :param watch: A dist whose failure to import makes the run a skip.
        :returns: The verdict.
        """
        ws = self.workspace
        quiet: Callable[[str], None] = lambda _message: None  # noqa: E731
        name = f"{PROBE_FAMILY}-{self.bound}"
        with contextlib.ExitStack() as held:
            try:
                resolved = resolve(
                    self._request(overrides),
                    ws.installer,
                    workdir=ws.cache_dir / "resolutions",
                    max_age=None,
                    # Once per run: localisation and bisection share probes.
                    rebuild=ws.rebuild and self._group(overrides) not in ws.resolved,
                    log=quiet,
                )
                ws.resolved.add(self._group(overrides))
                plan = self._plan(resolved.lines, overrides)
                envs_dir = ws.cache_dir / "envs"
                # Held while the tests run: no other run prunes it meanwhile.
                env = ensure_env(
                    plan,
                    ws.installer,
                    envs_dir=envs_dir,
                    # Once per run: localisation and bisection share probe envs.
                    rebuild=ws.rebuild
                    and env_dir(plan, envs_dir).name not in ws.used_envs,
                    log=quiet,
                    hold=held,
                )
            except DepboundsError as exc:
                lines = [line for line in str(exc).splitlines() if line.strip()]
                what = (
                    "does not resolve" if "resolve" in str(exc) else "does not install"
                )
                return ProbeRun(verdict="skip", reason=f"{what}: {lines[-1].strip()}")
            ws.used_envs.add(env.path.name)
            self.builds += not env.reused
            self.runs += 1
            return self._run_tests(env.path, env.python, name, watch)

    def _run_tests(
        self, env_path: Path, python: Path, name: str, watch: str | None
    ) -> ProbeRun:
        ws = self.workspace
        runs = ws.cache_dir / "runs"
        # A bound whose session crashed ran no test: the probe asks whether the
        # session starts (collects), and a crash is its failure.
        crash = all(t.startswith("depbounds::") for t in self.tests)
        nodes = (
            ["--collect-only"]
            if crash
            else [f"{ws.rootdir}{os.sep}{nodeid}" for nodeid in self.tests]
        )
        failures: list[tuple[str, str, Mapping[str, Any]]] = []
        runtime: dict[str, Any] = {}

        def record(item: dict[str, Any]) -> None:
            if item.get("event") == "start":
                runtime.update(item)
            if item.get("event") not in {"report", "collectreport"}:
                return
            data, facts = split_facts(item["data"])
            if data.get("outcome") == "failed":
                when = "collect" if item["event"] == "collectreport" else data["when"]
                failures.append((str(data.get("nodeid")), str(when), facts or {}))

        outcome = run_inner(
            InnerRequest(
                bound=name,
                env_python=python,
                args=(*ws.args, *nodes),
                cwd=ws.cwd,
                inner_dir=ws.inner_dir,
                results=runs / f"{name}.jsonl",
                log=runs / f"{name}.log",
                cache_dir=ws.cache_dir / "inner-cache" / name,
                timeout=ws.timeout,
            ),
            record,
            ws.stop,
        )
        settled = _settled(outcome, self.tests if crash else None)
        if settled is not None:
            return settled
        attributor = Attributor(
            SiteIndex(site_packages(env_path)),
            ws.declaration,
            env_path=env_path,
            implementation=str(runtime.get("implementation", "")),
            python=str(runtime.get("python", "")),
        )
        findings, _ = attribute_failures(attributor, failures)
        failed = tuple(dict.fromkeys(n for n, _, _ in failures))
        for culprit in findings:
            finding = culprit.finding
            if (
                watch is not None
                and finding.kind == "broken-dependency"
                and canonicalize_name(finding.dist or "") == canonicalize_name(watch)
            ):
                reason = _import_failure(finding.headline)
                return ProbeRun(verdict="skip", reason=reason, failed=failed)
        # pytest exits with 2 on a collection error: the tests failed all the same.
        if outcome.exitstatus not in {1, 2} or not failed:
            reason = f"pytest exited with {outcome.exitstatus}"
            return ProbeRun(verdict="skip", reason=reason, failed=failed)
        return ProbeRun(
            verdict="fail", reason="", failed=failed, findings=tuple(findings)
        )


def _settled(outcome: RunOutcome, crash: tuple[str, ...] | None) -> ProbeRun | None:
    """The verdict of a probe told by how its session ended, if it is.

    :param outcome: How the probe's session ended.
    :param crash: The crashed bound's node ids when the probe asks whether the
        session starts; ``None`` when it runs tests.
    """
    if outcome.crashed and crash is not None and not outcome.interrupted:
        return ProbeRun(verdict="fail", reason="", failed=crash)
    if outcome.crashed:
        return ProbeRun(verdict="skip", reason=f"pytest {outcome.describe()}")
    if outcome.exitstatus == 0 or crash is not None:
        return ProbeRun(verdict="pass", reason="")
    return None


ScheduleName = Literal["one alone", "leave-one-out"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule:
    """One way to localise: a probe per direct dependency that differs."""

    name: ScheduleName
    #: Probes it runs at most (one per differing dependency).
    probes: int
    #: Of these, the probes whose env is built already.
    cached: int

    @property
    def builds(self) -> int:
        """Envs it builds at most."""
        return self.probes - self.cached


def choose_schedule(
    one_alone: Schedule, leave_one_out: Schedule, *, bisect: bool
) -> tuple[Schedule, Schedule]:
    """The cheaper localisation schedule, then the other one (the fallback).

    Cheaper is fewer envs to build. On a tie, leave-one-out when bisecting: each
    of its envs (one dist at the passing version, the rest at the failing bound)
    is the first probe of that dist's bisection, so a culprit it finds costs the
    bisection one env less; otherwise one alone (the passing env with one dist
    moved), as before.

    :param one_alone: Each dist alone at the failing bound.
    :param leave_one_out: Every dist at the failing bound but one.
    :param bisect: Whether the culprits are bisected next.
    :returns: ``(chosen, fallback)``.
    """
    preferred = leave_one_out if bisect else one_alone
    chosen = min(
        (one_alone, leave_one_out), key=lambda s: (s.builds, s is not preferred)
    )
    return chosen, leave_one_out if chosen is one_alone else one_alone


# -- the orchestration after attribution ---------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class RefineRequest:
    """What the outer session asks of localisation and bisection."""

    workspace: Workspace
    bisect: bool
    localize: Localize
    #: ``(bound, message)`` progress sink.
    log: Callable[[str, str], None]


def refine(results: Sequence[BoundResult], request: RefineRequest) -> list[BoundResult]:
    """Localise inconclusive failures and bisect culprits, as asked.

    :param results: Every bound's result, attributed.
    :param request: Settings and the probe workspace.
    :returns: The results with notes (culprits, true bounds) and finding fixes.
    """
    by_bound = {r.bound: r for r in results}
    refined = []
    for result in results:
        other = next((r for b, r in by_bound.items() if b != result.bound), None)
        if (
            result.status not in {"failed", "crashed"}
            or request.workspace.stop.is_set()
        ):
            refined.append(result)
            continue
        refined.append(_refine_bound(result, other, request))
    ws = request.workspace
    if ws.used_envs and not ws.stop.is_set():
        # The probe envs of the last few runs are kept, as a bound's last envs are.
        prune_runs(
            ws.cache_dir / "envs",
            family=PROBE_FAMILY,
            used=ws.used_envs,
            keep=KEEP_PER_BOUND,
        )
    return refined


def _refine_bound(
    result: BoundResult, other: BoundResult | None, request: RefineRequest
) -> BoundResult:
    bound: BoundName = "lower" if result.bound == "lower" else "upper"
    notes: list[Note] = []
    targets = _targets(result)
    # Inconclusive: failures no finding explains, and findings whose chain names
    # several dists (``toplib → baselib``: which of them to move?).
    unclear = [*result.unattributed]
    for culprit in result.findings:
        if culprit.finding.relation == "transitive":
            unclear += [*culprit.tests, *culprit.collectors]
    wants = request.localize == "yes" or (request.localize == "auto" and bool(unclear))
    # A crashed session ran no test: only bisection (does the session start?)
    # applies to it.
    if result.status == "crashed" and not request.bisect:
        return result
    if (
        wants
        and result.status == "failed"
        and (passing := _localisable_against(other, bound, request)) is not None
    ):
        found, localised = _localize(
            result, passing, tuple(dict.fromkeys(unclear)) or _failed(result), request
        )
        notes += localised
        for dist, failing in found.items():
            targets.setdefault(dist, []).extend(failing)
        # A failure a culprit note localised is attributed: it is no longer
        # reported as "not attributed to a dependency".
        explained = {t for failing in found.values() for t in failing}
        result = dataclasses.replace(
            result,
            unattributed=tuple(t for t in result.unattributed if t not in explained),
        )
    if not request.bisect:
        return dataclasses.replace(result, notes=(*result.notes, *notes))
    searches: dict[str, Search] = {}
    for dist, tests in targets.items():
        if request.workspace.stop.is_set():
            break
        search_result, note = _bisect(
            bound, dist, tuple(dict.fromkeys(tests)), (result, other), request
        )
        notes.append(note)
        if search_result is not None:
            searches[canonicalize_name(dist)] = search_result
    findings = tuple(
        dataclasses.replace(
            c,
            finding=_with_search(
                c.finding, bound, searches, crashed=result.status == "crashed"
            ),
        )
        for c in result.findings
    )
    # A localised culprit's fix is the other bound's version; bisection found
    # the lowest that works: one requirement to write, not two.
    bisected = {
        canonicalize_name(n.dist): n.fix
        for n in notes
        if n.kind == "true-lower-bound" and n.dist and n.fix
    }
    notes = [
        dataclasses.replace(n, fix=bisected[canonicalize_name(n.dist)])
        if n.kind == "culprit" and n.dist and canonicalize_name(n.dist) in bisected
        else n
        for n in notes
    ]
    return dataclasses.replace(result, notes=(*result.notes, *notes), findings=findings)


def _localisable_against(
    other: BoundResult | None, bound: BoundName, request: RefineRequest
) -> BoundResult | None:
    """The passing bound to localise against; if none, the log says why."""
    # Localisation moves dists to the other bound's passing versions.
    if other is None:
        why = "it needs the other bound's passing pins: run both bounds (--depbounds)"
    elif not other.ok:
        why = f"the {other.bound} bound did not pass either"
    else:
        return other
    request.log(bound, f"failures not localised: {why}")
    return None


def _failed(result: BoundResult) -> tuple[str, ...]:
    suffix = f"@{result.bound}"
    return tuple(
        t.nodeid.removesuffix(suffix)
        for t in result.tests
        if t.outcome in {"failed", "errors"} and not t.nodeid.startswith("depbounds::")
    )


def _targets(result: BoundResult) -> dict[str, list[str]]:
    """Each dist to bisect, with the tests its findings explain."""
    targets: dict[str, list[str]] = {}
    for culprit in result.findings:
        finding = culprit.finding
        dist = target_of(finding) if result.bound == "lower" else finding.dist
        if dist is None:
            continue
        targets.setdefault(dist, []).extend([*culprit.tests, *culprit.collectors])
    return targets


def _direct_pins(result: BoundResult, declaration: Declaration) -> dict[str, str]:
    names = {r.name for r in declaration.under_test}
    return {n: v for n, v in result.pins.items() if n in names}


def _localize(
    result: BoundResult,
    other: BoundResult,
    tests: Sequence[str],
    request: RefineRequest,
) -> tuple[dict[str, list[str]], tuple[Note, ...]]:
    """Which direct dists make the tests fail, by the cheaper schedule first."""
    ws = request.workspace
    failing = _direct_pins(result, ws.declaration)
    passing = _direct_pins(other, ws.declaration)
    # Dists a finding's chain names first: they are the likeliest culprits.
    named = {
        canonicalize_name(d)
        for c in result.findings
        for d in (target_of(c.finding), c.finding.dist)
        if d
    }
    differing = sorted(
        (n for n, v in failing.items() if passing.get(n, v) != v),
        key=lambda n: (n not in named, n),
    )
    # dist → (the failures it explains, how it was found)
    found: dict[str, tuple[list[str], str]] = {}
    if len(differing) == 1:
        only = (
            f"(no probe needed): the only direct dependency whose version differs "
            f"from the {other.bound} bound"
        )
        found[differing[0]] = (list(tests), only)
    elif differing:
        failing_bound: BoundName = "lower" if result.bound == "lower" else "upper"
        passing_bound: BoundName = "lower" if other.bound == "lower" else "upper"
        plans: dict[ScheduleName, tuple[Prober, dict[str, str]]] = {
            "one alone": (
                Prober(ws, passing_bound, passing, tests),
                {d: failing[d] for d in differing},
            ),
            "leave-one-out": (
                Prober(ws, failing_bound, failing, tests),
                {d: passing[d] for d in differing},
            ),
        }
        chosen, fallback = choose_schedule(
            *(
                Schedule(
                    name=name,
                    probes=len(moves),
                    cached=sum(prober.cached({d: v}) for d, v in moves.items()),
                )
                for name, (prober, moves) in plans.items()
            ),
            bisect=request.bisect,
        )
        request.log(
            result.bound,
            f"localize: {len(differing)} deps differ; {chosen.name} "
            f"({chosen.cached} env{'s' * (chosen.cached != 1)} cached, "
            f"{chosen.builds} to build; "
            f"{fallback.name}: {fallback.builds} to build)",
        )
        _run_schedule(chosen.name, plans[chosen.name], (result, other), found, request)
        if not found and not ws.stop.is_set():
            request.log(
                result.bound,
                f"localize: {chosen.name} names no culprit; trying {fallback.name}",
            )
            _run_schedule(
                fallback.name, plans[fallback.name], (result, other), found, request
            )
    notes = []
    for dist, (failed, how) in found.items():
        count = f"{len(failed)} failure{'s' if len(failed) != 1 else ''}"
        fix = None
        if result.bound == "lower" and dist in passing:
            fix = lower_fix(dist, passing[dist])
        notes.append(
            Note(
                kind="culprit",
                dist=dist,
                message=f"localised {count} to {dist} {failing[dist]} {how}",
                location=_location(ws.declaration, dist),
                fix=fix,
                tests=tuple(failed),
            )
        )
    if not found:
        message = (
            f"no single direct dependency explains the failures at the "
            f"{result.bound} bound: none fails alone at it, and holding none at the "
            f"{other.bound} bound makes them pass ({', '.join(differing)})"
            if differing
            else f"no direct dependency differs from the {other.bound} bound"
        )
        notes.append(Note(kind="culprit", dist=None, message=message))
    return {d: failed for d, (failed, _) in found.items()}, tuple(notes)


def _run_schedule(
    name: ScheduleName,
    plan: tuple[Prober, Mapping[str, str]],
    results: tuple[BoundResult, BoundResult],
    found: dict[str, tuple[list[str], str]],
    request: RefineRequest,
) -> None:
    """Probe each move in turn until every failure has a culprit."""
    prober, moves = plan
    result, other = results
    tests = prober.tests
    for number, (dist, version) in enumerate(moves.items(), start=1):
        explained = {t for failed, _ in found.values() for t in failed}
        # Stop once every failure has a culprit: the rest need no env.
        if request.workspace.stop.is_set() or explained >= set(tests):
            break
        run = prober.run({dist: version}, watch=dist)
        if name == "one alone":
            culprit = list(run.failed) if run.verdict == "fail" else []
            mark = "fails" if run.verdict == "fail" else _MARKS[run.verdict]
            what = f"{dist} {version} alone"
            how = (
                f"(one alone): alone at the {result.bound} bound (the rest at the "
                f"{other.bound} bound) it fails"
            )
        else:
            # Held back, the failures that pass are the dist's.
            culprit = (
                [t for t in tests if t not in run.failed]
                if run.verdict != "skip"
                else []
            )
            mark = {"pass": "✓", "skip": _MARKS["skip"]}.get(
                run.verdict,
                f"{len(culprit)} of {len(tests)} pass" if culprit else "fails",
            )
            what = f"{dist} held at {version}"
            how = (
                f"(leave-one-out): held at the {other.bound} bound's {version} (the "
                f"rest at the {result.bound} bound) "
                + ("it passes" if len(culprit) == 1 else "they pass")
            )
        if run.verdict == "skip" and run.reason:
            mark = f"{mark} ({run.reason})"
        request.log(
            result.bound, f"localize: {what}: {mark} ({number} of {len(moves)})"
        )
        if culprit:
            found[dist] = (culprit, how)


def _location(declaration: Declaration, dist: str | None) -> str | None:
    if dist is None:
        return None
    key = canonicalize_name(dist)
    return next((r.location for r in declaration.requirements if r.name == key), None)


def _bisect(
    bound: BoundName,
    dist: str,
    tests: Sequence[str],
    results: tuple[BoundResult, BoundResult | None],
    request: RefineRequest,
) -> tuple[Search | None, Note]:
    result, other = results
    ws = request.workspace
    key = canonicalize_name(dist)
    location = _location(ws.declaration, dist)
    failing = result.pins.get(key)
    kind = "true-lower-bound" if bound == "lower" else "upper-break"
    try:
        versions = candidate_versions(ws.installer, dist, ws.interpreter)
    except DepboundsError as exc:
        message = f"{dist}: cannot list its releases: {str(exc).splitlines()[0]}"
        return None, Note(kind=kind, dist=dist, message=message, location=location)
    declared = next(
        (r.requirement for r in ws.declaration.under_test if r.name == key), None
    )
    # Released versions the declared range admits (pre-releases only if it asks).
    admitted = [
        v for v in versions if declared is None or v in declared.specifier
    ] or list(versions)
    passing = other.pins.get(key) if other is not None else None
    if passing is None and admitted:
        passing = str(admitted[-1] if bound == "lower" else admitted[0])
    if failing is None or passing is None or _v(passing) == _v(failing):
        message = f"{dist}: no other version to bisect towards"
        return None, Note(kind=kind, dist=dist, message=message, location=location)
    low, high = sorted((_v(failing), _v(passing)))
    candidates = [v for v in admitted if low <= v <= high and not v.is_prerelease]
    candidates = sorted({*candidates, low, high})
    expected = expected_probes(len(candidates))
    prober = Prober(ws, bound, _direct_pins(result, ws.declaration), tests)
    count = 0

    def probe(version: Version) -> Trial:
        nonlocal count
        count += 1
        run = prober.run({dist: str(version)}, watch=dist)
        reason = run.reason if run.verdict == "skip" else ""
        trial = Trial(version=version, verdict=run.verdict, reason=reason)
        request.log(
            result.bound, f"bisect {dist}: {trial.label} ({count} of {expected})"
        )
        return trial

    broken = next(
        (
            c.finding
            for c in result.findings
            if c.finding.kind == "broken-dependency"
            and canonicalize_name(c.finding.dist or "") == key
        ),
        None,
    )
    known = _import_failure(broken.headline) if broken else ""
    found = search(candidates, probe, dist=dist, direction=bound, known_reason=known)
    return found, _note(found, location, crashed=result.status == "crashed")


def _passing(*, crashed: bool) -> str:
    """What a passing probe shows, for a crashed bound or a failed one."""
    return "the session starts" if crashed else "the failing tests pass"


def _note(found: Search, location: str | None, *, crashed: bool = False) -> Note:
    dist = found.dist
    if found.direction == "lower":
        if found.good is None:
            what = "the session crashes" if crashed else "the failing tests fail"
            message = (
                f"{dist}: {what} even at {found.bad} with the other "
                f"dependencies at the lower bound (tried {found.tried}): another "
                "dependency is involved"
            )
            return Note(
                kind="true-lower-bound", dist=dist, message=message, location=location
            )
        what = _passing(crashed=crashed)
        message = f"{dist}: {what} from {found.good} (tried {found.tried})"
        return Note(
            kind="true-lower-bound",
            dist=dist,
            message=message,
            location=location,
            fix=lower_fix(dist, str(found.good)),
        )
    if found.good is None:
        message = (
            f"{dist}: the failing tests fail at every version tried with the other "
            f"dependencies at the upper bound (tried {found.tried})"
        )
        return Note(kind="upper-break", dist=dist, message=message, location=location)
    message = (
        f"{dist}: {found.good} is the last good version, {found.bad} the first bad "
        f"(tried {found.tried}); " + UPPER_ADVICE.format(cap=f"`{dist}<{found.bad}`")
    )
    return Note(kind="upper-break", dist=dist, message=message, location=location)


def _with_search(
    finding: Finding,
    bound: BoundName,
    searches: Mapping[str, Search],
    *,
    crashed: bool = False,
) -> Finding:
    dist = target_of(finding) if bound == "lower" else finding.dist
    found = searches.get(canonicalize_name(dist)) if dist else None
    if dist is None or found is None or found.good is None:
        return finding
    if bound == "lower":
        fix = lower_fix(dist, str(found.good))
        what = "declare" if finding.relation == "undeclared" else "write"
        passes = _passing(crashed=crashed)
        advice = f"{what} `{fix}` (bisected: {passes} from {found.good})"
        if finding.kind == "broken-dependency" and finding.dist == dist:
            lowest = (
                "the lowest with which the session starts"
                if crashed
                else "the lowest that imports and passes the failing tests"
            )
            advice = f"{lowest} is {found.good}: {what} `{fix}`"
        return dataclasses.replace(
            finding, fix=fix, advice=advice, true_bound=str(found.good)
        )
    advice = upper_advice(dist, str(found.bad), str(found.good))
    return dataclasses.replace(
        finding, fix=None, advice=advice, true_bound=str(found.bad)
    )


def _import_failure(headline: str) -> str:
    """``does not import on CPython 3.11`` from a broken-dependency headline."""
    return headline.split(": ", 1)[0].split(" ", 2)[-1]


def _v(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def fix_floors(results: Sequence[BoundResult]) -> dict[str, str]:
    """The floors ``--depbounds-fix`` writes: bisected, else from the passing bound.

    :param results: Every bound's result, refined.
    :returns: Distribution → new floor.
    """
    floors: dict[str, str] = {}
    for result in results:
        if result.bound != "lower":
            continue
        fixes = [n.fix for n in result.notes if n.kind == "true-lower-bound"]
        fixes += [c.finding.fix for c in result.findings]
        for fix in fixes:
            if not fix:
                continue
            try:
                requirement = Requirement(fix)
            except InvalidRequirement:
                continue
            floor = next(
                (s.version for s in requirement.specifier if s.operator == ">="), None
            )
            if floor is not None:
                floors.setdefault(canonicalize_name(requirement.name), floor)
    return floors


def strip_paths(
    args: Sequence[str], paths: Sequence[str], cwd: Path | None = None
) -> tuple[str, ...]:
    """The command line without the paths and node ids it selected.

    :param args: The inner session's arguments.
    :param paths: pytest's positional arguments (``config.args``).
    :param cwd: Where pytest ran: only words naming a file or folder there are
        paths. The outer pytest takes the value of an option only the env's
        plugins know (``2`` of ``-n 2`` without xdist here) for a path too.
    :returns: The arguments minus those words.
    """
    chosen = {p for p in paths if cwd is None or (cwd / p.partition("::")[0]).exists()}
    return tuple(a for a in args if a not in chosen)


def after_attribution(
    results: Sequence[BoundResult],
    *,
    config: pytest.Config,
    settings: Settings,
    declaration: Declaration,
    workspace: Mapping[str, Any],
) -> list[BoundResult]:
    """Complete findings with fixes, then localise, bisect and rewrite as asked.

    :param results: Every bound's attributed result.
    :param config: The outer config (command line, terminal).
    :param settings: The user's options.
    :param declaration: The project's requirements.
    :param workspace: ``interpreter``, ``installer``, ``cache_dir``, ``inner_dir``
        and ``stop`` of the session.
    :returns: The results, completed.
    """
    from pytest_depbounds.report import BoundView  # noqa: PLC0415
    from pytest_depbounds.resolution import (  # noqa: PLC0415
        tooling_names,
        tooling_requirements,
    )

    completed = suggest(results)
    if not any(r.status in {"failed", "crashed"} for r in completed):
        return completed
    views = {r.bound: BoundView(config, r.bound) for r in completed}
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    tooling = tooling_requirements(
        [str(r.requirement) for r in declaration.tooling], settings.with_tooling
    )
    args = forwarded_args(
        config.invocation_params.args, xdist="pytest-xdist" in tooling_names(tooling)
    )
    request = RefineRequest(
        workspace=Workspace(
            declaration=declaration,
            tooling=tooling,
            args=strip_paths(
                args, [str(a) for a in config.args], config.invocation_params.dir
            ),
            cwd=config.invocation_params.dir,
            rootdir=config.rootpath,
            timeout=settings.timeout,
            rebuild=settings.rebuild,
            editable=settings.editable,
            **workspace,
        ),
        bisect=settings.bisect,
        localize="yes"
        if settings.localize == "yes"
        else "no"
        if settings.localize == "no"
        else "auto",
        log=lambda bound, message: events.put((bound, message)),
    )
    completed = _in_worker(completed, request, events, views)
    if settings.fix:
        _write_fix(config, declaration, completed)
    return completed


def _in_worker(
    results: list[BoundResult],
    request: RefineRequest,
    events: queue.Queue[tuple[str, str]],
    views: Mapping[str, BoundView],
) -> list[BoundResult]:
    """Refine in a worker thread, printing its progress here, so Ctrl-C stops it.

    The children run in sessions of their own and never see Ctrl-C: the main
    thread must be free to stop them (as it does for the bounds).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(refine, results, request)
        try:
            while not (future.done() and events.empty()):
                try:
                    bound, message = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                views[bound].line(message)
        except BaseException:
            request.workspace.stop.set()
            kill_all()
            raise
        return future.result()


def _write_fix(
    config: pytest.Config, declaration: Declaration, results: Sequence[BoundResult]
) -> None:
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    outcome = apply_fixes(declaration, fix_floors(results))
    lines = outcome.diff.splitlines() or ["no lower bound to rewrite"]
    lines += [f"not rewritten: {reason}" for reason in outcome.skipped]
    if terminal is None:
        return
    terminal.write_sep("-", "depbounds: --depbounds-fix")
    for line in lines:
        terminal.write_line(line)
