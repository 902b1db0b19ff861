"""Command line: `python -m fgkf_core run | sweep | bench | data check|folders | compare | list`."""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from typing import Any, Sequence

from . import compare_cli
from .config import FORMULATIONS, PROFILES


def _value(text: str) -> Any:
    """Parse an override value as JSON when possible (numbers, true/false, null), else keep the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = _value(value)
    return out


def _task_arg(args: argparse.Namespace, name: str):
    from .tasks import custom_task

    if args.source_dir or args.target_dir:
        if not (args.source_dir and args.target_dir and args.scheme):
            raise SystemExit("a custom task needs --source-dir, --target-dir and --scheme")
        return custom_task(args.source_dir, args.target_dir, args.scheme)
    return name


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="smoke | quick | full (default quick)")
    p.add_argument("--formulation", default="paper", choices=list(FORMULATIONS), help="paper (default) or code")
    p.add_argument("--data-dir", default=None, help="data root (default: $FGKF_DATA)")
    p.add_argument("--results-dir", default=None, help="results folder (default: $FGKF_RESULTS or ./results)")
    p.add_argument("--device", default=None, help="cuda / cpu (default: CUDA when present)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. lr=0.001 alpha=elem")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar: a progress line (with ETA) every 10 minutes instead, for background logs")
    p.add_argument("--source-dir", help="custom task: source folder in the uniform format")
    p.add_argument("--target-dir", help="custom task: target folder in the uniform format")
    p.add_argument("--scheme", choices=["bmes", "bio", "tags"], help="custom task: tag scheme")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fgkf_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train and evaluate one run, write its record")
    p.add_argument("--task", default="ner_en", help="task name (see `list`) or a custom pair via --source-dir ...")
    p.add_argument("--method", default="fgkf", help="method name (see `list`)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--force", action="store_true", help="discard the record and checkpoint, train again")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="checkpoint and stop after this long (resume by running again); never ends a run")
    _common(p)

    p = sub.add_parser("sweep", help="run tasks x methods x seeds (or a --plan), skipping recorded runs")
    p.add_argument("--plan", default=None, help="a study plan YAML (e.g. study/full.yaml): its tiers, in order")
    p.add_argument("--tiers", nargs="+", type=int, default=None, help="with --plan: only these tiers (1-based)")
    p.add_argument("--status", action="store_true",
                   help="with --plan: show what is recorded, started (how far) and waiting, train nothing")
    p.add_argument("--hours", type=float, default=None,
                   help="with --plan: end by then; start only runs expected to finish in time (from measured "
                        "walls), pause every run at a checkpoint at the deadline")
    p.add_argument("--persistent", action="store_true",
                   help="with --hours: this machine keeps its checkpoints between sittings, so start runs in plan "
                        "order even where they cannot finish by the deadline (they pause there, go on next time)")
    p.add_argument("--tasks", nargs="+")
    p.add_argument("--methods", nargs="+")
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--workers", type=int, default=1, help="concurrent worker processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    _common(p)

    p = sub.add_parser("bench", help="training/decoding sentences per second per task input shape")
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--batches", type=int, default=10, help="timed batches per measurement")
    p.add_argument("--baseline", default=None, metavar="REV", help="also bench a git checkout of REV, side by side")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as every training process)")
    p.add_argument("--trained", nargs=2, metavar=("TASK", "METHOD"), default=None,
                   help="instead: steps of this run's checkpoint (a trained model), denormals kept vs flushed")
    p.add_argument("--seed", type=int, default=1, help="with --trained: the run's seed")
    p.add_argument("--profile", default="full", help="with --trained: the run's profile")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="with --trained: the run's overrides")

    p = sub.add_parser("data", help="data utilities")
    p.add_argument("action", choices=["check", "folders"],
                   help="check: validate a data root against the registry; folders: the dataset folders TASKS read")
    p.add_argument("tasks", nargs="*", metavar="TASK", help="with folders: task names")
    p.add_argument("--data-dir", default=None)

    compare_cli.add_parser(sub)
    sub.add_parser("list", help="list tasks, methods and profiles")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every unfinished run resumes exactly from its last checkpoint when started again",
              file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "compare":
        return compare_cli.run(args)
    if args.command == "list":
        from .methods import METHODS
        from .tasks import TASKS

        print("tasks:   " + ", ".join(TASKS))
        print("methods: " + ", ".join(sorted(METHODS)))
        print("profiles: " + ", ".join(PROFILES))
        return 0
    if args.command == "data":
        if args.action == "folders":  # what `make device-data` copies for a machine without ../shared
            from .tasks import get_task

            if not args.tasks:
                raise ValueError("data folders: expected task names, e.g. `data folders cws_zx cws_weibo`")
            print(" ".join(sorted({f for t in args.tasks for f in (get_task(t).source, get_task(t).target)})))
            return 0
        from .datacheck import check

        if args.tasks:
            raise ValueError(f"data check takes no task names, got {' '.join(args.tasks)}")
        return check(args.data_dir)
    if args.command == "bench":
        import torch

        from .bench import bench
        from .validate import check_threads

        check_threads(args.threads)
        torch.set_num_threads(args.threads)
        if args.trained:
            from .bench_trained import bench_trained

            bench_trained(*args.trained, seed=args.seed, profile=args.profile, **_overrides(args.set))
            return 0
        bench(args.tasks, args.device, args.batches, args.baseline)
        return 0
    from .runs import LOG_EVERY, RunSpec, iter_sweep, run

    common = dict(profile=args.profile, data_dir=args.data_dir, results_dir=args.results_dir, device=args.device)
    if args.command in ("run", "sweep") and args.quiet:  # a background log gets progress lines, not silence
        common["log_every"] = LOG_EVERY
    overrides = _overrides(args.set)
    if args.command == "run":
        from .hooks import RunPaused

        try:
            rec = run(
                _task_arg(args, args.task), args.method, seed=args.seed, progress=not args.quiet, force=args.force,
                threads=args.threads, formulation=args.formulation, time_budget=args.time_budget, **common, **overrides,
            )
        except RunPaused as paused:
            print(f"paused: {paused}")
            return 3
        print(f"already recorded: {rec['_path']}" if rec.get("_skipped") else f"record: {rec['_path']}")
        print(json.dumps({k: rec[k] for k in ("task", "method", "seed", "profile", "wall_seconds")} | {"test": rec["test"]["score"]}))
        return 0
    if args.status and not args.plan:
        raise ValueError("--status needs --plan FILE")
    if args.hours is not None and not args.plan:
        raise ValueError("--hours needs --plan FILE")
    if args.persistent and args.hours is None:
        raise ValueError("--persistent needs --hours H (without a deadline every run starts in plan order anyway)")
    if args.plan and args.status:
        from .plan_status import plan_status

        plan_status(args.plan, args.results_dir, args.data_dir)
        return 0
    if args.plan:
        from .plan import run_plan

        def log(line: str) -> None:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)

        run_plan(args.plan, args.workers, args.threads, args.tiers, log, hours=args.hours,
                 persistent=args.persistent, data_dir=args.data_dir, results_dir=args.results_dir, device=args.device)
        return 0
    if not (args.tasks and args.methods):
        raise ValueError("sweep needs --tasks and --methods (or --plan FILE)")
    specs = [
        RunSpec(t, m, s, overrides, args.formulation)
        for t, m, s in itertools.product(args.tasks, args.methods, args.seeds)
    ]
    for line in iter_sweep(specs, workers=args.workers, threads=args.threads, progress=not args.quiet, **common):
        print(line, flush=True)
    return 0
