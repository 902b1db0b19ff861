"""A study plan (YAML, e.g. `study/full.yaml`): prioritised tiers of runs, and the resumable queue that runs them.

`run_plan` trains the missing runs tier by tier with N workers x T threads, skips recorded ones, logs
done/total with an ETA from measured wall times (per task and method) and a progress line per run every
few minutes, and holds a queue lock so that a second queue started on the same results folder exits at
once instead of competing for the cores.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import math
import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .config import PROFILES, Config
from .hooks import RunPaused, summary_path
from .identity import native_bf16, record_threads
from .methods import METHODS
from .pool import worker_pool
from .runs import (
    LOG_EVERY, Located, RunBusy, RunSpec, _run_spec, checkpoint_root, default_results_dir, locate, pick_device,
    read_record,
)
from .validate import check_threads, check_workers

GROUP_KEYS = {"tasks", "methods", "seeds", "overrides", "variants", "grid", "formulation"}


@dataclass(frozen=True)
class Tier:
    """A named, ordered list of runs."""

    name: str
    specs: tuple[RunSpec, ...]


@dataclass(frozen=True)
class Plan:
    profile: str
    tiers: tuple[Tier, ...]


def _group_specs(group: dict[str, Any], where: str) -> list[RunSpec]:
    """tasks x methods x variants x grid x seeds of one group, seed-major (seed 1 of everything first)."""
    unknown = set(group) - GROUP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; valid: {sorted(GROUP_KEYS)}")
    for key in ("tasks", "methods", "seeds"):
        if not isinstance(group.get(key), list) or not group[key]:
            raise ValueError(f"{where}: '{key}' must be a non-empty list, got {group.get(key)!r}")
    base = dict(group.get("overrides") or {})
    variants = [dict(v) for v in group.get("variants") or [{}]]
    grid = group.get("grid") or {}
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    form = group.get("formulation", "paper")
    return [
        RunSpec(t, m, s, {**base, **v, **c}, form)
        for s in group["seeds"] for t in group["tasks"] for m in group["methods"] for v in variants for c in combos
    ]


def load_plan(path: str | Path) -> Plan:
    """Parse and check a plan file; errors name the file and the tier/group at fault."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read plan ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tiers"), list):
        got = type(raw.get("tiers") if isinstance(raw, dict) else raw).__name__
        raise ValueError(f"{path}: expected a mapping with a list of 'tiers' (and an optional 'profile'), got {got}")
    profile = str(raw.get("profile", "full"))
    if profile not in PROFILES:
        raise ValueError(f"{path}: profile {profile!r} is unknown; valid: {', '.join(PROFILES)}")
    tiers = []
    for i, tier in enumerate(raw["tiers"], 1):
        if not isinstance(tier, dict) or not isinstance(tier.get("groups"), list):
            raise ValueError(f"{path}: tier {i}: expected a mapping with a list of 'groups', got {tier!r:.80}")
        for j, group in enumerate(tier["groups"], 1):
            if not isinstance(group, dict):
                raise ValueError(f"{path}: tier {i} group {j}: expected a mapping, got {group!r:.80}")
        specs = [s for j, g in enumerate(tier["groups"], 1) for s in _group_specs(g, f"{path}: tier {i} group {j}")]
        tiers.append(Tier(str(tier.get("name", i)), tuple(specs)))
    return Plan(profile, tuple(tiers))


def _fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


WallKey = tuple[str, str, str]  # (task, method, overrides as sorted JSON)

#: wall-time speed-up of a run on 2 torch threads over 1, from `bench` on both CPUs this study ran on (FGKF
#: source steps 1.42x, target steps 1.56x, plain train 1.60x); other counts are extrapolated as t ** log2(1.5)
TWO_THREAD_SPEEDUP = 1.5


def thread_speedup(threads: int) -> float:
    """Expected speed of a run on `threads` torch threads relative to one (1.0 for one thread)."""
    return max(1, threads) ** math.log2(TWO_THREAD_SPEEDUP)


def _overrides_key(overrides: dict[str, Any]) -> str:
    return json.dumps(overrides, sort_keys=True, default=str)


def measured_walls(results: Path, profile: str, device_type: str | None = None) -> dict[WallKey, list[float]]:
    """Wall seconds of the recorded runs of `profile`, by (task, method, overrides), each scaled to one torch
    thread (`thread_speedup` of the record's `threads`).

    Records trained with other numerics than the profile now sets (`flush_denormal`: the full records of
    before the flush ran up to 3x slower) are left out, so they do not inflate the ETA; with `device_type`
    ("cpu", "cuda") so are records of the other kind of device, and always runs resumed on another thread count.
    """
    flush = PROFILES.get(profile, {}).get("flush_denormal", Config.flush_denormal)
    walls: dict[WallKey, list[float]] = {}
    for path in sorted((results / "runs").glob(f"*/*/{profile}-*.json")):
        try:
            rec = read_record(path)
        except ValueError:
            continue  # a damaged record is reported when its run is reached, not here
        overrides = (rec.get("config_layers") or {}).get("overrides") or {}
        if (rec.get("config") or {}).get("flush_denormal", False) != overrides.get("flush_denormal", flush):
            continue
        if device_type and str(rec.get("device", "cpu")).split(":")[0] != device_type:
            continue
        threads = record_threads(rec) or [1]
        if len(threads) > 1:
            continue  # resumed on another thread count: its wall is no one count's
        key = (rec["task"], rec["method"], _overrides_key(overrides))
        walls.setdefault(key, []).append(float(rec["wall_seconds"]) * thread_speedup(threads[0]))
    return walls


def _sibling_estimate(spec: RunSpec, walls: dict[WallKey, list[float]]) -> float | None:
    """One-thread wall of a method not yet measured on its task, scaled from a sibling (a method of the same
    schedule) measured there: wall(task, sibling) x wall(other, method) / wall(other, sibling), averaged over
    every (other task, sibling) measured both ways; None when there is none. A task's cost per method is not its
    neighbour's: Weibo's 5% target makes 16-step episodes (Zhuxian's: 38), so an Algorithm 1 run there takes 2.4x
    the source steps for the same patience, which the sibling's own wall on the task already holds."""
    pair: dict[tuple[str, str], list[float]] = {}
    for (t, m, _), ws in walls.items():
        pair.setdefault((t, m), []).extend(ws)
    avg = {k: sum(ws) / len(ws) for k, ws in pair.items()}
    schedule = getattr(METHODS.get(spec.method), "schedule", None)
    ratios = [avg[(spec.task, sib)] * avg[(other, spec.method)] / avg[(other, sib)]
              for (other, method) in avg if method == spec.method and other != spec.task
              for (t, sib) in avg if t == spec.task and sib != spec.method and (other, sib) in avg
              and getattr(METHODS.get(sib), "schedule", None) == schedule]
    return sum(ratios) / len(ratios) if ratios else None


def _closest_overrides(spec: RunSpec, walls: dict[WallKey, list[float]]) -> list[float]:
    """Walls of the spec's task and method whose overrides are closest to the spec's: most settings agreeing
    less settings differing (one side sets a key the other does not, or both with other values), ties pooled.
    A Table 4 cell without warm-up is timed by the other cells without it, a run with warm-up by those with it."""
    def closeness(key: str) -> int:
        theirs = json.loads(key)
        agree = sum(k in spec.overrides and spec.overrides[k] == v for k, v in theirs.items())
        return 2 * agree - len(theirs.keys() | spec.overrides.keys())  # agree - (union - agree)

    pair = {o: ws for (t, m, o), ws in walls.items() if (t, m) == (spec.task, spec.method)}
    best = max(map(closeness, pair), default=0)
    return [w for o, ws in pair.items() if closeness(o) == best for w in ws]


def expected_seconds(spec: RunSpec, walls: dict[WallKey, list[float]], threads: int = 1) -> tuple[float, bool]:
    """Expected wall seconds of one run on `threads` threads from one-thread walls: same task, method and
    overrides, else same task and method with the closest overrides (`_closest_overrides`), else scaled
    from a sibling method on the task (`_sibling_estimate`), else same method, else all runs; also whether its
    own task and method were measured."""
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) / thread_speedup(threads) if xs else 0.0

    own = walls.get((spec.task, spec.method, _overrides_key(spec.overrides)))
    if own:
        return mean(own), True
    same_pair = _closest_overrides(spec, walls)
    if same_pair:
        return mean(same_pair), True
    scaled = _sibling_estimate(spec, walls)
    if scaled is not None:
        return scaled / thread_speedup(threads), False
    same_method = [w for (_, m, _), ws in walls.items() if m == spec.method for w in ws]
    return mean(same_method or [w for ws in walls.values() for w in ws]), False


def estimate(specs: list[RunSpec], walls: dict[WallKey, list[float]], workers: int, threads: int = 1,
             spent: dict[str, float] | None = None) -> tuple[float, int]:
    """Expected seconds of queue time for `specs` (see `expected_seconds`) on `workers` workers of `threads`
    threads, less what started runs have spent (`spent`: seconds by run label); also how many specs had no
    measurement of their own task and method."""
    total, guessed = 0.0, 0
    for spec in specs:
        seconds, measured = expected_seconds(spec, walls, threads)
        total += max(0.0, seconds - (spent or {}).get(spec.label, 0.0))
        guessed += not measured
    return total / max(1, workers), guessed


def pick_next(queue: list[tuple[str, RunSpec]], walls: dict[WallKey, list[float]], seconds_left: float | None,
              threads: int = 1, spent: dict[str, float] | None = None, persistent: bool = False) -> int | None:
    """Index of the queued run to start next: the first one without a deadline. With `seconds_left`: first a run
    that already has a checkpoint here (time `spent` in an earlier sitting), finished in time or not, since its
    checkpoint outlived a sitting, so this machine keeps them and it pauses again at the deadline; else the first
    one expected to finish in time (`expected_seconds` on `threads` threads: its own measured walls, else a guess
    from a sibling method on its task or its method's on other tasks); else None. A run started on a guess can
    still pause at the deadline; a new one guessed too long is not started, since a machine lent for a sitting
    may keep no checkpoint. `persistent` (this machine keeps its checkpoints between sittings): after those,
    plan order, whether it finishes in time or not."""
    if seconds_left is None:
        return 0 if queue else None
    spent = spent or {}
    resumable = [i for i, (_, spec) in enumerate(queue) if spent.get(spec.label, 0.0) > 0]
    if resumable:
        return resumable[0]
    if persistent:
        return 0 if queue else None
    for i, (_, spec) in enumerate(queue):
        seconds, _ = expected_seconds(spec, walls, threads)
        if seconds <= seconds_left:
            return i
    return None


def run_plan(
    path: str | Path, workers: int = 2, threads: int = 1, tiers: list[int] | None = None,
    log: Callable[[str], None] = print, hours: float | None = None, persistent: bool = False, **common: Any,
) -> int:
    """Run the plan's missing runs (optionally only some tiers, 1-based); returns how many were trained.

    `hours`: a deadline for this sitting (a session that ends, a machine lent for a while). Only runs expected
    to finish before it are started, in plan order (`pick_next`); every run checkpoints and pauses at the
    deadline (never a record cut short), so the queue ends on time and resumes later. `persistent`: this machine
    keeps its checkpoints between sittings, so runs start in plan order even where they cannot finish in time.
    """
    check_threads(threads)
    check_workers(workers)
    cores = os.cpu_count() or 1
    if workers * threads > cores:
        raise ValueError(f"{workers} workers x {threads} threads exceed the {cores} CPU cores of this machine")
    if hours is not None and not hours > 0:
        raise ValueError(f"hours: expected a positive number of hours, got {hours}")
    plan = load_plan(path)
    bad = sorted(set(tiers or []) - set(range(1, len(plan.tiers) + 1)))
    if bad:
        raise ValueError(f"tiers: {path} has tiers 1-{len(plan.tiers)}, got {', '.join(map(str, bad))}")
    results = Path(common.get("results_dir") or default_results_dir())
    lock = checkpoint_root(results) / "queue.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another queue holds {lock}; exiting")
            return 0
        deadline = None if hours is None else time.time() + hours * 3600
        return _run_locked(plan, workers, threads, tiers, log, dict(common, results_dir=results), deadline,
                           persistent)


def _count(n: int, noun: str) -> str:
    """'1 worker', '2 workers'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _run_locked(plan: Plan, workers: int, threads: int, tiers: list[int] | None, log: Callable[[str], None],
                common: dict[str, Any], deadline: float | None, persistent: bool) -> int:
    chosen = [t for i, t in enumerate(plan.tiers, 1) if tiers is None or i in tiers]
    todo: list[tuple[str, RunSpec]] = []
    spent: dict[str, float] = {}  # wall seconds a started (paused or killed) run already has, by label
    total = 0
    absent: list[tuple[RunSpec, str]] = []  # runs whose datasets this machine lacks
    for tier in chosen:
        for spec in tier.specs:
            total += 1
            loc = locate_here(spec, plan.profile, common.get("data_dir"), common["results_dir"], absent)
            if loc is not None and not loc.record.exists():
                todo.append((tier.name, spec))
                spent[spec.label] = _spent_seconds(loc.checkpoint)
    if absent:
        log(f"plan: {_count(len(absent), 'run')} left for a machine with their datasets, e.g. {absent[0][0].label} "
            f"({absent[0][1]})")
    kind = _device_type(common.get("device"))
    todo, held = _runnable_here(todo, common.get("device"))
    if held:
        log(f"plan: {_count(len(held), 'run')} with routing_dtype=bfloat16 left for a machine with bf16 hardware (this "
            f"device has none: its bf16 matmuls are emulated, ~15x slower), e.g. {held[0][1].label}")
    eta, guessed = estimate([s for _, s in todo], measured_walls(common["results_dir"], plan.profile, kind), workers,
                            threads, spent)
    until = "" if deadline is None else f"; until {time.strftime('%H:%M', time.localtime(deadline))}"
    recorded = total - len(todo) - len(held) - len(absent)  # neither left for bf16 hardware nor for their data
    log(f"plan: {total} runs in {len(chosen)} tiers, {recorded} recorded, {len(todo)} to train "
        f"({_count(workers, 'worker')} x {_count(threads, 'thread')}{until}); ETA ~{_fmt_hours(eta)} from measured wall times"
        f"{f' ({guessed} runs not yet measured for their task and method)' if guessed else ''}")
    # a run another process is training now (a second queue, a hand-started run) is left to it, not waited for
    kw = dict(common, profile=plan.profile, threads=threads, progress=False, log_every=LOG_EVERY, wait_for_lock=False)
    t0, done = time.time(), 0
    submitted: dict[str, float] = {}  # when each run of this sitting was handed to a worker, by label
    with worker_pool(workers) as pool:
        pending: dict[Any, tuple[str, RunSpec]] = {}
        queue = list(todo)
        walls = measured_walls(common["results_dir"], plan.profile, kind)  # re-read only when a run has finished
        while queue or pending:
            while queue and len(pending) < workers:
                left_s = None if deadline is None else deadline - time.time()
                i = pick_next(queue, walls, left_s, threads, spent, persistent)
                if i is None or (left_s is not None and left_s <= 0):
                    break
                name, spec = queue.pop(i)
                budget = {} if left_s is None else {"time_budget": left_s}
                pending[pool.submit(_run_spec, (spec, kw | budget))] = (name, spec)
                submitted[spec.label] = time.time()
            if not pending:  # only under a deadline: no run left is expected to finish before it
                left_s = max(0.0, (deadline or 0.0) - time.time())
                log(f"deadline: {len(queue)} runs left, none expected to finish in the {_fmt_hours(left_s)} left "
                    f"(next: {queue[0][1].label}, ~{_fmt_hours(expected_seconds(queue[0][1], walls, threads)[0])}); stopping")
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            walls = measured_walls(common["results_dir"], plan.profile, kind)
            for fut in finished:
                name, spec = pending.pop(fut)
                try:
                    line = fut.result()
                    done += 1
                except RunPaused as paused:
                    line = f"{spec.label}: paused at the deadline ({paused})"
                except RunBusy as busy:
                    line = f"{spec.label}: left to the process training it ({busy})"
                except Exception as err:  # noqa: BLE001 - one failed run must not stop the queue
                    done += 1
                    line = f"{spec.label}: FAILED {type(err).__name__}: {err}"
                left = [s for _, s in queue] + [s for _, s in pending.values()]
                now = time.time()
                spent_now = spent | {s.label: spent.get(s.label, 0.0) + now - submitted[s.label]
                                     for _, s in pending.values()}  # the runs still training count what is left
                eta, guessed = estimate(left, walls, workers, threads, spent_now)
                note = f", {guessed} of {len(left)} left not yet measured for their task and method" if guessed else ""
                log(f"[{done}/{len(todo)}] tier {name} | {line} | elapsed {_fmt_hours(time.time() - t0)}, "
                    f"ETA ~{_fmt_hours(eta)}{note}")
    return done


def _runnable_here(todo: list[tuple[str, RunSpec]], device: str | None
                   ) -> tuple[list[tuple[str, RunSpec]], list[tuple[str, RunSpec]]]:
    """`todo` split into the runs to train on this queue's device and the bfloat16-routing runs it must leave for
    one with bf16 hardware (`native_bf16`)."""
    def bf16(spec: RunSpec) -> bool:
        return spec.overrides.get("routing_dtype") == "bfloat16"

    if not any(bf16(s) for _, s in todo) or native_bf16(pick_device(device)):
        return todo, []
    return [t for t in todo if not bf16(t[1])], [t for t in todo if bf16(t[1])]


def locate_here(spec: RunSpec, profile: str, data_dir: str | Path | None, results: Path,
                absent: list[tuple[RunSpec, str]]) -> Located | None:
    """`locate` of a plan's run, or None (the run and why appended to `absent`) when a dataset folder it reads is
    not under this machine's data root: a lent machine may carry some datasets only."""
    try:
        return locate(spec.task, spec.method, spec.seed, profile, spec.formulation, data_dir, results,
                      **spec.overrides)
    except FileNotFoundError as err:
        absent.append((spec, str(err).split(";")[0]))
        return None


def _device_type(device: str | None) -> str:
    """'cuda' or 'cpu': the kind of device a queue's runs will train on (CUDA when present, as `run` picks)."""
    return pick_device(device).type


def _spent_seconds(checkpoint: Path) -> float:
    """Wall seconds a started run has spent (its checkpoint summary), 0 when it has none."""
    try:
        return float(json.loads(summary_path(checkpoint).read_text(encoding="utf-8"))["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
